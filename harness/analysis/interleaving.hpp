// The schedule of a controlled run (control-<pid>.log, docs/PROTOCOL.md) as a table a person
// can read: one line per scheduling point with the thread, file:line and source text, and a
// marked line wherever the turn changed hands.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace racehunt {

struct ControlStep {
    std::uint64_t step = 0;
    std::uint32_t thread = 0;
    std::string where; // file:line, or empty for a lock/thread/sleep point
    std::string kind;  // "line", "acquire", "release", "start NAME", "wait ...", "done", ...
};

struct ControlLog {
    int pid = 0;
    std::string header;               // strategy, steps, switches, lost
    std::vector<std::string> threads; // names by index
    std::vector<ControlStep> steps;
};

// Reads one control-<pid>.log; nullopt when it is missing or not a control log.
std::optional<ControlLog> read_control_log(const std::filesystem::path& file);

// interleaving.txt for a run directory (every control-<pid>.log in it); empty when the run
// was not controlled. The steps around each switch are shown, long stretches of one thread
// folded; at most `tail` shown steps per process, the last ones.
std::string render_interleaving(const std::filesystem::path& run_dir, const std::string& title,
                                std::size_t tail = 400);

// The same steps as a self-contained HTML page: one lane (column) per thread, switches
// marked, no external resources.
std::string render_interleaving_html(const std::filesystem::path& run_dir, const std::string& title,
                                     std::size_t tail = 400);

} // namespace racehunt
