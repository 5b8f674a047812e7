#include "analysis/dump.hpp"
#include "analysis/run_dir.hpp"

#include "util/file.hpp"
#include "util/strings.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

namespace racehunt {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\0'))
        s.pop_back();
    return s;
}

std::string hex_ident(std::uint64_t ident) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%016" PRIx64, ident);
    return buf;
}

std::vector<DumpFrame> frames_from(const json& arr) {
    std::vector<DumpFrame> out;
    if (!arr.is_array())
        return out;
    for (const auto& f : arr) {
        if (!f.is_array() || f.size() < 3)
            continue; // a file cut short by a kill
        DumpFrame d;
        d.file = f[0].is_string() ? f[0].get<std::string>() : "";
        d.line = f[1].is_number_integer() ? f[1].get<int>() : 0;
        d.function = f[2].is_string() ? f[2].get<std::string>() : "";
        d.library = is_library_file(d.file);
        out.push_back(std::move(d));
    }
    return out;
}

std::string describe_lock(const json& l) {
    if (!l.is_object())
        return "";
    if (json_string(l, "type") == "join")
        return json_string(l, "expr");
    std::string type = json_string(l, "type");
    if (type.rfind("_thread.", 0) == 0 || type.rfind("threading.", 0) == 0)
        type = type.substr(type.find('.') + 1);
    return json_string(l, "expr") + " (" + type + " at " + json_string(l, "id") + ")";
}

// The OS side of one process, from processes.json.
struct ProcInfo {
    int pid = 0, ppid = 0;
    std::string comm, command;
    std::map<long, std::string> task_comm;
};

std::map<int, ProcInfo> read_processes(const json& j) {
    std::map<int, ProcInfo> out;
    if (!j.is_object() || !j.contains("processes") || !j["processes"].is_array())
        return out;
    for (const auto& p : j["processes"]) {
        ProcInfo info;
        info.pid = p.value("pid", 0);
        info.ppid = p.value("ppid", 0);
        info.comm = json_string(p, "comm");
        if (auto it = p.find("cmdline"); it != p.end() && it->is_array()) {
            for (const auto& a : *it) {
                if (!info.command.empty())
                    info.command += ' ';
                info.command += a.is_string() ? a.get<std::string>() : "";
            }
        }
        if (auto it = p.find("tasks"); it != p.end() && it->is_array())
            for (const auto& t : *it)
                info.task_comm[t.value("tid", 0L)] = json_string(t, "comm");
        if (info.pid)
            out[info.pid] = std::move(info);
    }
    return out;
}

// threads-<pid>.jsonl (replayed): ident -> {name, native_id, daemon}
std::map<std::uint64_t, json> read_name_map(const json& j) {
    std::map<std::uint64_t, json> out;
    if (j.is_array())
        for (const auto& t : j)
            if (t.is_object() && t.contains("ident") && t["ident"].is_number_unsigned())
                out[t["ident"].get<std::uint64_t>()] = t;
    return out;
}

DumpThread thread_from_json(const json& t) {
    DumpThread d;
    if (!t.is_object())
        return d;
    d.name = json_string(t, "name");
    d.ident = t.value("ident", std::uint64_t{0});
    if (auto it = t.find("native_id"); it != t.end() && it->is_number_integer())
        d.tid = it->get<long>();
    if (auto it = t.find("daemon"); it != t.end() && it->is_boolean())
        d.daemon = it->get<bool>();
    d.main = t.value("main", false);
    d.frames = frames_from(t.value("frames", json::array()));
    d.waits_for = describe_lock(t.value("waits_for", json()));
    // A join names the thread it waits for already; "held by" is for locks.
    if (auto it = t.find("waits_for"); it != t.end() && it->is_object() && json_string(*it, "type") != "join")
        d.held_by = json_string(*it, "held_by");
    if (auto it = t.find("holds"); it != t.end() && it->is_array())
        for (const auto& h : *it)
            d.holds.push_back(describe_lock(h));
    return d;
}

std::vector<DumpLoop> loops_from(const json& arr, const std::vector<DumpThread>& threads) {
    std::vector<DumpLoop> out;
    if (!arr.is_array())
        return out;
    for (const auto& l : arr) {
        if (!l.is_object())
            continue;
        DumpLoop loop;
        if (auto it = l.find("thread"); it != l.end() && it->is_number_unsigned())
            loop.thread = it->get<std::uint64_t>();
        for (const auto& t : threads)
            if (t.ident == loop.thread)
                loop.thread_name = t.name;
        loop.when = json_string(l, "reason");
        for (const auto& t : l.value("tasks", json::array())) {
            DumpThread task = thread_from_json(t);
            if (auto w = t.find("waits_for"); w != t.end() && w->is_object()) {
                // Tasks wait for a task, a future (named by the call it is suspended in)
                // or an asyncio lock; only a lock has an address worth printing.
                const std::string type = json_string(*w, "type");
                if (type == "task" || type == "future" || type == "ready")
                    task.waits_for = json_string(*w, "expr");
                task.held_by = type == "task" ? std::string() : json_string(*w, "held_by");
            }
            if (task.name.empty())
                task.name = "?";
            loop.tasks.push_back(std::move(task));
        }
        if (auto c = l.find("cycle"); c != l.end() && c->is_array() && c->size() > 1) {
            for (const auto& n : *c)
                if (n.is_string())
                    loop.cycle.push_back(n.get<std::string>());
            if (!loop.cycle.empty())
                loop.cycle.push_back(loop.cycle.front());
        }
        for (const auto& u : l.value("unretrieved", json::array())) {
            DumpThread task = thread_from_json(u);
            task.waits_for = json_string(u, "type") + ": " + json_string(u, "message");
            loop.unretrieved.push_back(std::move(task));
        }
        out.push_back(std::move(loop));
    }
    return out;
}

// Names, tids and daemon flags for threads known only by ident (faulthandler).
void label(DumpThread& t, const std::map<std::uint64_t, json>& names, const ProcInfo* proc,
           std::uint64_t main_ident) {
    if (auto it = names.find(t.ident); it != names.end()) {
        if (t.name.empty())
            t.name = json_string(it->second, "name");
        if (!t.tid)
            if (auto n = it->second.find("native_id"); n != it->second.end() && n->is_number_integer())
                t.tid = n->get<long>();
        if (!t.daemon)
            if (auto dm = it->second.find("daemon"); dm != it->second.end() && dm->is_boolean())
                t.daemon = dm->get<bool>();
    }
    if (main_ident && t.ident == main_ident)
        t.main = true;
    if (proc && t.tid) {
        auto it = proc->task_comm.find(*t.tid);
        if (it != proc->task_comm.end() && it->second != proc->comm && !it->second.empty())
            t.os_name = it->second;
    }
    if (t.name.empty())
        t.name = !t.os_name.empty() ? t.os_name : "Thread " + hex_ident(t.ident);
}

std::string innermost_workload(const DumpThread& t) {
    for (auto it = t.frames.rbegin(); it != t.frames.rend(); ++it)
        if (!it->library)
            return util::base_name(it->file) + ":" + it->function;
    return "";
}

} // namespace

bool is_library_file(const std::string& file) {
    if (file.empty() || file[0] == '<')
        return true;
    for (const char* mark : {"/site-packages/", "/dist-packages/", "/_racehunt_", "/_racehunt/"})
        if (file.find(mark) != std::string::npos)
            return true;
    // The standard library: .../lib/python3.11/x.py, .../lib/python3.8/...
    static const std::regex stdlib(R"(/lib/python3\.[0-9]+t?/)");
    return std::regex_search(file, stdlib);
}

FaultDump parse_faulthandler(const std::string& text) {
    FaultDump out;
    static const std::regex header(R"(^(Current thread|Thread) (0x[0-9a-fA-F]+)( \[[^\]]*\])? \(most recent call first\):)");
    static const std::regex frame(R"re(^  File "(.*)", line (\d+|\?\?\?) in (.*)$)re");
    std::istringstream in(text);
    std::string line;
    FaultThread* cur = nullptr;
    std::set<std::uint64_t> seen;
    auto finish = [&] {
        if (cur)
            std::reverse(cur->frames.begin(), cur->frames.end());
        cur = nullptr;
    };
    while (std::getline(in, line)) {
        std::smatch m;
        if (line.rfind("Fatal Python error: ", 0) == 0) {
            finish();
            out = FaultDump{};
            seen.clear();
            out.fatal_error = line.substr(20);
        } else if (std::regex_search(line, m, header)) {
            finish();
            std::uint64_t ident = 0;
            try {
                ident = std::stoull(m[2].str(), nullptr, 16);
            } catch (const std::exception&) {
                continue;
            }
            if (seen.count(ident)) { // a later dump: keep only the last one
                out = FaultDump{};
                seen.clear();
            }
            seen.insert(ident);
            out.threads.push_back({ident, m[1].str() == "Current thread", false, {}});
            cur = &out.threads.back();
        } else if (cur && std::regex_match(line, m, frame)) {
            DumpFrame f{m[1].str(), std::atoi(m[2].str().c_str()), trim(m[3].str()), false};
            f.library = is_library_file(f.file);
            cur->frames.push_back(std::move(f));
        } else if (cur && line.find("<no Python frame>") != std::string::npos) {
            cur->no_python_frame = true;
        } else if (line.empty()) {
            finish();
        }
    }
    finish();
    return out;
}

MergedDump build_dump(const RunDir& run, Outcome outcome, int root_pid) {
    static const json none;
    auto file_json = [](const std::map<int, json>& files, int pid) -> const json& {
        auto it = files.find(pid);
        return it == files.end() ? none : it->second;
    };
    MergedDump d;
    auto procs = read_processes(run.processes);
    std::set<int> covered;
    for (const auto& rep : run.reports) {
        DumpProcess p;
        p.pid = rep.pid;
        p.ppid = rep.ppid;
        p.role = rep.role;
        for (const auto& a : rep.argv)
            p.command += (p.command.empty() ? "" : " ") + a;
        const ProcInfo* info = nullptr;
        if (auto it = procs.find(rep.pid); it != procs.end()) {
            info = &it->second;
            if (!info->command.empty())
                p.command = info->command;
        }
        if (!rep.command.empty()) {
            p.command.clear();
            for (const auto& a : rep.command)
                p.command += (p.command.empty() ? "" : " ") + a;
        }
        const json& map = file_json(run.thread_maps, rep.pid);
        auto names = read_name_map(map);
        std::uint64_t main_ident = 0;
        if (map.is_array() && !map.empty() && map[0].is_object())
            main_ident = map[0].value("ident", std::uint64_t{0}); // the main thread is first
        const json& py = file_json(run.pystacks, rep.pid);
        FaultDump fault = parse_faulthandler(RunDir::text_of(run.faulthandler, rep.pid));
        const bool fatal = !fault.fatal_error.empty();

        std::set<std::uint64_t> have;
        if (outcome == Outcome::Fail && rep.failure_snapshot.is_object()) {
            p.source = json_string(rep.failure_snapshot, "event") == "invariant"
                           ? "stacks when the invariant was found broken"
                           : "stacks at the moment of the failure";
            std::uint64_t failing = rep.failure_snapshot.value("ident", std::uint64_t{0});
            for (const auto& t : rep.failure_snapshot["threads"]) {
                DumpThread th = thread_from_json(t);
                th.failed = failing != 0 && th.ident == failing;
                have.insert(th.ident);
                p.threads.push_back(std::move(th));
            }
        } else if (py.is_object() && py.contains("threads") && !fatal) {
            p.source = "stacks from the dump signal, with lock analysis";
            for (const auto& t : py["threads"]) {
                DumpThread th = thread_from_json(t);
                have.insert(th.ident);
                p.threads.push_back(std::move(th));
            }
            std::map<std::uint64_t, std::string> by_ident;
            for (const auto& t : p.threads)
                by_ident[t.ident] = t.name;
            if (py.contains("cycle") && py["cycle"].is_array() && py["cycle"].size() > 1) {
                for (const auto& id : py["cycle"])
                    if (id.is_number_unsigned())
                        p.cycle.push_back(by_ident[id.get<std::uint64_t>()]);
                if (!p.cycle.empty())
                    p.cycle.push_back(p.cycle.front());
            }
        }
        if (!fault.threads.empty()) {
            if (p.source.empty())
                p.source = fatal ? "faulthandler: Fatal Python error: " + fault.fatal_error
                                 : "faulthandler, on the dump signal";
            for (const auto& ft : fault.threads) {
                if (have.count(ft.ident))
                    continue; // the richer source already has it
                DumpThread th;
                th.ident = ft.ident;
                th.frames = ft.frames;
                th.no_python_frame = ft.no_python_frame;
                th.failed = fatal && ft.current;
                p.threads.push_back(std::move(th));
            }
        }
        for (auto& th : p.threads)
            label(th, names, info, main_ident);
        if (outcome == Outcome::Fail && rep.failure_snapshot.is_object() &&
            rep.failure_snapshot.contains("loops"))
            p.loops = loops_from(rep.failure_snapshot["loops"], p.threads);
        else if (py.is_object() && py.contains("loops") && !fatal)
            p.loops = loops_from(py["loops"], p.threads);
        p.native = RunDir::text_of(run.native, rep.pid);
        if (p.threads.empty() && p.source.empty())
            p.source = "no stacks: the process left neither a failure report nor a dump";
        covered.insert(rep.pid);
        d.processes.push_back(std::move(p));
    }
    // Members of the tree that never ran the bootstrap (shells, native helpers).
    for (const auto& [pid, info] : procs) {
        if (covered.count(pid))
            continue;
        DumpProcess p;
        p.pid = pid;
        p.ppid = info.ppid;
        p.command = info.command.empty() ? info.comm : info.command;
        p.source = "not a Python process with racehunt's bootstrap: OS thread names only";
        p.native = RunDir::text_of(run.native, pid);
        for (const auto& [tid, comm] : info.task_comm) {
            DumpThread th;
            th.tid = tid;
            th.name = comm;
            th.no_python_frame = true;
            p.threads.push_back(std::move(th));
        }
        d.processes.push_back(std::move(p));
    }
    std::stable_sort(d.processes.begin(), d.processes.end(), [&](const DumpProcess& a, const DumpProcess& b) {
        if ((a.pid == root_pid) != (b.pid == root_pid))
            return a.pid == root_pid;
        return a.pid < b.pid;
    });
    for (auto& p : d.processes)
        std::stable_sort(p.threads.begin(), p.threads.end(), [](const DumpThread& a, const DumpThread& b) {
            if (a.failed != b.failed)
                return a.failed;
            if (a.main != b.main)
                return a.main;
            return a.name < b.name;
        });

    // The frame that names the failure, for the signature.
    for (const auto& p : d.processes) {
        if (!p.cycle.empty()) {
            d.deadlock = true;
            for (const auto& t : p.threads)
                if (t.name == p.cycle.front())
                    d.top_frame = innermost_workload(t);
            break;
        }
        for (const auto& loop : p.loops) {
            if (loop.cycle.empty())
                continue;
            d.deadlock = true;
            for (const auto& t : loop.tasks)
                if (t.name == loop.cycle.front())
                    d.top_frame = innermost_workload(t);
            break;
        }
        if (d.deadlock)
            break;
    }
    // A hung asyncio program: its main thread sits in the loop's select(); the task at the
    // end of the first task's chain of waits (asyncio.run's coroutine awaits a worker,
    // which waits on a queue) names the hang.
    if (d.top_frame.empty() && outcome == Outcome::Hang && !d.processes.empty())
        for (const auto& loop : d.processes.front().loops) {
            if (loop.tasks.empty() || !loop.when.empty())
                continue;
            const DumpThread* t = &loop.tasks.front();
            std::set<std::string> seen;
            while (seen.insert(t->name).second) {
                std::string next = t->held_by;
                for (const char* lead : {"task \"", "tasks \""})
                    if (next.empty() && util::starts_with(t->waits_for, lead)) {
                        const std::size_t from = std::string(lead).size();
                        next = t->waits_for.substr(from, t->waits_for.find('"', from) - from);
                    }
                const DumpThread* n = nullptr;
                for (const auto& x : loop.tasks)
                    if (!next.empty() && x.name == next)
                        n = &x;
                if (!n)
                    break;
                t = n;
            }
            d.top_frame = innermost_workload(*t);
            break;
        }
    if (d.top_frame.empty())
        for (const auto& p : d.processes)
            for (const auto& t : p.threads)
                if (t.failed && d.top_frame.empty())
                    d.top_frame = innermost_workload(t);
    if (d.top_frame.empty() && outcome == Outcome::Hang && !d.processes.empty())
        for (const auto& t : d.processes.front().threads)
            if (t.main)
                d.top_frame = innermost_workload(t);
    return d;
}

namespace {

std::string thread_heading(const DumpThread& t) {
    std::string s = "thread \"" + t.name + "\"";
    if (!t.os_name.empty() && t.os_name != t.name)
        s += " (OS name \"" + t.os_name + "\")";
    if (t.tid)
        s += "  tid " + std::to_string(*t.tid);
    if (t.ident)
        s += "  ident " + hex_ident(t.ident);
    if (t.daemon)
        s += *t.daemon ? "  daemon" : "  non-daemon";
    if (t.main)
        s += "  main";
    if (t.failed)
        s += "  <-- FAILED";
    return s;
}

std::string frame_line(const DumpFrame& f) {
    return std::string(f.library ? "    · " : "      ") + "File \"" + f.file + "\", line " +
           std::to_string(f.line) + ", in " + f.function;
}

std::string cycle_text(const std::vector<std::string>& cycle, const std::vector<DumpThread>& threads,
                       const char* kind = "") {
    std::string s;
    for (std::size_t i = 0; i + 1 < cycle.size(); ++i) {
        const DumpThread* t = nullptr;
        for (const auto& x : threads)
            if (x.name == cycle[i])
                t = &x;
        if (i)
            s += "; ";
        s += std::string(kind) + "\"" + cycle[i] + "\" waits for " + (t ? t->waits_for : std::string("?")) +
             " held by " + kind + "\"" + cycle[i + 1] + "\"";
    }
    return s;
}

std::string cycle_text(const DumpProcess& p) { return cycle_text(p.cycle, p.threads); }

void render_task(std::ostringstream& o, const DumpThread& t, const std::string& indent) {
    o << indent << "task \"" << t.name << "\"\n";
    if (!t.waits_for.empty())
        o << indent << "  waits for " << t.waits_for
          << (t.held_by.empty() ? std::string() : ", held by task \"" + t.held_by + "\"") << "\n";
    for (const auto& h : t.holds)
        o << indent << "  holds " << h << "\n";
    for (const auto& f : t.frames)
        o << indent.substr(2) << frame_line(f) << "\n";
    if (t.frames.empty())
        o << indent << "    <no coroutine frame>\n";
}

} // namespace

std::string render_dump(const MergedDump& d, const std::string& title) {
    std::ostringstream o;
    o << "racehunt merged dump: " << title << "\n";
    o << "Stacks innermost last; \"·\" marks stdlib, site-packages and racehunt frames.\n";
    for (const auto& p : d.processes) {
        if (!p.cycle.empty())
            o << "\nDEADLOCK in process " << p.pid << ": " << cycle_text(p) << "\n";
        for (const auto& l : p.loops)
            if (!l.cycle.empty())
                o << "\nDEADLOCK between asyncio tasks in process " << p.pid << ": "
                  << cycle_text(l.cycle, l.tasks, "task ") << "\n";
    }
    for (const auto& p : d.processes) {
        o << "\nprocess " << p.pid;
        if (!p.role.empty())
            o << " (" << p.role << ")";
        if (p.ppid)
            o << "  parent " << p.ppid;
        o << "\n  command: " << (p.command.empty() ? "?" : p.command) << "\n";
        o << "  " << p.source << "\n";
        for (const auto& t : p.threads) {
            o << "\n  " << thread_heading(t) << "\n";
            if (!t.waits_for.empty())
                o << "    waits for " << t.waits_for
                  << (t.held_by.empty() ? std::string() : ", held by \"" + t.held_by + "\"") << "\n";
            for (const auto& h : t.holds)
                o << "    holds " << h << "\n";
            for (const auto& f : t.frames)
                o << frame_line(f) << "\n";
            if (t.frames.empty())
                o << (t.no_python_frame ? "      <no Python frame>\n" : "      <no stack>\n");
        }
        for (const auto& l : p.loops) {
            o << "\n  asyncio loop";
            if (!l.thread_name.empty())
                o << " in thread \"" << l.thread_name << "\"";
            o << ": " << l.tasks.size() << " pending task" << (l.tasks.size() == 1 ? "" : "s");
            if (!l.when.empty())
                o << " when " << l.when;
            o << " (coroutine stacks, innermost last)\n";
            for (const auto& t : l.tasks) {
                o << "\n";
                render_task(o, t, "    ");
            }
            for (const auto& t : l.unretrieved) {
                o << "\n    task \"" << t.name << "\" finished with an exception nobody retrieved: "
                  << t.waits_for << "\n";
                for (const auto& f : t.frames)
                    o << "  " << frame_line(f) << "\n";
            }
        }
        if (!p.native.empty()) {
            o << "\n  native stacks (gdb, --native-stacks):\n";
            std::istringstream in(p.native);
            std::string line;
            while (std::getline(in, line))
                if (!line.empty())
                    o << "    " << line << "\n";
        }
    }
    return o.str();
}

std::vector<std::string> dump_excerpt(const MergedDump& d, std::size_t max_lines) {
    std::vector<std::string> out;
    for (const auto& p : d.processes) {
        if (!p.cycle.empty())
            out.push_back("deadlock: " + cycle_text(p));
        for (const auto& l : p.loops)
            if (!l.cycle.empty())
                out.push_back("deadlock: " + cycle_text(l.cycle, l.tasks, "task "));
    }
    for (const auto& p : d.processes) {
        for (const auto& t : p.threads) {
            if (out.size() >= max_lines)
                return out;
            std::string who = (d.processes.size() > 1 ? "[" + std::to_string(p.pid) + "] " : "") +
                              "\"" + t.name + "\"";
            if (t.failed) {
                out.push_back(who + " (failed):");
                std::size_t n = std::min<std::size_t>(t.frames.size(), 6);
                for (std::size_t i = t.frames.size() - n; i < t.frames.size(); ++i)
                    out.push_back(frame_line(t.frames[i]));
            } else if (!t.frames.empty()) {
                const DumpFrame* f = &t.frames.back();
                for (auto it = t.frames.rbegin(); it != t.frames.rend(); ++it)
                    if (!it->library) {
                        f = &*it;
                        break;
                    }
                out.push_back(who + " at " + util::base_name(f->file) + ":" + std::to_string(f->line) +
                              " in " + f->function +
                              (t.waits_for.empty() ? "" : ", waiting for " + t.waits_for));
            }
        }
    }
    for (const auto& p : d.processes)
        for (const auto& l : p.loops)
            for (const auto& t : l.tasks) {
                if (out.size() >= max_lines)
                    break;
                std::string who = (d.processes.size() > 1 ? "[" + std::to_string(p.pid) + "] " : "") +
                                  "task \"" + t.name + "\"";
                const DumpFrame* f = nullptr;
                for (auto it = t.frames.rbegin(); it != t.frames.rend() && !f; ++it)
                    if (!it->library)
                        f = &*it;
                if (!f && !t.frames.empty())
                    f = &t.frames.back();
                out.push_back(who + (f ? " at " + util::base_name(f->file) + ":" + std::to_string(f->line) +
                                             " in " + f->function
                                       : std::string()) +
                              (t.waits_for.empty() ? "" : ", waiting for " + t.waits_for));
            }
    if (out.size() > max_lines)
        out.resize(max_lines);
    return out;
}

} // namespace racehunt
