#include "analysis/config_check.hpp"

#include "util/strings.hpp"

#include <algorithm>
#include <cctype>

namespace racehunt {

const char* to_string(ConfigCause c) {
    switch (c) {
    case ConfigCause::MissingModule:
        return "missing-module";
    case ConfigCause::InvariantError:
        return "invariant-error";
    case ConfigCause::UsageError:
        return "usage-error";
    case ConfigCause::PytestUsage:
        return "pytest-usage";
    case ConfigCause::PytestNoTests:
        return "pytest-no-tests";
    }
    return "?";
}

namespace {

// A line of stderr that starts (after blanks) with `word`, in any case: argparse writes
// "usage: prog ...", click "Usage: prog [OPTIONS]".
bool has_line_starting_with(std::string_view text, std::string_view word) {
    for (const auto& line : util::split(text, '\n')) {
        auto start = line.find_first_not_of(" \t");
        if (start == std::string::npos || line.size() - start < word.size())
            continue;
        bool same = true;
        for (std::size_t i = 0; i < word.size() && same; ++i)
            same = std::tolower(static_cast<unsigned char>(line[start + i])) ==
                   std::tolower(static_cast<unsigned char>(word[i]));
        if (same)
            return true;
    }
    return false;
}

} // namespace

std::optional<ConfigCause> config_cause(const RunFacts& run) {
    // Hangs and crashes are never the configuration's doing as far as racehunt can tell,
    // and `error` runs are racehunt's own.
    if (run.outcome != Outcome::Fail)
        return std::nullopt;
    const std::string& sig = run.signature;

    if (util::starts_with(sig, "fail:invariant-error:"))
        return ConfigCause::InvariantError;

    // "fail:ModuleNotFoundError@w.py:<module>": an uncaught exception, its type and the
    // innermost frame. A module that is not installed is never a race. A plain ImportError
    // counts only at a module's top level (import time): raised from inside a function it
    // may be the partially initialised module of a lazy import that two threads raced to.
    const auto at = sig.find('@');
    if (util::starts_with(sig, "fail:") && at != std::string::npos) {
        const std::string type = sig.substr(5, at - 5);
        const std::string frame = sig.substr(at + 1);
        if (type == "ModuleNotFoundError")
            return ConfigCause::MissingModule;
        if (type == "ImportError" && frame.size() >= 9 &&
            frame.compare(frame.size() - 9, 9, ":<module>") == 0)
            return ConfigCause::MissingModule;
    }

    if (!util::starts_with(sig, "fail:exit-code:"))
        return std::nullopt;
    // `python -m pkg.mod` of a module that cannot be found: runpy says so on stderr and
    // exits 1 before any of the workload's code ran, so no exception was recorded.
    if (run.kind == WorkloadKind::Module && run.exit_code == 1 &&
        (run.stderr_text.find(": No module named ") != std::string_view::npos ||
         run.stderr_text.find("Error while finding module specification for ") !=
             std::string_view::npos))
        return ConfigCause::MissingModule;
    if (run.kind == WorkloadKind::Pytest) {
        // pytest's documented exit statuses: 4 usage error (a node that is not found is
        // one), 5 no tests collected.
        if (run.exit_code == 4)
            return ConfigCause::PytestUsage;
        if (run.exit_code == 5)
            return ConfigCause::PytestNoTests;
    }
    // Status 2 is what argparse, click and the interpreter itself ("can't open file") exit
    // with on a bad command line; a workload may use 2 for its own failures, so the usage
    // text must be there too.
    if (run.exit_code == 2 && (has_line_starting_with(run.stderr_text, "usage:") ||
                               run.stderr_text.find("can't open file") != std::string_view::npos))
        return ConfigCause::UsageError;
    return std::nullopt;
}

bool ConfigCheck::add(const std::string& signature, std::optional<ConfigCause> cause) {
    if (!open_)
        return false;
    ++seen_;
    if (!cause || (seen_ > 1 && (signature != signature_ || cause != cause_))) {
        open_ = false;
        return false;
    }
    signature_ = signature;
    cause_ = cause;
    if (seen_ < needed_)
        return false;
    open_ = false;
    return true;
}

std::uint64_t config_check_runs(std::uint64_t planned) {
    return std::min<std::uint64_t>(planned, 3);
}

} // namespace racehunt
