#include "analysis/interleaving.hpp"
#include "protocol.h"
#include "analysis/run_dir.hpp"

#include "util/strings.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <deque>
#include <fstream>
#include <map>
#include <sstream>

namespace racehunt {

namespace fs = std::filesystem;

std::optional<ControlLog> read_control_log(const fs::path& file) {
    std::ifstream in(file);
    std::string line;
    if (!std::getline(in, line))
        return std::nullopt;
    ControlLog log;
    const std::string control = "# racehunt-control 1", trace = "# racehunt-trace 1";
    if (line.rfind(control, 0) == 0)
        log.header = line.substr(control.size());
    else if (line.rfind(trace, 0) == 0)
        log.header = line.substr(trace.size()), log.traced = true;
    else
        return std::nullopt;
    if (!log.header.empty() && log.header[0] == ' ')
        log.header.erase(0, 1);
    std::string name = file.filename().string();
    log.pid = std::atoi(name.c_str() + name.find('-') + 1);
    std::map<std::uint32_t, std::vector<std::string>> held; // by thread, sorted
    std::map<std::vector<std::string>, std::uint32_t> lockset_ids{{{}, 0}};
    auto lockset_of = [&](std::uint32_t thread) {
        auto& set = held[thread];
        auto [it, inserted] = lockset_ids.emplace(set, static_cast<std::uint32_t>(log.locksets.size()));
        if (inserted)
            log.locksets.push_back(set);
        return it->second;
    };
    while (std::getline(in, line)) {
        if (line.rfind("# thread ", 0) == 0) {
            // "# thread <index> <name>"
            std::string rest = line.substr(9);
            auto sp = rest.find(' ');
            std::size_t index = static_cast<std::size_t>(std::strtoul(rest.c_str(), nullptr, 10));
            if (log.threads.size() <= index)
                log.threads.resize(index + 1);
            log.threads[index] = sp == std::string::npos ? "" : rest.substr(sp + 1);
            continue;
        }
        if (line.rfind("# access ", 0) == 0) {
            // "# access <file>:<line>\t<r|w>\t<key>\t<text>"
            auto f = util::split(line.substr(9), '\t');
            if (f.size() >= 4 && (f[1] == "r" || f[1] == "w"))
                log.accesses[f[0]].push_back({f[1][0], f[2], f[3]});
            continue;
        }
        auto f = util::split(line, '\t');
        if (f.size() < 4 || line[0] == '#')
            continue;
        ControlStep s;
        s.step = std::strtoull(f[0].c_str(), nullptr, 10);
        s.thread = static_cast<std::uint32_t>(std::strtoul(f[1].c_str(), nullptr, 10));
        s.where = f[2] == "-" ? "" : f[2];
        s.kind = f[3];
        auto& mine = held[s.thread];
        if (s.kind.rfind("acquired ", 0) == 0) {
            // Not a scheduling point: the lock is now held.
            std::string lock = s.kind.substr(9);
            auto at = std::lower_bound(mine.begin(), mine.end(), lock);
            if (at == mine.end() || *at != lock)
                mine.insert(at, lock);
            continue;
        }
        if (s.kind.rfind("joined ", 0) == 0) {
            log.joins.push_back({log.steps.size(), {s.thread, s.kind.substr(7)}});
            continue;
        }
        if (s.kind.rfind("release ", 0) == 0) {
            std::string lock = s.kind.substr(8);
            auto at = std::lower_bound(mine.begin(), mine.end(), lock);
            if (at != mine.end() && *at == lock)
                mine.erase(at);
        }
        s.lockset = lockset_of(s.thread);
        log.steps.push_back(std::move(s));
    }
    return log;
}

ConflictScan find_conflicts(const ControlLog& log, std::size_t keep) {
    ConflictScan scan;
    constexpr std::size_t kMaxThreads = 256;
    if (log.threads.size() > kMaxThreads) {
        scan.skipped = true;
        return scan;
    }
    auto common_lock = [&](std::uint32_t x, std::uint32_t y) {
        const auto& a = log.locksets[x];
        const auto& b = log.locksets[y];
        for (std::size_t i = 0, j = 0; i < a.size() && j < b.size();) {
            if (a[i] == b[j])
                return true;
            a[i] < b[j] ? ++i : ++j;
        }
        return false;
    };
    // Happens-before from thread start and join, as vector clocks: a thread's steps come
    // after everything its starter did before the start, and a joiner's steps after
    // everything the joined thread did.
    const std::size_t nt = log.threads.size();
    std::vector<std::vector<std::uint64_t>> vc(nt, std::vector<std::uint64_t>(nt, 0));
    std::map<std::string, std::vector<std::uint32_t>> unstarted;
    for (std::uint32_t t = 0; t < nt; ++t)
        unstarted[log.threads[t]].push_back(t);
    auto merge = [&](std::uint32_t into, std::uint32_t from) {
        for (std::size_t k = 0; k < nt; ++k)
            vc[into][k] = std::max(vc[into][k], vc[from][k]);
    };
    auto thread_named = [&](const std::string& name, bool take) -> std::optional<std::uint32_t> {
        auto it = unstarted.find(name);
        if (it == unstarted.end() || it->second.empty()) {
            for (std::uint32_t t = 0; t < nt; ++t)
                if (log.threads[t] == name)
                    return t;
            return std::nullopt;
        }
        std::uint32_t t = it->second.front();
        if (take)
            it->second.erase(it->second.begin());
        return t;
    };
    struct Seen {
        std::size_t index;
        std::uint32_t thread;
        std::uint64_t clock; // the thread's own clock at the access
        Access access;
    };
    // By datum: each thread's latest access, and which access of another thread each
    // thread was last compared with (each cross-thread pair is reported once).
    std::map<std::string, std::map<std::uint32_t, Seen>> latest;
    std::map<std::tuple<std::string, std::uint32_t, std::uint32_t>, std::size_t> paired;
    std::deque<Conflict> interleaved, plain; // the last `keep` of each
    std::size_t next_join = 0;
    for (std::size_t i = 0; i < log.steps.size(); ++i) {
        for (; next_join < log.joins.size() && log.joins[next_join].first <= i; ++next_join) {
            const auto& [joiner, name] = log.joins[next_join].second;
            if (auto joined = thread_named(name, false); joined && joiner < nt)
                merge(joiner, *joined);
        }
        const ControlStep& s = log.steps[i];
        const std::uint32_t t = s.thread;
        if (t >= nt)
            continue;
        const std::uint64_t clock = ++vc[t][t];
        if (s.kind.rfind("start ", 0) == 0) {
            if (auto child = thread_named(s.kind.substr(6), true))
                merge(*child, t);
            continue;
        }
        // A join orders nothing until it returns: the `joined NAME` note says when.
        if (s.kind != "line")
            continue;
        auto it = log.accesses.find(s.where);
        if (it == log.accesses.end())
            continue;
        // One access per datum and line, a write if the line writes it.
        std::map<std::string, Access> here;
        for (const Access& a : it->second) {
            auto [at, inserted] = here.emplace(a.key, a);
            if (!inserted && a.rw == 'w')
                at->second = a;
        }
        for (const auto& [key, access] : here) {
            auto& threads = latest[key];
            auto own = threads.find(t);
            std::vector<Conflict> found;
            for (const auto& [u, r] : threads) {
                if (u == t || (r.access.rw != 'w' && access.rw != 'w'))
                    continue;
                auto& done = paired[{key, t, u}];
                if (done == r.index + 1)
                    continue; // this access of u was already paired with one of t's
                if (r.clock <= vc[t][u] || common_lock(log.steps[r.index].lockset, s.lockset))
                    continue;
                done = r.index + 1;
                Conflict c{r.index, i, key, r.access, access, std::nullopt, {}};
                if (own != threads.end() && own->second.index < r.index) {
                    const char p[4] = {own->second.access.rw, r.access.rw, access.rw, 0};
                    const std::string pattern(p);
                    if (pattern == "rwr" || pattern == "rww" || pattern == "wwr" || pattern == "wrw") {
                        c.local = own->second.index;
                        c.l = own->second.access;
                    }
                }
                found.push_back(std::move(c));
            }
            std::sort(found.begin(), found.end(), [](const Conflict& x, const Conflict& y) { return x.first < y.first; });
            for (auto& c : found) {
                ++scan.total;
                auto& q = c.local ? interleaved : plain;
                if (c.local)
                    ++scan.interleavings;
                q.push_back(std::move(c));
                if (q.size() > keep)
                    q.pop_front();
            }
            threads[t] = Seen{i, t, clock, access};
        }
    }
    scan.conflicts.assign(interleaved.begin(), interleaved.end());
    scan.conflicts.insert(scan.conflicts.end(), plain.begin(), plain.end());
    std::sort(scan.conflicts.begin(), scan.conflicts.end(), [](const Conflict& x, const Conflict& y) {
        return std::tie(x.second, x.first) < std::tie(y.second, y.first);
    });
    return scan;
}

namespace {

// Source lines, read once per file.
class Sources {
public:
    std::string line(const std::string& where) {
        auto colon = where.rfind(':');
        if (colon == std::string::npos)
            return "";
        std::string file = where.substr(0, colon);
        std::size_t n = static_cast<std::size_t>(std::strtoul(where.c_str() + colon + 1, nullptr, 10));
        auto it = files_.find(file);
        if (it == files_.end()) {
            std::vector<std::string> lines;
            std::ifstream in(file);
            std::string l;
            while (std::getline(in, l))
                lines.push_back(l);
            it = files_.emplace(file, std::move(lines)).first;
        }
        if (n == 0 || n > it->second.size())
            return "";
        std::string text = it->second[n - 1];
        auto start = text.find_first_not_of(" \t");
        text = start == std::string::npos ? "" : text.substr(start);
        if (text.size() > 70)
            text = text.substr(0, 67) + "...";
        return text;
    }

private:
    std::map<std::string, std::vector<std::string>> files_;
};

std::string pad(std::string s, std::size_t width) {
    if (s.size() < width)
        s.append(width - s.size(), ' ');
    return s;
}

} // namespace

namespace {

// What a reader sees of one process's schedule: around every switch the steps that led to
// it and followed it; long stretches of one thread folded into one row; the last steps
// (where the failure shows) always. At most `tail` step rows, the last ones.
struct Row {
    enum Kind { Step, Folded, Switch, Gap } kind = Step; // Gap: steps not in the log (a trace)
    const ControlStep* step = nullptr; // Step
    std::size_t folded = 0;            // Folded: how many steps
    std::uint32_t thread = 0;          // whose steps (Folded) or who runs next (Switch)
};

std::vector<Row> layout(const ControlLog& log, std::size_t tail, std::size_t* omitted,
                        const std::map<std::size_t, std::string>& notes) {
    const auto& st = log.steps;
    const std::size_t n = st.size();
    std::vector<bool> show(n, false);
    for (const auto& [index, note] : notes)
        show[index] = true;
    constexpr std::size_t kContext = 6;
    for (std::size_t i = 1; i < n; ++i) {
        if (st[i].thread == st[i - 1].thread)
            continue;
        for (std::size_t j = i > kContext ? i - kContext : 0; j < std::min(n, i + kContext); ++j)
            show[j] = true;
    }
    for (std::size_t j = n > kContext * 2 ? n - kContext * 2 : 0; j < n; ++j)
        show[j] = true;
    for (std::size_t j = 0; j < std::min(n, kContext); ++j)
        show[j] = true;
    const std::size_t shown = static_cast<std::size_t>(std::count(show.begin(), show.end(), true));
    std::size_t begin = 0;
    *omitted = 0;
    if (shown > tail) {
        std::size_t seen = 0;
        for (std::size_t j = n; j-- > 0;)
            if (show[j] && ++seen == tail) {
                begin = j;
                break;
            }
        *omitted = shown - tail;
    }
    std::vector<Row> rows;
    std::optional<std::uint32_t> last;
    std::size_t folded = 0;
    for (std::size_t i = begin; i < n; ++i) {
        const ControlStep& s = st[i];
        if (log.traced && i > begin && s.step > st[i - 1].step + 1) {
            if (folded && last)
                rows.push_back({Row::Folded, nullptr, folded, *last});
            folded = 0;
            rows.push_back({Row::Gap, nullptr, static_cast<std::size_t>(s.step - st[i - 1].step - 1), s.thread});
        }
        if (last && *last != s.thread) {
            if (folded)
                rows.push_back({Row::Folded, nullptr, folded, *last});
            folded = 0;
            rows.push_back({Row::Switch, nullptr, 0, s.thread});
        }
        last = s.thread;
        if (!show[i]) {
            ++folded;
            continue;
        }
        if (folded)
            rows.push_back({Row::Folded, nullptr, folded, s.thread});
        folded = 0;
        rows.push_back({Row::Step, &s, 0, s.thread});
    }
    if (folded && last)
        rows.push_back({Row::Folded, nullptr, folded, *last});
    return rows;
}

std::string thread_name(const ControlLog& log, std::uint32_t t) {
    return t < log.threads.size() && !log.threads[t].empty() ? log.threads[t] : "#" + std::to_string(t);
}

const char* const kIntro =
    "The run was controlled: one Python thread ran at a time, and the turn changed hands "
    "only at the scheduling points below (lines of focus code, lock operations, thread "
    "start and join, sleeps). Each line shows a thread about to run that line. Replaying "
    "the seed repeats this schedule exactly.";

constexpr std::size_t kConflictsShown = 8;

const char* verb(char rw) { return rw == 'w' ? "writes" : "reads"; }

// The last kConflictsShown conflicts, and a note for each step they involve.
struct ConflictView {
    std::vector<Conflict> shown;
    std::uint64_t total = 0;
    std::uint64_t interleavings = 0;
    bool skipped = false;
    std::map<std::size_t, std::string> notes; // by step index
};

ConflictView conflict_view(const ControlLog& log) {
    ConflictView v;
    if (log.traced)
        return v; // no lock information: no honest verdict
    ConflictScan scan = find_conflicts(log, kConflictsShown);
    v.total = scan.total;
    v.skipped = scan.skipped;
    const auto& all = scan.conflicts;
    // Interleavings explain failures best (a lost update, a stale check): the last ones
    // first; plain conflicts fill up what is left.
    std::vector<Conflict> chosen;
    for (auto it = all.rbegin(); it != all.rend() && chosen.size() < kConflictsShown; ++it)
        if (it->local)
            chosen.push_back(*it);
    v.interleavings = scan.interleavings;
    for (auto it = all.rbegin(); it != all.rend() && chosen.size() < kConflictsShown; ++it)
        if (!it->local)
            chosen.push_back(*it);
    std::sort(chosen.begin(), chosen.end(), [](const Conflict& x, const Conflict& y) { return x.second < y.second; });
    v.shown = chosen;
    auto add = [&](std::size_t index, const std::string& text) {
        std::string& note = v.notes[index];
        if (note.find(text) == std::string::npos)
            note += (note.empty() ? "" : "; ") + text;
    };
    for (const Conflict& c : v.shown) {
        const ControlStep& a = log.steps[c.first];
        const ControlStep& b = log.steps[c.second];
        if (c.local) {
            const ControlStep& l = log.steps[*c.local];
            add(*c.local, std::string(verb(c.l.rw)) + " " + c.l.text);
            add(c.first, std::string(verb(c.a.rw)) + " " + c.a.text + " between steps " + std::to_string(l.step) +
                             " and " + std::to_string(b.step) + " of " + thread_name(log, b.thread));
            add(c.second, std::string(verb(c.b.rw)) + " " + c.b.text + ", which step " + std::to_string(a.step) +
                              " (" + thread_name(log, a.thread) + ") " + (c.a.rw == 'w' ? "wrote" : "read") +
                              " since step " + std::to_string(l.step));
        } else {
            add(c.first, std::string(verb(c.a.rw)) + " " + c.a.text + ", then step " + std::to_string(b.step) +
                             " " + verb(c.b.rw) + " it");
            add(c.second, std::string(verb(c.b.rw)) + " " + c.b.text + " after step " + std::to_string(a.step) +
                              " " + verb(c.a.rw) + " it");
        }
    }
    return v;
}

const char* const kConflictIntro =
    "Conflicting accesses: two threads touch the same data one after the other, at least one "
    "writes, no thread start or join orders them and they hold no lock in common. "
    "Interleaved: another thread's access fell between two accesses of one thread in an "
    "order no serial run gives (a lost update, a stale check). The data is found from the "
    "source text (attributes by name, module globals, containers changed in place), so two "
    "objects with an attribute of the same name count as one. Marked ! below.";

const char* const kTraceIntro =
    "The run was not controlled: its threads ran in parallel under the GIL, perturbed only "
    "by the pinned perturbations. Each line is a thread about to run a line of focus code, in "
    "the order the interpreter ran them (recorded while holding the GIL); a pinned yield is "
    "marked where it was taken. Another replay of the same pins may interleave differently. "
    "Locks are not followed in this mode, so conflicting accesses are not marked.";

const char* intro_of(const std::vector<std::string>& files) {
    for (const auto& f : files)
        if (f.rfind(RACEHUNT_FILE_CONTROL_PREFIX, 0) == 0)
            return kIntro;
    return kTraceIntro;
}

} // namespace

std::string render_interleaving(const RunDir& run, const std::string& title, std::size_t tail) {
    const auto& files = run.control_log_names;
    if (files.empty())
        return "";
    std::ostringstream o;
    o << "racehunt interleaving: " << title << "\n";
    // The intro, wrapped at about 88 columns.
    std::string line;
    std::istringstream words(intro_of(files));
    std::string w;
    while (words >> w) {
        if (!line.empty() && line.size() + 1 + w.size() > 88) {
            o << line << "\n";
            line.clear();
        }
        line += (line.empty() ? "" : " ") + w;
    }
    o << line << "\n";
    Sources sources;
    for (const auto& l : run.control_logs) {
        const ControlLog* log = &l;
        o << "\nprocess " << log->pid << ": " << log->header << "\n";
        std::size_t width = 8;
        for (const auto& n : log->threads)
            width = std::max(width, n.size() + 2);
        ConflictView cv = conflict_view(*log);
        if (cv.skipped)
            o << "\nconflicting accesses: not analysed (more than 256 threads)\n";
        if (cv.total) {
            o << "\nconflicting accesses: " << cv.total << ", of which " << cv.interleavings
              << " interleaved; shown: " << cv.shown.size() << "\n";
            std::string intro;
            std::istringstream cw(kConflictIntro);
            std::string word;
            while (cw >> word) {
                if (!intro.empty() && intro.size() + 1 + word.size() > 86) {
                    o << "  " << intro << "\n";
                    intro.clear();
                }
                intro += (intro.empty() ? "" : " ") + word;
            }
            o << "  " << intro << "\n";
            auto at = [&](std::size_t index, const Access& a) {
                const ControlStep& s = log->steps[index];
                return "step " + std::to_string(s.step) + " " + thread_name(*log, s.thread) + " " + verb(a.rw) + " " +
                       a.text + " (" + util::base_name(s.where) + ")";
            };
            for (const Conflict& c : cv.shown) {
                if (c.local)
                    o << "  interleaved: " << at(*c.local, c.l) << "; " << at(c.first, c.a) << "; " << at(c.second, c.b)
                      << "\n";
                else
                    o << "  " << at(c.first, c.a) << "  ->  " << at(c.second, c.b) << "\n";
            }
            o << "\n";
        }
        std::size_t omitted = 0;
        auto rows = layout(*log, tail, &omitted, cv.notes);
        if (omitted)
            o << "(" << omitted << " earlier steps near switches are left out; the failure is at the end)\n";
        o << pad("step", 8) << pad("thread", width) << pad("where", 28) << "source or event\n";
        for (const auto& r : rows) {
            if (r.kind == Row::Switch) {
                o << "  ---- switch: " << thread_name(*log, r.thread) << " runs ----\n";
            } else if (r.kind == Row::Folded) {
                o << "        ... " << r.folded << " more step(s) of " << thread_name(*log, r.thread) << "\n";
            } else if (r.kind == Row::Gap) {
                o << "        ~~~ " << r.folded << " visit(s) not kept in the trace ~~~\n";
            } else {
                const ControlStep& s = *r.step;
                std::string where = s.where.empty() ? "" : util::base_name(s.where);
                std::string what = s.kind == "line" ? sources.line(s.where) : "[" + s.kind + "]";
                auto note = cv.notes.find(static_cast<std::size_t>(r.step - log->steps.data()));
                std::string mark = note != cv.notes.end() ? "!" : "";
                o << pad(mark + std::to_string(s.step), 8) << pad(thread_name(*log, s.thread), width)
                  << pad(where, 28) << what;
                if (note != cv.notes.end())
                    o << "    <-- " << note->second;
                o << "\n";
            }
        }
    }
    return o.str();
}

std::string render_interleaving_html(const RunDir& run, const std::string& title, std::size_t tail) {
    const auto& files = run.control_log_names;
    if (files.empty())
        return "";
    nlohmann::json data;
    data["title"] = title;
    data["intro"] = intro_of(files);
    data["conflict_intro"] = kConflictIntro;
    data["processes"] = nlohmann::json::array();
    Sources sources;
    for (const auto& l : run.control_logs) {
        const ControlLog* log = &l;
        ConflictView cv = conflict_view(*log);
        std::size_t omitted = 0;
        auto rows = layout(*log, tail, &omitted, cv.notes);
        nlohmann::json p;
        p["conflicts"] = cv.total;
        p["pid"] = log->pid;
        p["header"] = log->header;
        p["threads"] = log->threads;
        p["omitted"] = omitted;
        nlohmann::json out = nlohmann::json::array();
        for (const auto& r : rows) {
            if (r.kind == Row::Switch)
                out.push_back({{"switch", r.thread}});
            else if (r.kind == Row::Folded)
                out.push_back({{"fold", r.folded}, {"t", r.thread}});
            else if (r.kind == Row::Gap)
                out.push_back({{"gap", r.folded}});
            else {
                nlohmann::json row = {{"t", r.step->thread},
                                      {"step", r.step->step},
                                      {"where", r.step->where.empty() ? "" : util::base_name(r.step->where)},
                                      {"text", r.step->kind == "line" ? sources.line(r.step->where)
                                                                      : "[" + r.step->kind + "]"}};
                auto note = cv.notes.find(static_cast<std::size_t>(r.step - log->steps.data()));
                if (note != cv.notes.end())
                    row["conflict"] = note->second;
                out.push_back(std::move(row));
            }
        }
        p["rows"] = out;
        data["processes"].push_back(p);
    }
    // In a <script> element, "</" could end it early: JSON allows "<\/" for it.
    std::string json = data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    std::string safe;
    safe.reserve(json.size());
    for (std::size_t i = 0; i < json.size(); ++i) {
        if (json[i] == '<' && i + 1 < json.size() && json[i + 1] == '/')
            safe += "<\\";
        else
            safe += json[i];
    }
    std::string html = R"HTML(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>racehunt interleaving</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.2em} .intro{max-width:60em;color:#555}
table.lanes{border-collapse:collapse;margin:1em 0;font:12px/1.3 ui-monospace,monospace}
table.lanes th{position:sticky;top:0;background:#f4f4f4;border-bottom:2px solid #888;padding:4px 8px;text-align:left}
table.lanes td{border-left:1px solid #ddd;padding:1px 8px;vertical-align:top;white-space:pre}
td.step{color:#888;text-align:right;border-left:none}
tr.switch td{border-top:2px solid #c33}
tr.fold td{color:#999;font-style:italic}
.where{color:#36c;margin-right:.6em}
td.conflict{background:#fff3c4} .note{color:#a60;margin-left:.8em;font-style:italic}
</style></head><body>
<h1 id="title"></h1><p class="intro" id="intro"></p><div id="processes"></div>
<script id="data" type="application/json">)HTML";
    html += safe;
    html += R"HTML(</script>
<script>
"use strict";
const data = JSON.parse(document.getElementById("data").textContent);
document.getElementById("title").textContent = "racehunt interleaving: " + data.title;
document.getElementById("intro").textContent = data.intro;
const root = document.getElementById("processes");
for (const p of data.processes) {
  const h = document.createElement("h2");
  h.textContent = "process " + p.pid + ": " + p.header;
  root.appendChild(h);
  if (p.conflicts) {
    const note = document.createElement("p");
    note.className = "conflicts";
    note.textContent = p.conflicts + " conflicting access(es); the last ones are highlighted. " + data.conflict_intro;
    root.appendChild(note);
  }
  if (p.omitted) {
    const note = document.createElement("p");
    note.textContent = p.omitted + " earlier steps near switches are left out; the failure is at the end.";
    root.appendChild(note);
  }
  const table = document.createElement("table");
  table.className = "lanes";
  const head = table.createTHead().insertRow();
  const stepHead = document.createElement("th");
  stepHead.textContent = "step";
  head.appendChild(stepHead);
  p.threads.forEach((name, i) => {
    const th = document.createElement("th");
    th.className = "lane";
    th.dataset.thread = i;
    th.textContent = name || ("#" + i);
    head.appendChild(th);
  });
  const body = table.createTBody();
  let switched = false;
  for (const r of p.rows) {
    if (r.switch !== undefined) { switched = true; continue; }
    if (r.gap !== undefined) {
      const tr = body.insertRow();
      tr.className = "fold";
      const td = tr.insertCell();
      td.colSpan = p.threads.length + 1;
      td.textContent = "\u2248 " + r.gap + " visit(s) not kept in the trace";
      continue;
    }
    const tr = body.insertRow();
    if (switched) tr.className = "switch";
    switched = false;
    const s = tr.insertCell();
    s.className = "step";
    s.textContent = r.step !== undefined ? r.step : "";
    for (let i = 0; i < p.threads.length; i++) {
      const td = tr.insertCell();
      if (i !== r.t) continue;
      if (r.fold !== undefined) {
        tr.className += " fold";
        td.textContent = "\u2026 " + r.fold + " more step(s)";
      } else {
        const w = document.createElement("span");
        w.className = "where";
        w.textContent = r.where;
        td.appendChild(w);
        td.appendChild(document.createTextNode(r.text));
        if (r.conflict !== undefined) {
          td.className = "conflict";
          td.title = r.conflict;
          const n = document.createElement("span");
          n.className = "note";
          n.textContent = "! " + r.conflict;
          td.appendChild(n);
        }
      }
    }
  }
  root.appendChild(table);
}
document.body.dataset.rendered = "yes";
</script></body></html>
)HTML";
    return html;
}

} // namespace racehunt
