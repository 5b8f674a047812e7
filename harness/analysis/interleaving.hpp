// The schedule of a controlled run (control-<pid>.log, docs/PROTOCOL.md) as a table a person
// can read: one line per scheduling point with the thread, file:line and source text, and a
// marked line wherever the turn changed hands.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace racehunt {

struct RunDir; // analysis/run_dir.hpp

struct ControlStep {
    std::uint64_t step = 0;
    std::uint32_t thread = 0;
    std::string where;         // file:line, or empty for a lock/thread/sleep point
    std::string kind;          // "line", "acquire L1", "release L1", "start NAME", "wait ...", ...
    std::uint32_t lockset = 0; // index into ControlLog::locksets: the locks the thread held
};

// What a line of source reads or writes that other threads may share (the bootstrap's
// syntax-based table, `# access` lines of the log).
struct Access {
    char rw = 'r';    // 'r' or 'w'
    std::string key;  // ".balance" for an attribute, a global's name, ...
    std::string text; // as written: "self.balance"
};

// Two accesses of different threads to the same data, one right after the other, at least
// one a write, neither ordered by thread start/join nor protected by a common lock: their
// order decides the outcome. When the later thread had itself accessed the data just before
// the other thread's access, in a pattern no serial order explains (read-write-read,
// read-write-write, write-write-read, write-read-write: a lost update, a stale check), the
// conflict is an interleaving and `local` is that earlier access.
struct Conflict {
    std::size_t first = 0;  // index into ControlLog::steps
    std::size_t second = 0; // later index
    std::string key;
    Access a, b;
    std::optional<std::size_t> local; // the second thread's earlier access (interleaving)
    Access l;
};

struct ControlLog {
    int pid = 0;
    bool traced = false;              // trace-<pid>.log of a noise-mode run, not a controlled one
    std::string header;               // strategy, steps, switches, lost
    std::vector<std::string> threads; // names by index
    std::vector<ControlStep> steps;
    std::vector<std::vector<std::string>> locksets{{}}; // 0: no lock held
    std::map<std::string, std::vector<Access>> accesses; // by file:line
    // "joined NAME" notes: before steps[first], thread `second` had joined thread NAME.
    std::vector<std::pair<std::size_t, std::pair<std::uint32_t, std::string>>> joins;
};

// The conflicting accesses of a schedule: how many, and the last `keep` interleavings and
// the last `keep` other conflicts, in order of their second access (memory stays bounded
// however long the schedule). Schedules of more than 256 threads are not analysed
// (`skipped`): the vector clocks would take threads² memory.
struct ConflictScan {
    std::uint64_t total = 0, interleavings = 0;
    std::vector<Conflict> conflicts;
    bool skipped = false;
};
ConflictScan find_conflicts(const ControlLog& log, std::size_t keep = 1000);

// Reads one control-<pid>.log, or a trace-<pid>.log (the same format, written by a replay of
// pins in noise mode); nullopt when it is missing or neither.
std::optional<ControlLog> read_control_log(const std::filesystem::path& file);

// interleaving.txt for a run directory read with read_failure_files (every
// control-<pid>.log or trace-<pid>.log in it);
// empty when the run was neither controlled nor traced. The steps around each switch are shown, long stretches of one thread
// folded; at most `tail` shown steps per process, the last ones.
std::string render_interleaving(const RunDir& run, const std::string& title,
                                std::size_t tail = 400);

// The same steps as a self-contained HTML page: one lane (column) per thread, switches
// marked, no external resources.
std::string render_interleaving_html(const RunDir& run, const std::string& title,
                                     std::size_t tail = 400);

} // namespace racehunt
