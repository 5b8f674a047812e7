#include "analysis/decisions.hpp"

#include "protocol.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <tuple>
#include <sstream>

namespace racehunt {

namespace fs = std::filesystem;

namespace {

const char* point_name(unsigned p) {
    static const char* names[] = {
#define RH_X_NAME(id, name) name,
        RACEHUNT_POINT_CLASSES(RH_X_NAME)
#undef RH_X_NAME
    };
    return p < RACEHUNT_POINT_COUNT ? names[p] : "?";
}

const char* action_name(unsigned a) {
    switch (a) {
    case RACEHUNT_DLOG_YIELD:
        return "yield";
    case RACEHUNT_DLOG_DELAY:
        return "delay";
    case RACEHUNT_DLOG_WAKE:
        return "yield after wake";
    case RACEHUNT_DLOG_STARVE:
        return "starvation window";
    }
    return "?";
}

std::string micros(std::uint32_t ns) {
    std::ostringstream o;
    o.precision(ns >= 10000 ? 0 : 1);
    o << std::fixed << ns / 1000.0 << " us";
    return o.str();
}

int pid_of(const fs::path& p, const std::string& prefix) {
    std::string name = p.filename().string();
    if (name.rfind(prefix, 0) != 0)
        return 0;
    return std::atoi(name.c_str() + prefix.size());
}

} // namespace

std::optional<ShimDecisionLog> read_shim_dlog(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    racehunt_dlog_header h{};
    if (!in.read(reinterpret_cast<char*>(&h), sizeof h) || h.magic != RACEHUNT_DLOG_MAGIC ||
        h.record_size != sizeof(racehunt_dlog_record) || h.capacity > (1u << 24))
        return std::nullopt;
    ShimDecisionLog log;
    log.pid = h.pid;
    log.total = h.next;
    const std::uint64_t n = std::min<std::uint64_t>(h.next, h.capacity);
    std::vector<racehunt_dlog_record> recs(n);
    if (n && !in.read(reinterpret_cast<char*>(recs.data()), static_cast<std::streamsize>(n * sizeof recs[0])))
        return std::nullopt;
    for (const auto& r : recs) {
        if (r.action == 0)
            continue; // being written when the process was killed
        log.kept.push_back({r.thread, r.n, point_name(r.point), action_name(r.action), r.ns, r.image});
    }
    // Slots are taken in time order across threads; a reader wants each thread's own order.
    std::stable_sort(log.kept.begin(), log.kept.end(), [](const ShimDecision& a, const ShimDecision& b) {
        return std::tie(a.image, a.thread, a.n) < std::tie(b.image, b.thread, b.n);
    });
    return log;
}

std::string render_decisions(const fs::path& run_dir, std::optional<double> switch_interval,
                             const std::string& title) {
    std::ostringstream o;
    o << "racehunt decision log: " << title << "\n";
    o << "Every perturbation injected in the run. Replaying the seed re-derives the same "
         "decisions; which of them matter is what `racehunt minimize` will find.\n\n";
    if (switch_interval)
        o << "switch interval: " << *switch_interval << " s\n";
    else
        o << "switch interval: the interpreter's default\n";

    std::map<int, fs::path> shim_logs, yield_logs;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(run_dir, ec)) {
        const std::string name = e.path().filename().string();
        if (name.size() > 5 && name.compare(name.size() - 5, 5, ".dlog") == 0)
            shim_logs[pid_of(e.path(), "shim-")] = e.path();
        else if (name.rfind("yields-", 0) == 0 && e.path().extension() == ".log")
            yield_logs[pid_of(e.path(), "yields-")] = e.path(); // not a .log.tmp cut short
    }
    std::set<int> pids;
    for (const auto& [pid, p] : shim_logs)
        pids.insert(pid);
    for (const auto& [pid, p] : yield_logs)
        pids.insert(pid);
    for (int pid : pids) {
        o << "\nprocess " << pid << "\n";
        if (auto it = shim_logs.find(pid); it != shim_logs.end()) {
            auto log = read_shim_dlog(it->second);
            if (!log) {
                o << "  shim: log unreadable\n";
            } else {
                o << "  shim: " << log->total << " perturbation(s)";
                if (log->total > log->kept.size())
                    o << ", the first " << log->kept.size() << " kept";
                o << "\n";
                for (const auto& d : log->kept) {
                    o << "    thread " << d.thread << "  decision " << d.n << "  " << d.point << " "
                      << d.action;
                    if (d.action == "delay" || d.action == "starvation window")
                        o << " " << micros(d.ns);
                    if (d.image > 1)
                        o << "  (image " << d.image << ")";
                    o << "\n";
                }
            }
        }
        if (auto it = yield_logs.find(pid); it != yield_logs.end()) {
            std::ifstream in(it->second);
            std::string line;
            std::vector<std::string> lines;
            while (std::getline(in, line))
                if (!line.empty())
                    lines.push_back(line);
            o << "  Python yield points: " << lines.size() << " yield(s) taken\n";
            for (const auto& l : lines) {
                // "<thread>\t<file>:<line>\t<visit>"
                auto t1 = l.find('\t'), t2 = l.rfind('\t');
                if (t1 == std::string::npos || t2 == t1)
                    continue;
                o << "    thread " << l.substr(0, t1) << "  " << l.substr(t1 + 1, t2 - t1 - 1)
                  << "  visit " << l.substr(t2 + 1) << "\n";
            }
        }
    }
    return o.str();
}

} // namespace racehunt
