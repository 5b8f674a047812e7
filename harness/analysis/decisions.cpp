#include "analysis/decisions.hpp"
#include "analysis/run_dir.hpp"

#include "protocol.h"
#include "util/strings.hpp"

#include <nlohmann/json.hpp>

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
        log.kept.push_back({r.thread, r.n, point_name(r.point), action_name(r.action), r.ns, r.image, r.site});
    }
    // Slots are taken in time order across threads; a reader wants each thread's own order.
    std::stable_sort(log.kept.begin(), log.kept.end(), [](const ShimDecision& a, const ShimDecision& b) {
        return std::tie(a.image, a.thread, a.n) < std::tie(b.image, b.thread, b.n);
    });
    return log;
}

std::map<std::pair<std::uint16_t, std::uint64_t>, std::string> read_shim_sites(const fs::path& file) {
    std::map<std::pair<std::uint16_t, std::uint64_t>, std::string> out;
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
        // "<image>\t<site hex>\t<symbol>\t<offset hex>\t<object>"
        auto f = util::split(line, '\t');
        if (f.size() < 5)
            continue;
        auto image = static_cast<std::uint16_t>(std::strtoul(f[0].c_str(), nullptr, 10));
        auto site = util::parse_hex64(f[1]);
        if (!site || f[4] == "?")
            continue;
        std::ostringstream offset;
        offset << std::hex << std::strtoull(f[3].c_str(), nullptr, 16);
        std::string object = util::base_name(f[4]);
        out[{image, *site}] = f[2] == "?" ? object + "+0x" + offset.str()
                                         : f[2] + "+0x" + offset.str() + " (" + object + ")";
    }
    return out;
}

namespace {

std::string site_text(const std::map<std::pair<std::uint16_t, std::uint64_t>, std::string>& sites,
                      const ShimDecision& d) {
    if (!d.site)
        return "";
    auto it = sites.find({d.image, d.site});
    if (it != sites.end())
        return it->second;
    std::ostringstream raw;
    raw << "0x" << std::hex << d.site;
    return raw.str();
}

struct ProcessIds {
    std::uint64_t key = 0;
    std::uint32_t images = 0;
    std::map<std::uint32_t, int> tids; // thread index -> kernel tid
};

// The process key, latest image number and thread ids in shim-<pid>.bin; nullopt when
// unreadable.
std::optional<ProcessIds> counters_ids(const RunDir& run, int pid) {
    auto it = run.shim_counters.find(pid);
    if (it == run.shim_counters.end() || it->second.bytes < sizeof(racehunt_shim_counters) ||
        it->second.data.magic != RACEHUNT_SHIM_MAGIC)
        return std::nullopt;
    const racehunt_shim_counters& c = it->second.data;
    ProcessIds ids{c.process_key, c.images, {}};
    for (std::uint32_t i = 0; i < RACEHUNT_SHIM_TID_SLOTS; ++i)
        if (c.tids[i])
            ids.tids[i] = c.tids[i];
    return ids;
}

// Kernel tid -> Python thread name of one process: the names of every thread that ran
// (the bootstrap's exit event) and of the live ones (the thread map, for a hung process).
std::map<int, std::string> python_names(const RunDir& run, int pid) {
    std::map<int, std::string> names;
    if (auto it = run.threads_seen.find(pid); it != run.threads_seen.end())
        names = it->second;
    if (auto it = run.thread_maps.find(pid); it != run.thread_maps.end() && it->second.is_array())
        for (const auto& e : it->second)
            if (e.is_object() && e.value("native_id", nlohmann::json()).is_number_integer() &&
                e.value("name", nlohmann::json()).is_string())
                names.emplace(e["native_id"].get<int>(), e["name"].get<std::string>());
    return names;
}

const std::map<std::pair<std::uint16_t, std::uint64_t>, std::string>& sites_of(const RunDir& run, int pid) {
    static const std::map<std::pair<std::uint16_t, std::uint64_t>, std::string> none;
    auto it = run.shim_sites.find(pid);
    return it == run.shim_sites.end() ? none : it->second;
}

} // namespace

Pins collect_decisions(const fs::path& run_dir, std::optional<double> switch_interval,
                       std::size_t* unpinnable) {
    RunDir run = read_run_dir(run_dir);
    read_failure_files(run);
    return collect_decisions(run, switch_interval, unpinnable);
}

Pins collect_decisions(const RunDir& run, std::optional<double> switch_interval, std::size_t* unpinnable) {
    Pins pins;
    pins.switch_interval = switch_interval;
    std::size_t lost = 0;
    for (const auto& name : run.files) {
        const fs::path f(name);
        if (name.rfind(RACEHUNT_FILE_SHIM_PREFIX, 0) == 0 && f.extension() == RACEHUNT_FILE_SHIM_DLOG_SUFFIX) {
            int pid = pid_of(f, RACEHUNT_FILE_SHIM_PREFIX);
            auto it = run.shim_dlogs.find(pid);
            if (it == run.shim_dlogs.end() || !it->second)
                continue;
            const auto& log = it->second;
            auto ids = counters_ids(run, pid);
            auto names = python_names(run, pid);
            const auto& sites = sites_of(run, pid);
            for (const auto& d : log->kept) {
                if (!ids || d.image != ids->images) {
                    ++lost;
                    continue;
                }
                ShimPin p{ids->key, d.thread, d.n, d.point, d.action, d.ns, pid, "", site_text(sites, d)};
                if (auto t = ids->tids.find(d.thread); t != ids->tids.end())
                    if (auto nm = names.find(t->second); nm != names.end())
                        p.thread_name = nm->second;
                pins.shim.push_back(p);
            }
        } else if (name.rfind(RACEHUNT_FILE_YIELDS_PREFIX, 0) == 0 && f.extension() == RACEHUNT_FILE_YIELDS_SUFFIX) {
            int pid = pid_of(f, RACEHUNT_FILE_YIELDS_PREFIX);
            std::optional<std::uint64_t> key;
            for (const auto& line : run.yield_logs.at(pid)) {
                if (line.rfind("# racehunt-yields 1 key=", 0) == 0) {
                    key = util::parse_hex64(line.substr(24));
                    continue;
                }
                auto w = util::split(line, '\t');
                if (line.empty() || line[0] == '#' || w.size() < 3)
                    continue;
                if (!key) {
                    ++lost;
                    continue;
                }
                YieldPin p;
                p.key = *key;
                p.thread = static_cast<std::uint32_t>(std::strtoul(w[0].c_str(), nullptr, 10));
                p.visit = std::strtoull(w[2].c_str(), nullptr, 10);
                p.where = w[1];
                p.thread_name = w.size() > 3 ? w[3] : "";
                p.pid = pid;
                pins.yields.push_back(p);
            }
        } else if (name.rfind(RACEHUNT_FILE_LOOP_PREFIX, 0) == 0 && f.extension() == RACEHUNT_FILE_LOOP_SUFFIX) {
            int pid = pid_of(f, RACEHUNT_FILE_LOOP_PREFIX);
            std::optional<std::uint64_t> key;
            for (const auto& line : run.loop_logs.at(pid)) {
                if (line.rfind("# racehunt-loop 1 key=", 0) == 0) {
                    key = util::parse_hex64(line.substr(22, 16));
                    continue;
                }
                auto w = util::split(line, '\t');
                if (line.empty() || line[0] == '#' || w.size() < 4)
                    continue;
                if (!key) {
                    ++lost;
                    continue;
                }
                LoopPin p;
                p.key = *key;
                p.loop = static_cast<std::uint32_t>(std::strtoul(w[0].c_str(), nullptr, 10));
                p.iteration = std::strtoull(w[1].c_str(), nullptr, 10);
                p.shuffle = w[2] == "shuffle";
                p.tasks = p.shuffle ? util::split(w[3], ',') : std::vector<std::string>{w[3]};
                if (!p.shuffle)
                    p.iterations = w.size() > 4 ? static_cast<std::uint32_t>(std::strtoul(w[4].c_str(), nullptr, 10)) : 1;
                p.pid = pid;
                pins.loop.push_back(p);
            }
        }
    }
    if (unpinnable)
        *unpinnable = lost;
    return pins;
}

namespace {

// The entries of a yields or loop log: its lines, less empty ones and # comments.
std::vector<std::string> entry_lines(const std::vector<std::string>& log) {
    std::vector<std::string> lines;
    for (const auto& line : log)
        if (!line.empty() && line[0] != '#')
            lines.push_back(line);
    return lines;
}

} // namespace

std::string render_decisions(const RunDir& run, std::optional<double> switch_interval,
                             const std::string& title) {
    std::ostringstream o;
    o << "racehunt decision log: " << title << "\n";
    o << "Every perturbation injected in the run. Replaying the seed re-derives the same "
         "decisions; which of them matter is what `racehunt minimize` will find.\n\n";
    if (switch_interval)
        o << "switch interval: " << *switch_interval << " s\n";
    else
        o << "switch interval: the interpreter's default\n";

    const auto& shim_logs = run.shim_dlogs;
    const auto& yield_logs = run.yield_logs;
    const auto& loop_logs = run.loop_logs;
    std::set<int> pids;
    for (const auto& [pid, p] : shim_logs)
        pids.insert(pid);
    for (const auto& [pid, p] : yield_logs)
        pids.insert(pid);
    for (const auto& [pid, p] : loop_logs)
        pids.insert(pid);
    for (int pid : pids) {
        o << "\nprocess " << pid << "\n";
        if (auto it = shim_logs.find(pid); it != shim_logs.end()) {
            const auto& log = it->second;
            if (!log) {
                o << "  shim: log unreadable\n";
            } else {
                o << "  shim: " << log->total << " perturbation(s)";
                if (log->total > log->kept.size())
                    o << ", the first " << log->kept.size() << " kept";
                o << "\n";
                const auto& sites = sites_of(run, pid);
                for (const auto& d : log->kept) {
                    o << "    thread " << d.thread << "  decision " << d.n << "  " << d.point << " "
                      << d.action;
                    if (d.action == "delay" || d.action == "starvation window")
                        o << " " << util::format_micros(d.ns);
                    if (std::string site = site_text(sites, d); !site.empty())
                        o << "  from " << site;
                    if (d.image > 1)
                        o << "  (image " << d.image << ")";
                    o << "\n";
                }
            }
        }
        if (auto it = yield_logs.find(pid); it != yield_logs.end()) {
            const auto lines = entry_lines(it->second);
            o << "  Python yield points: " << lines.size() << " yield(s) taken\n";
            for (const auto& l : lines) {
                // "<thread>\t<file>:<line>\t<visit>[\t<thread name>]"
                auto f = util::split(l, '\t');
                if (f.size() < 3)
                    continue;
                o << "    thread " << f[0];
                if (f.size() > 3 && !f[3].empty())
                    o << " \"" << f[3] << "\"";
                o << "  " << f[1] << "  visit " << f[2] << "\n";
            }
        }
        if (auto it = loop_logs.find(pid); it != loop_logs.end()) {
            const auto lines = entry_lines(it->second);
            o << "  asyncio loop: " << lines.size() << " decision(s)\n";
            for (const auto& l : lines) {
                // "<loop>\t<iteration>\tshuffle\t<tasks in their new order>" or
                // "<loop>\t<iteration>\tdefer\t<task>\t<iterations>"
                auto f = util::split(l, '\t');
                if (f.size() < 4)
                    continue;
                o << "    loop " << f[0] << "  iteration " << f[1] << "  ";
                if (f[2] == "defer" && f.size() > 4) {
                    o << "task \"" << unescape_task_name(f[3]) << "\" deferred by " << f[4] << " iteration(s)\n";
                } else {
                    o << f[2] << ":";
                    for (const auto& t : util::split(f[3], ','))
                        o << " " << unescape_task_name(t);
                    o << "\n";
                }
            }
        }
    }
    return o.str();
}

} // namespace racehunt
