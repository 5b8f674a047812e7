// Pins: a chosen subset of one run's perturbations, to be applied again and nothing else.
//
// A run's perturbations are identified the way the injectors number them (docs/PROTOCOL.md):
// a shim decision by (process key, thread index, decision number), a Python yield by
// (process key, thread index, visit number), and the switch interval by its value. With
// pins, the injectors still draw every decision of the run's seed, so the numbers mean the
// same thing as in the run the pins came from, but perturb only where pinned. That is how
// `racehunt minimize` tries subsets, and how `racehunt replay --pins FILE` replays one.
//
// The text form (`.pins` files) is line based; `#` starts a comment:
//     switch-interval 2e-06
//     shim  <process key, 16 hex> <thread> <decision>   # mutex delay 120 us, process 4242
//     yield <process key, 16 hex> <thread> <visit>      # "Worker-2" at bank.py:14
//     loop  <process key, 16 hex> <loop> <iteration> shuffle <task>,<task>,...
//     loop  <process key, 16 hex> <loop> <iteration> defer <task> <iterations>
// An asyncio loop decision is named by its loop's number and iteration in the process, and
// applied to the ready tasks of those names (task names percent-escape %, comma, # and
// whitespace, as loop-<pid>.log writes them).
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace racehunt {

struct ShimPin {
    std::uint64_t key = 0;
    std::uint32_t thread = 0, n = 0;
    // What the decision did in the run it came from (for people; not needed to apply it).
    std::string point, action;
    std::uint32_t ns = 0;
    int pid = 0;
    std::string thread_name; // the Python thread, when known
    std::string site;        // the call site, when known ("PyThread_acquire_lock_timed+0x5c (python3.11)")
};

struct YieldPin {
    std::uint64_t key = 0;
    std::uint32_t thread = 0;
    std::uint64_t visit = 0;
    std::string where, thread_name; // file:line and the thread's name, for people
    int pid = 0;
};

struct LoopPin {
    std::uint64_t key = 0;
    std::uint32_t loop = 0;
    std::uint64_t iteration = 0;
    bool shuffle = false;           // else a deferral
    std::vector<std::string> tasks; // shuffle: the new order; defer: the task (escaped names)
    std::uint32_t iterations = 1;   // defer: by how many iterations
    int pid = 0;
};

struct Pins {
    std::optional<double> switch_interval; // nullopt: the interpreter's own
    std::vector<ShimPin> shim;
    std::vector<YieldPin> yields;
    std::vector<LoopPin> loop;

    std::size_t size() const {
        return (switch_interval ? 1 : 0) + shim.size() + yields.size() + loop.size();
    }
};

// "Task-3" from "Task%203"-style escapes of loop-<pid>.log and .pins files.
std::string unescape_task_name(const std::string& name);

// One line a reader understands: "yield in thread "Worker-2" at bank.py:14 on its 3rd visit".
std::string describe(const ShimPin& p);
std::string describe(const YieldPin& p);
std::string describe(const LoopPin& p);
std::string describe_switch_interval(double seconds);

// The text form, with `comment` lines on top.
std::string pins_to_text(const Pins& pins, const std::string& comment);

// Parses the text form; errors throw util::Error naming `name:line:col`.
Pins parse_pins(const std::string& text, const std::string& name);
Pins read_pins_file(const std::filesystem::path& file);

// shim-pins.bin for the shim's `pins=1` (sorted, duplicates dropped).
void write_shim_pins(const std::filesystem::path& file, const Pins& pins);

} // namespace racehunt
