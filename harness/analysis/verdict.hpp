// Deciding what happened in a run: from the process's fate, the injectees' reports and, for
// a failure, the merged dump, to an outcome, a signature that buckets like failures
// together, and reasons a human reads. Every rule of the verdict is here.
#pragma once
#include "analysis/dump.hpp"
#include "analysis/outcome.hpp"
#include "run/process_runner.hpp"
#include "scenario/scenario.hpp"

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace racehunt {

struct Verdict {
    Outcome outcome = Outcome::Pass;
    std::string signature;            // empty for pass
    std::vector<std::string> reasons; // one line each, most important first
    std::vector<std::string> warnings;
    bool injected = true; // false: a Python process of the run never loaded the bootstrap
    // The merged dump of a fail, hang or crash, when VerdictInputs::dump built it.
    std::optional<MergedDump> dump;
    std::string dump_error; // what VerdictInputs::dump threw instead
};

struct VerdictInputs {
    const RunResult& run;
    const std::vector<PyProcessReport>& reports;
    const CheckSpec& check;
    // racehunt started the interpreter itself (script, module, pytest), so a missing report
    // from the root means the bootstrap was not loaded.
    bool root_is_python = true;
    // The run directory, and whether its file system is full: asked only of a Python run
    // that started, did not time out and left no report. Unset: never full.
    std::filesystem::path run_dir;
    std::function<bool()> run_dir_full;
    // Builds the merged dump of the run for the outcome decided: asked once, for a fail, a
    // hang or a crash. It names the hang's or crash's place in the signature and a deadlock
    // in the reasons. It may throw (the files come from killed processes): the verdict
    // stands without it. Unset: no dump.
    std::function<MergedDump(Outcome)> dump;
};

Verdict judge(const VerdictInputs& in);

// The verdict from the run and its reports alone (no file system check, no dump).
Verdict classify(const RunResult& run, const std::vector<PyProcessReport>& reports,
                 const CheckSpec& check, bool root_is_python);

} // namespace racehunt
