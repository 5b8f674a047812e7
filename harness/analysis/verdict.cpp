#include "analysis/verdict.hpp"

#include "util/duration.hpp"
#include "util/strings.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <regex>

namespace racehunt {

using nlohmann::json;

namespace {

std::string format_bytes(double b) {
    char buf[32];
    if (b >= 1e9)
        std::snprintf(buf, sizeof buf, "%.1f GB", b / 1e9);
    else if (b >= 1e6)
        std::snprintf(buf, sizeof buf, "%.1f MB", b / 1e6);
    else if (b >= 1e3)
        std::snprintf(buf, sizeof buf, "%.1f kB", b / 1e3);
    else
        std::snprintf(buf, sizeof buf, "%.0f B", b);
    return buf;
}

// "bank.py:withdraw": the innermost frame names the bucket; the line number is left out so
// that an edit elsewhere in the file does not split a bucket.
std::string innermost(const ExceptionReport& x) {
    if (x.frames.empty())
        return "";
    const Frame& f = x.frames.back();
    return util::base_name(f.file) + ":" + f.function;
}

std::string where_text(const ExceptionReport& x) {
    if (x.frames.empty())
        return "";
    const Frame& f = x.frames.back();
    return " at " + util::base_name(f.file) + ":" + std::to_string(f.line) + " in " + f.function + "()";
}

// Thread names often carry counters ("Worker-3"); buckets should not.
std::string normalise_name(const std::string& name) {
    return std::regex_replace(name, std::regex("[0-9]+"), "N");
}

std::string one_line(std::string s, std::size_t max = 200) {
    std::replace(s.begin(), s.end(), '\n', ' ');
    if (s.size() > max)
        s = s.substr(0, max) + "...";
    return s;
}

std::string signal_name(int sig) {
    const char* abbrev = ::sigabbrev_np(sig);
    return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

} // namespace

Verdict classify(const RunResult& run, const std::vector<PyProcessReport>& reports,
                 const CheckSpec& check, bool root_is_python) {
    Verdict v;
    if (!run.started) {
        v.outcome = Outcome::Error;
        v.signature = "error:spawn";
        v.reasons.push_back("could not start the workload: " + run.spawn_error);
        return v;
    }
    if (run.status_lost) {
        v.outcome = Outcome::Error;
        v.signature = "error:status-lost";
        v.reasons.push_back("racehunt's fork server reaped the run and died before reporting its "
                            "exit status; the outcome is unknown");
        return v;
    }

    const PyProcessReport* root = nullptr;
    for (const auto& r : reports)
        if (r.pid == run.root_pid || (!root && r.role == "root"))
            root = &r;
    if (root_is_python && !root && run.timed_out) {
        // Killed before the interpreter got as far as the bootstrap: the timeout is shorter
        // than Python's start-up, which says nothing about the bootstrap.
        v.warnings.push_back("the run timed out before the workload's Python process had started "
                             "(the timeout is shorter than the interpreter's start-up?)");
    } else if (root_is_python && !root) {
        v.injected = false;
        v.warnings.push_back("the workload's Python process did not load racehunt's bootstrap "
                             "(started with -I or -S, or an interpreter racehunt cannot inject "
                             "into?): no Python checks and no Python-level jitter");
    }

    // Failures the Python side saw, most telling first; the first one names the bucket.
    std::vector<std::pair<std::string, std::string>> failures; // signature, reason
    const bool fail_on_exceptions = check.thread_exceptions == "fail";
    for (const auto& r : reports) {
        const std::string proc = r.role == "root" ? "" : " (process " + std::to_string(r.pid) + ")";
        for (const auto& x : r.exceptions) {
            if (!fail_on_exceptions && !x.main)
                continue;
            failures.emplace_back("fail:" + x.type + "@" + innermost(x),
                                  "uncaught " + x.type + " in thread \"" + x.thread + "\"" + proc +
                                      ": " + one_line(x.message) + where_text(x));
        }
        for (const auto& x : r.check_failures)
            failures.emplace_back("fail:check@" + innermost(x),
                                  "racehunt.check failed in thread \"" + x.thread + "\"" + proc +
                                      ": " + one_line(x.message) + where_text(x));
        for (const auto& w : r.warnings)
            v.warnings.push_back(w);
        if (check.asyncio_warnings == "ignore")
            continue;
        for (const auto& w : r.asyncio_warnings) {
            ExceptionReport where;
            where.frames = w.frames;
            std::string what = w.message;
            if (w.kind == "unretrieved-exception")
                what = (w.task.empty() ? "a future's" : "task \"" + w.task + "\"'s") +
                       std::string(" exception was never retrieved: ") + w.type +
                       (w.exception.empty() ? "" : ": " + one_line(w.exception));
            else if (w.kind == "destroyed-pending")
                what = "task \"" + w.task + "\" was destroyed while still pending";
            std::string reason = "asyncio: " + what + where_text(where) + proc;
            std::string sig = "fail:asyncio:" + w.kind;
            if (w.kind == "unretrieved-exception" && !w.type.empty())
                sig += ":" + w.type;
            if (!innermost(where).empty())
                sig += "@" + innermost(where);
            else if (!w.coroutine.empty())
                sig += "@" + w.coroutine;
            if (check.asyncio_warnings == "fail")
                failures.emplace_back(sig, reason);
            else
                v.warnings.push_back(reason);
        }
    }
    if (root) {
        for (const auto& inv : root->invariants) {
            if (!inv.error.empty())
                failures.emplace_back("fail:invariant-error:" + inv.expr,
                                      "invariant could not be evaluated: " + inv.expr + " -> " +
                                          one_line(inv.error));
            else if (!inv.ok)
                failures.emplace_back("fail:invariant:" + inv.expr,
                                      "invariant broken: " + inv.expr + " (value: " +
                                          one_line(inv.value) + ")");
        }
        if (check.leaked_threads != "ignore" && !root->leaked_threads.empty()) {
            std::string names;
            for (const auto& t : root->leaked_threads)
                names += (names.empty() ? "\"" : ", \"") + t.name + "\"";
            std::string reason = "non-daemon thread(s) still running when the main module "
                                 "finished: " + names;
            if (check.leaked_threads == "fail")
                failures.emplace_back(
                    "fail:leaked-thread:" + normalise_name(root->leaked_threads.front().name),
                    reason);
            else
                v.warnings.push_back(reason);
        }
        if (root->memory.is_object() && root->memory.value("exceeded", false)) {
            const json& m = root->memory;
            std::string top_file, sites;
            if (auto it = m.find("top"); it != m.end() && it->is_array()) {
                for (std::size_t i = 0; i < it->size() && i < 3; ++i) {
                    const json& t = (*it)[i];
                    if (!t.is_array() || t.size() < 4)
                        continue;
                    std::string file = util::base_name(t[0].is_string() ? t[0].get<std::string>() : "?");
                    if (top_file.empty())
                        top_file = file;
                    sites += (sites.empty() ? "" : ", ") + file + ":" +
                             std::to_string(t[1].get<long long>()) + " " +
                             format_bytes(t[2].get<double>()) + " in " +
                             std::to_string(t[3].get<long long>()) + " blocks";
                }
            }
            failures.emplace_back("fail:memory-growth@" + (top_file.empty() ? "?" : top_file),
                                  "Python memory still allocated at the end: " +
                                      format_bytes(m.value("traced", 0.0)) + " (limit " +
                                      format_bytes(m.value("limit", 0.0)) + "); top: " + sites);
        }
    }
    if (run.leftover_processes > 0)
        v.warnings.push_back(std::to_string(run.leftover_processes) +
                             " process(es) of the run outlived its main process and were killed");
    if (run.unkillable_processes > 0)
        v.warnings.push_back(std::to_string(run.unkillable_processes) +
                             " process(es) of the run could not be killed");

    if (run.timed_out) {
        v.outcome = Outcome::Hang;
        v.signature = "hang";
        v.reasons.push_back("timed out: the run did not finish within its timeout");
    } else if (run.signal != 0) {
        v.outcome = Outcome::Crash;
        v.signature = "crash:" + signal_name(run.signal);
        v.reasons.push_back("the workload was killed by " + signal_name(run.signal));
    } else if (!failures.empty()) {
        v.outcome = Outcome::Fail;
        v.signature = failures.front().first;
    } else if (run.exit_code != check.exit_code) {
        v.outcome = Outcome::Fail;
        v.signature = "fail:exit-code:" + std::to_string(run.exit_code);
    }
    for (auto& f : failures)
        v.reasons.push_back(f.second);
    if (run.overtime > Nanos{0}) {
        // Busy at the timeout under racehunt's perturbation: the harness turned it off and
        // gave the run `overtime` more (campaign.cpp, calm_or_kill).
        const std::string calmed =
            "busy at the timeout under racehunt's perturbation; with the perturbation turned off "
            "it was given " + util::format_duration(run.overtime) + " more";
        if (run.timed_out)
            v.reasons.push_back(calmed + " and still did not finish");
        else if (v.outcome == Outcome::Pass) {
            v.outcome = Outcome::Slow;
            v.signature = "slow";
            v.reasons.push_back(calmed + ", then finished and passed: racehunt's perturbation, "
                                         "not the program, made it miss its timeout");
        } else
            v.reasons.push_back(calmed + ", then finished");
    }
    if (v.outcome != Outcome::Pass && v.outcome != Outcome::Error &&
        run.exit_code != check.exit_code && run.exit_code >= 0)
        v.reasons.push_back("exit status " + std::to_string(run.exit_code) + " (expected " +
                            std::to_string(check.exit_code) + ")");
    return v;
}

Verdict judge(const VerdictInputs& in) {
    Verdict v = classify(in.run, in.reports, in.check, in.root_is_python);
    // No report from a Python workload on a file system that is full: the injectors could
    // not write, and whatever the workload did was not checked.
    if (in.reports.empty() && in.root_is_python && in.run.started && !in.run.timed_out &&
        in.run_dir_full && in.run_dir_full()) {
        v.outcome = Outcome::Error;
        v.signature = "error:run-dir-full";
        v.reasons.insert(v.reasons.begin(), "the file system of " + in.run_dir.string() +
                                                " is full: the run's injectors could not report, so "
                                                "racehunt cannot tell what the workload did");
        v.warnings.clear();
        v.injected = true; // not the workload's doing: no "bootstrap not loaded" warning
    }
    if (!is_failure(v.outcome) || v.outcome == Outcome::Error || !in.dump)
        return v;
    try {
        v.dump = in.dump(v.outcome);
    } catch (const std::exception& e) {
        v.dump_error = e.what();
        return v;
    }
    const MergedDump& dump = *v.dump;
    // A hang or a crash is bucketed by where it happened, a deadlock apart from other hangs.
    if (!dump.top_frame.empty() && v.outcome == Outcome::Hang)
        v.signature += (dump.deadlock ? ":deadlock@" : "@") + dump.top_frame;
    else if (!dump.top_frame.empty() && v.outcome == Outcome::Crash)
        v.signature += "@" + dump.top_frame;
    if (dump.deadlock)
        v.reasons.insert(v.reasons.begin() + std::min<std::size_t>(1, v.reasons.size()),
                         dump_excerpt(dump, 1).front());
    return v;
}

} // namespace racehunt
