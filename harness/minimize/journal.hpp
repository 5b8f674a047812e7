// minimize.jsonl: what a minimization wrote down as it went, and what --resume reads back.
// The first line names the seed, the failure, the failing run, how many perturbations it
// held and K/N; then one line per candidate tested, with its verdict. The shrinking is
// deterministic given the verdicts, so a resumed session walks the same path again,
// instantly, up to where the earlier one stopped.
#pragma once
#include "util/file.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace racehunt {

// The journal of the minimization whose output directory is `out_dir`.
std::filesystem::path journal_path(const std::filesystem::path& out_dir);

struct EarlierSession {
    std::string signature;
    std::filesystem::path failing_run;
    std::uint64_t items = 0;                 // perturbations of the failing run (0: not written)
    std::map<std::string, bool> verdicts;    // reproduces, by candidate_key
};

// Reads the journal in `out_dir` of an earlier session of `seed` judged at k of n. A last
// line cut short by a kill is cut off the file, so that appending goes on after the last
// whole line. Throws util::Error (Usage) when the session was of another seed or K/N, or
// when there is none to resume.
EarlierSession read_journal(const std::filesystem::path& out_dir, std::uint64_t seed, int k, int n);

// One candidate's verdict as written down.
struct CandidateVerdict {
    std::string step; // the phase of the search: "no perturbation", "layers", ...
    std::size_t size = 0;
    int runs = 0, matched = 0;
    bool reproduces = false;
    std::vector<std::string> other_failures;
    std::string candidate; // candidate_key
};

class Journal {
public:
    // A new journal (`append` false) or the earlier session's, continued.
    void open(const std::filesystem::path& out_dir, bool append);
    void start(std::uint64_t seed, const std::string& signature, const std::filesystem::path& failing_run,
               std::size_t items, int k, int n);
    void verdict(const CandidateVerdict& v);

private:
    util::AppendFile file_;
};

} // namespace racehunt
