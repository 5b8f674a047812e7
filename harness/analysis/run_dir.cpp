#include "analysis/run_dir.hpp"
#include "protocol.h"

#include "util/file.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>

namespace racehunt {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

ExceptionReport exception_from(const json& e) {
    ExceptionReport x;
    x.thread = json_string(e, "thread");
    x.main = e.value("main", false);
    x.type = json_string(e, "type");
    x.message = json_string(e, "message");
    if (auto it = e.find("frames"); it != e.end() && it->is_array()) {
        for (const auto& f : *it) {
            if (f.is_array() && f.size() >= 3)
                x.frames.push_back({f[0].is_string() ? f[0].get<std::string>() : "",
                                    f[1].is_number_integer() ? f[1].get<int>() : 0,
                                    f[2].is_string() ? f[2].get<std::string>() : ""});
        }
    }
    return x;
}

void apply_event(PyProcessReport& r, const json& e) {
    const std::string ev = json_string(e, "event");
    if (r.failure_snapshot.is_null() && (ev == "exception" || ev == "check_failed" ||
                                         (ev == "invariant" && !e.value("ok", false)))) {
        if (auto it = e.find("threads"); it != e.end() && it->is_array() && !it->empty()) {
            r.failure_snapshot = {{"event", ev}, {"threads", *it}};
            if (auto id = e.find("ident"); id != e.end() && id->is_number_unsigned())
                r.failure_snapshot["ident"] = *id;
            if (auto loops = e.find("loops"); loops != e.end() && loops->is_array() && !loops->empty())
                r.failure_snapshot["loops"] = *loops;
        }
    }
    if (ev == "start") {
        r.pid = e.value("pid", 0);
        r.ppid = e.value("ppid", 0);
        r.role = json_string(e, "role");
        r.python = json_string(e, "python");
        if (auto it = e.find("command"); it != e.end() && it->is_array()) {
            r.command.clear();
            for (const auto& a : *it)
                if (a.is_string())
                    r.command.push_back(a.get<std::string>());
        }
        if (auto it = e.find("argv"); it != e.end() && it->is_array())
            for (const auto& a : *it)
                if (a.is_string())
                    r.argv.push_back(a.get<std::string>());
        if (auto it = e.find("switch_interval"); it != e.end() && it->is_number())
            r.switch_interval = it->get<double>();
        r.yields_mechanism = json_string(e, "yields");
    } else if (ev == "exception") {
        r.exceptions.push_back(exception_from(e));
    } else if (ev == "check_failed") {
        ExceptionReport x = exception_from(e);
        if (x.type.empty())
            x.type = "racehunt.check";
        r.check_failures.push_back(std::move(x));
    } else if (ev == "main_done") {
        r.main_done = true;
        if (auto it = e.find("threads"); it != e.end() && it->is_array())
            for (const auto& t : *it)
                if (t.is_object())
                    r.leaked_threads.push_back({json_string(t, "name"), t.value("daemon", false)});
    } else if (ev == "invariant") {
        r.invariants.push_back(
            {json_string(e, "expr"), e.value("ok", false), json_string(e, "value"), json_string(e, "error")});
    } else if (ev == "exit") {
        r.exited = true;
        if (auto it = e.find("counters"); it != e.end() && it->is_object())
            r.counters = *it;
        if (auto it = e.find("focus_unmatched"); it != e.end() && it->is_array()) {
            r.focus_unmatched.emplace();
            for (const auto& x : *it)
                if (x.is_string())
                    r.focus_unmatched->push_back(x.get<std::string>());
        }
    } else if (ev == "counters") {
        // Written on the dump signal: a hung process's counters so far.
        if (auto it = e.find("counters"); !r.exited && it != e.end() && it->is_object())
            r.counters = *it;
    } else if (ev == "warning") {
        r.warnings.push_back(json_string(e, "message"));
    } else if (ev == "memory") {
        r.memory = e;
    } else if (ev == "asyncio_warning") {
        PyProcessReport::AsyncioWarning w;
        w.kind = json_string(e, "kind");
        w.message = json_string(e, "message");
        w.task = json_string(e, "task");
        w.coroutine = json_string(e, "coroutine");
        w.type = json_string(e, "type");
        w.exception = json_string(e, "exception");
        w.frames = exception_from(e).frames;
        r.asyncio_warnings.push_back(std::move(w));
    }
}

bool has_prefix(const std::string& name, const char* prefix) {
    return name.rfind(prefix, 0) == 0;
}

bool has_extension(const std::string& name, const char* ext) {
    return fs::path(name).extension() == ext;
}

// A JSON file of the forensics (processes.json, pystacks-<pid>.json):
// null when it is missing or cut short.
json read_json(const fs::path& p) {
    std::error_code ec;
    if (!fs::exists(p, ec))
        return json();
    json j = json::parse(util::read_file(p), nullptr, false);
    return j.is_discarded() ? json() : j;
}

// threads-<pid>.jsonl, replayed into the list of live threads the process had when it
// last wrote: a `live` line replaces the list, `begin` adds a thread (or renews one whose
// ident was reused), `end` removes one. A line cut short (the process was killed while
// writing) is skipped. Null when the file is missing or holds no line.
json read_thread_log(const fs::path& p) {
    std::ifstream in(p);
    if (!in)
        return json();
    json live = json::array();
    bool any = false;
    std::string line;
    auto forget = [&live](const json& ident) {
        for (auto it = live.begin(); it != live.end(); ++it)
            if (it->is_object() && it->value("ident", json()) == ident) {
                live.erase(it);
                return;
            }
    };
    while (std::getline(in, line)) {
        json e = json::parse(line, nullptr, false);
        if (e.is_discarded() || !e.is_object())
            continue;
        any = true;
        if (auto l = e.find("live"); l != e.end() && l->is_array()) {
            live = *l;
        } else if (auto b = e.find("begin"); b != e.end()) {
            json entry = e;
            entry.erase("begin");
            entry["ident"] = *b;
            forget(*b);
            live.push_back(std::move(entry));
        } else if (auto x = e.find("end"); x != e.end()) {
            forget(*x);
        }
    }
    return any ? live : json();
}

std::vector<std::string> read_lines(const fs::path& p) {
    std::vector<std::string> lines;
    std::ifstream in(p);
    std::string line;
    while (std::getline(in, line))
        lines.push_back(std::move(line));
    return lines;
}

} // namespace

int pid_in_name(const std::string& name, const std::string& prefix) {
    if (name.rfind(prefix, 0) != 0)
        return 0;
    return std::atoi(name.c_str() + prefix.size());
}

const std::string& RunDir::text_of(const std::map<int, std::string>& files, int pid) {
    static const std::string none;
    auto it = files.find(pid);
    return it == files.end() ? none : it->second;
}

std::vector<json> read_events(const fs::path& file) {
    std::vector<json> events;
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
        // A process killed mid-write leaves a partial last line: it is skipped.
        json e = json::parse(line, nullptr, false);
        if (!e.is_discarded() && e.is_object())
            events.push_back(std::move(e));
    }
    return events;
}

bool registered_dump_signal(const fs::path& events) {
    bool registered = false;
    for (const auto& e : read_events(events))
        if (json_string(e, "event") == "start")
            registered = e.contains("dump_signal");
    return registered;
}

RunDir read_run_dir(const fs::path& dir) {
    RunDir run;
    run.path = dir;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec))
        run.files.push_back(entry.path().filename().string());
    std::sort(run.files.begin(), run.files.end());
    for (const auto& name : run.files) {
        if (has_prefix(name, RACEHUNT_FILE_EVENTS_PREFIX) && has_extension(name, RACEHUNT_FILE_EVENTS_SUFFIX)) {
            PyProcessReport r;
            auto& seen = run.threads_seen[pid_in_name(name, RACEHUNT_FILE_EVENTS_PREFIX)];
            for (const auto& e : read_events(dir / name)) {
                apply_event(r, e);
                // Every thread that ran, by kernel tid (the bootstrap's exit event).
                if (auto it = e.find("threads_seen"); it != e.end() && it->is_array())
                    for (const auto& t : *it)
                        if (t.is_array() && t.size() == 2 && t[0].is_number_integer() && t[1].is_string())
                            seen[t[0].get<int>()] = t[1].get<std::string>();
            }
            if (r.pid != 0)
                run.reports.push_back(std::move(r));
        } else if (has_prefix(name, RACEHUNT_FILE_SHIM_PREFIX) && has_extension(name, RACEHUNT_FILE_SHIM_COUNTERS_SUFFIX)) {
            run.shim_counters[pid_in_name(name, RACEHUNT_FILE_SHIM_PREFIX)] = read_shim_counters_file(dir / name);
        }
    }
    // The root first, then by pid: reasons then read in a stable order.
    std::sort(run.reports.begin(), run.reports.end(), [](const PyProcessReport& a, const PyProcessReport& b) {
        if ((a.role == "root") != (b.role == "root"))
            return a.role == "root";
        return a.pid < b.pid;
    });
    run.shim = sum_shim_counters(run.shim_counters);
    return run;
}

void read_failure_files(RunDir& run) {
    if (run.failure_files)
        return;
    run.failure_files = true;
    const fs::path& dir = run.path;
    run.processes = read_json(dir / RACEHUNT_FILE_PROCESSES);
    for (const auto& name : run.files) {
        if (has_prefix(name, RACEHUNT_FILE_THREADS_PREFIX) && has_extension(name, RACEHUNT_FILE_THREADS_SUFFIX)) {
            run.thread_maps[pid_in_name(name, RACEHUNT_FILE_THREADS_PREFIX)] = read_thread_log(dir / name);
        } else if (has_prefix(name, RACEHUNT_FILE_PYSTACKS_PREFIX) && has_extension(name, RACEHUNT_FILE_PYSTACKS_SUFFIX)) {
            run.pystacks[pid_in_name(name, RACEHUNT_FILE_PYSTACKS_PREFIX)] = read_json(dir / name);
        } else if (has_prefix(name, RACEHUNT_FILE_FAULTHANDLER_PREFIX) && has_extension(name, RACEHUNT_FILE_FAULTHANDLER_SUFFIX)) {
            run.faulthandler[pid_in_name(name, RACEHUNT_FILE_FAULTHANDLER_PREFIX)] = util::read_file(dir / name);
        } else if (has_prefix(name, RACEHUNT_FILE_NATIVE_PREFIX) && has_extension(name, RACEHUNT_FILE_NATIVE_SUFFIX)) {
            run.native[pid_in_name(name, RACEHUNT_FILE_NATIVE_PREFIX)] = util::read_file(dir / name);
        } else if (has_prefix(name, RACEHUNT_FILE_SHIM_PREFIX) && has_extension(name, RACEHUNT_FILE_SHIM_DLOG_SUFFIX)) {
            run.shim_dlogs[pid_in_name(name, RACEHUNT_FILE_SHIM_PREFIX)] = read_shim_dlog(dir / name);
        } else if (has_prefix(name, RACEHUNT_FILE_SHIM_PREFIX) && has_extension(name, RACEHUNT_FILE_SHIM_SITES_SUFFIX)) {
            run.shim_sites[pid_in_name(name, RACEHUNT_FILE_SHIM_PREFIX)] = read_shim_sites(dir / name);
        } else if (has_prefix(name, RACEHUNT_FILE_YIELDS_PREFIX) && has_extension(name, RACEHUNT_FILE_YIELDS_SUFFIX)) {
            run.yield_logs[pid_in_name(name, RACEHUNT_FILE_YIELDS_PREFIX)] = read_lines(dir / name); // not a .log.tmp cut short
        } else if (has_prefix(name, RACEHUNT_FILE_LOOP_PREFIX) && has_extension(name, RACEHUNT_FILE_LOOP_SUFFIX)) {
            run.loop_logs[pid_in_name(name, RACEHUNT_FILE_LOOP_PREFIX)] = read_lines(dir / name);
        } else if ((has_prefix(name, RACEHUNT_FILE_CONTROL_PREFIX) || has_prefix(name, RACEHUNT_FILE_TRACE_PREFIX)) && has_extension(name, RACEHUNT_FILE_CONTROL_SUFFIX)) {
            run.control_log_names.push_back(name);
            if (auto log = read_control_log(dir / name))
                run.control_logs.push_back(std::move(*log));
        }
    }
}

} // namespace racehunt
