#include "run/forensics.hpp"
#include "protocol.h"

#include "run/probe.hpp"
#include "util/file.hpp"

#include <nlohmann/json.hpp>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>

#include <sys/syscall.h>
#include <unistd.h>

namespace racehunt {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\0'))
        s.pop_back();
    return s;
}

} // namespace

int dump_signal() {
    return SIGRTMIN + 7;
}

void snapshot_processes(const fs::path& run_dir, const std::vector<int>& pids) {
    json procs = json::array();
    for (int pid : pids) {
        const fs::path base = fs::path("/proc") / std::to_string(pid);
        json p;
        p["pid"] = pid;
        std::string stat = util::read_file(base / "stat");
        auto close = stat.rfind(')');
        if (close != std::string::npos) {
            std::istringstream rest(stat.substr(close + 2));
            std::string state;
            int ppid = 0;
            rest >> state >> ppid;
            p["ppid"] = ppid;
        }
        p["comm"] = trim(util::read_file(base / "comm"));
        json argv = json::array();
        std::string cmd = util::read_file(base / "cmdline");
        std::size_t start = 0;
        while (start < cmd.size()) {
            auto end = cmd.find('\0', start);
            if (end == std::string::npos)
                end = cmd.size();
            argv.push_back(cmd.substr(start, end - start));
            start = end + 1;
        }
        p["cmdline"] = argv;
        json tasks = json::array();
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(base / "task", ec)) {
            long tid = std::strtol(e.path().filename().c_str(), nullptr, 10);
            tasks.push_back({{"tid", tid}, {"comm", trim(util::read_file(e.path() / "comm"))}});
        }
        p["tasks"] = tasks;
        procs.push_back(p);
    }
    std::ofstream(run_dir / RACEHUNT_FILE_PROCESSES) << json{{"processes", procs}}.dump(2) << "\n";
}


// On a hang, before anything is killed: every Python process of the run that loaded the
// bootstrap has faulthandler registered on the dump signal; ask each for all its threads'
// stacks and wait until the dump files stop growing (at most half a second).
// --native-stacks: gdb attached to every member at once (each attach stops its process for a
// few hundred milliseconds), `thread apply all bt`, into native-<pid>.txt.
void native_stacks(const fs::path& gdb, const fs::path& run_dir, const std::vector<pid_t>& members) {
    std::vector<std::thread> workers;
    for (pid_t pid : members) {
        auto one = [&gdb, &run_dir, pid] {
            auto r = run_probe({gdb.string(), "-p", std::to_string(pid), "-batch", "-nx", "-q",
                                "-ex", "set pagination off", "-ex", "thread apply all bt 40"},
                               std::chrono::seconds(20));
            std::ofstream(run_dir / (RACEHUNT_FILE_NATIVE_PREFIX + std::to_string(pid) + RACEHUNT_FILE_NATIVE_SUFFIX))
                << (r ? r->output : std::string("gdb could not be started\n"));
        };
        try {
            workers.emplace_back(one);
        } catch (const std::system_error&) {
            one(); // no thread to spare (the hung workload may hold the process limit)
        }
    }
    for (auto& w : workers)
        w.join();
}

void request_stack_dumps(const fs::path& run_dir, const std::vector<pid_t>& members,
                         const std::function<bool(pid_t)>& registered) {
    std::vector<fs::path> files;
    std::vector<pid_t> signalled;
    for (pid_t pid : members) {
        if (!registered(pid))
            continue;
        // To the main thread: faulthandler dumps every thread from whichever thread gets
        // the signal, but the Python half runs only in the main thread, and only if the
        // signal interrupts what it is blocked in (a lock acquire, a join, a sleep).
        if (::syscall(SYS_tgkill, pid, pid, dump_signal()) != 0)
            ::kill(pid, dump_signal());
        signalled.push_back(pid);
        files.push_back(run_dir / (RACEHUNT_FILE_FAULTHANDLER_PREFIX + std::to_string(pid) + RACEHUNT_FILE_FAULTHANDLER_SUFFIX));
    }
    if (files.empty())
        return;
    auto sizes = [&] {
        std::uintmax_t total = 0;
        for (const auto& f : files) {
            std::error_code ec;
            auto n = fs::file_size(f, ec);
            total += ec ? 0 : n;
        }
        return total;
    };
    std::uintmax_t last = 0;
    for (int i = 0; i < 25; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        std::uintmax_t now = sizes();
        if (now > 0 && now == last)
            break;
        last = now;
    }
    // The Python half (names, lock relations, the loop and yield logs, the counters so far)
    // comes once each main thread can run Python, and ends with dumped-<pid>. A process whose
    // GIL is held in native code never writes it, and its faulthandler stacks are used alone.
    // The deadline is for a loaded machine: at 0.6 s, 3 of 159 hung runs under load lost
    // their counters (the handler was still writing when the kill came).
    auto all_dumped = [&] {
        for (pid_t pid : signalled) {
            std::error_code ec;
            if (!fs::exists(run_dir / (RACEHUNT_FILE_DUMPED_PREFIX + std::to_string(pid) + RACEHUNT_FILE_DUMPED_SUFFIX), ec))
                return false;
        }
        return true;
    };
    for (int i = 0; i < 100 && !all_dumped(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

void capture_hang(const fs::path& run_dir, const std::vector<pid_t>& members,
                  const std::function<bool(pid_t)>& registered, const fs::path& gdb) {
    snapshot_processes(run_dir, std::vector<int>(members.begin(), members.end()));
    request_stack_dumps(run_dir, members, registered);
    if (!gdb.empty())
        native_stacks(gdb, run_dir, members);
}

} // namespace racehunt
