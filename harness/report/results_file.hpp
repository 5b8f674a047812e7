// Reading results.jsonl back: for `--resume` and `racehunt merge`. A line is one run record
// (README.md, "Command line": results); the last line of a file may be cut short when
// racehunt was killed while appending it, which is reported and skipped, never taken for a
// result.
#pragma once
#include "analysis/record.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

namespace racehunt {

struct ResultsFileInfo {
    std::uint64_t lines = 0;       // complete, valid records
    bool truncated_tail = false;   // the last line was cut short (no newline, or not JSON)
    std::uint64_t valid_bytes = 0; // length of the file up to the end of the last good line
};

// Calls `each` for every record of `file`, in file order. A line in the middle that is not
// a record is an error naming file:line (util::Error, Usage).
ResultsFileInfo read_results(
    const std::filesystem::path& file,
    const std::function<void(RunRecord&&, const std::string& line, std::uint64_t number)>& each);

} // namespace racehunt
