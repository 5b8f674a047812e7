// Checks made once per campaign, before any run, with the interpreter the runs use: what
// would otherwise fail every run the same way and be reported as a race. Each throws
// util::Error (Usage) naming the scenario's place of the mistake.
#pragma once
#include "scenario/scenario.hpp"

#include <filesystem>
#include <optional>
#include <string>

namespace racehunt {

// Compiles every check.invariants element as the bootstrap does (an "eval" expression) with
// `python` (syntax differs between Python versions). A syntax error names the element's
// file:line:col and Python's message. Nothing to do without invariants.
void check_invariants(const std::filesystem::path& python, const std::string& version,
                      const Scenario& s);

// What the compile probe printed (one JSON line: null, or [index, type, message, column]),
// as the error to report; nullopt when every invariant compiled (or the probe said nothing
// usable: the runs will tell).
std::optional<std::string> invariant_error_message(const std::string& probe_output,
                                                   const Scenario& s, std::string& where,
                                                   std::string& hint);

// workload.pytest: `python -m pytest --collect-only` of the node (and workload.args) in the
// workload's directory with the scenario's environment. A node pytest cannot collect (not
// found, an import error, no test selected) is an error naming workload.pytest, with
// pytest's own last lines. A collection that does not finish in time is let through.
void collect_pytest_node(const std::filesystem::path& python, const Scenario& s);

} // namespace racehunt
