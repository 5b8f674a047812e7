#include "plan/pins.hpp"

#include "protocol.h"
#include "util/error.hpp"
#include "util/file.hpp"
#include "util/strings.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <sstream>
#include <tuple>

namespace racehunt {

namespace {

std::string ordinal(std::uint64_t n) {
    const char* suffix = "th";
    if (n % 100 < 11 || n % 100 > 13) {
        if (n % 10 == 1)
            suffix = "st";
        else if (n % 10 == 2)
            suffix = "nd";
        else if (n % 10 == 3)
            suffix = "rd";
    }
    return std::to_string(n) + suffix;
}

// Whitespace-separated words of a line, each with its 1-based column.
std::vector<std::pair<std::string, std::size_t>> words(const std::string& line) {
    std::vector<std::pair<std::string, std::size_t>> out;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t'))
            ++i;
        if (i >= line.size() || line[i] == '#')
            break;
        std::size_t start = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '#')
            ++i;
        out.emplace_back(line.substr(start, i - start), start + 1);
    }
    return out;
}

} // namespace

std::string describe(const ShimPin& p) {
    std::string s = "shim " + (p.action.empty() ? std::string("perturbation") : p.action);
    if (p.action == "delay" || p.action == "starvation window")
        s += " of " + util::format_micros(p.ns);
    if (!p.point.empty())
        s += " at a " + p.point + " call";
    if (!p.site.empty())
        s += " from " + p.site;
    s += p.thread_name.empty() ? " in native thread #" + std::to_string(p.thread)
                               : " in thread \"" + p.thread_name + "\"";
    s += " (its " + ordinal(p.n + 1) + " decision)";
    if (p.pid)
        s += ", process " + std::to_string(p.pid);
    return s;
}

std::string describe(const YieldPin& p) {
    std::string s = "yield in thread ";
    s += p.thread_name.empty() ? "#" + std::to_string(p.thread) : "\"" + p.thread_name + "\"";
    if (!p.where.empty())
        s += " at " + util::base_name(p.where);
    s += " on its " + ordinal(p.visit) + " visit";
    if (p.pid)
        s += ", process " + std::to_string(p.pid);
    return s;
}

std::string unescape_task_name(const std::string& name) {
    if (name == "%-")
        return ""; // the empty name
    std::string out;
    for (std::size_t i = 0; i < name.size(); ++i) {
        if (name[i] == '%' && i + 2 < name.size() &&
            std::isxdigit(static_cast<unsigned char>(name[i + 1])) &&
            std::isxdigit(static_cast<unsigned char>(name[i + 2]))) {
            out += static_cast<char>(std::stoi(name.substr(i + 1, 2), nullptr, 16));
            i += 2;
        } else {
            out += name[i];
        }
    }
    return out;
}

std::string describe(const LoopPin& p) {
    std::string s = "asyncio: ";
    if (p.shuffle) {
        s += "tasks ";
        for (std::size_t i = 0; i < p.tasks.size(); ++i)
            s += (i ? ", \"" : "\"") + unescape_task_name(p.tasks[i]) + "\"";
        s += " resumed in this order";
    } else {
        s += "task \"" + (p.tasks.empty() ? std::string("?") : unescape_task_name(p.tasks[0])) +
             "\" resumed " + std::to_string(p.iterations) + " iteration(s) late";
    }
    s += " in iteration " + std::to_string(p.iteration) + " of loop " + std::to_string(p.loop);
    if (p.pid)
        s += ", process " + std::to_string(p.pid);
    return s;
}

std::string describe_switch_interval(double seconds) {
    return "switch interval " + util::format_double(seconds) + " s";
}

namespace {

// A description as a comment: one line whatever the names in it hold.
std::string one_line_comment(std::string s) {
    for (char& c : s)
        if (c == '\n' || c == '\r')
            c = ' ';
    return s;
}

} // namespace

std::string pins_to_text(const Pins& pins, const std::string& comment) {
    std::ostringstream o;
    o << "# racehunt pins 1\n";
    for (const auto& line : util::split(comment, '\n'))
        if (!line.empty())
            o << "# " << line << "\n";
    if (pins.switch_interval)
        o << "switch-interval " << util::format_double(*pins.switch_interval) << "\n";
    for (const auto& p : pins.shim)
        o << "shim " << util::hex64(p.key) << " " << p.thread << " " << p.n << "  # "
          << one_line_comment(describe(p)) << "\n";
    for (const auto& p : pins.yields)
        o << "yield " << util::hex64(p.key) << " " << p.thread << " " << p.visit << "  # "
          << one_line_comment(describe(p)) << "\n";
    for (const auto& p : pins.loop) {
        o << "loop " << util::hex64(p.key) << " " << p.loop << " " << p.iteration << " ";
        if (p.shuffle) {
            o << "shuffle ";
            for (std::size_t i = 0; i < p.tasks.size(); ++i)
                o << (i ? "," : "") << p.tasks[i];
        } else {
            o << "defer " << (p.tasks.empty() ? std::string("?") : p.tasks[0]) << " " << p.iterations;
        }
        o << "  # " << one_line_comment(describe(p)) << "\n";
    }
    return o.str();
}

Pins parse_pins(const std::string& text, const std::string& name) {
    Pins pins;
    auto lines = util::split(text, '\n');
    for (std::size_t ln = 0; ln < lines.size(); ++ln) {
        auto w = words(lines[ln]);
        if (w.empty())
            continue;
        auto where = [&](std::size_t col) {
            return name + ":" + std::to_string(ln + 1) + ":" + std::to_string(col);
        };
        auto number = [&](std::size_t i, std::uint64_t max, const char* what) {
            const auto& [word, col] = w[i];
            char* end = nullptr;
            errno = 0;
            unsigned long long v = std::strtoull(word.c_str(), &end, 10);
            if (word.empty() || *end || errno || word[0] == '-' || v > max)
                throw util::usage_error(where(col), std::string("expected ") + what + ", got \"" + word + "\"");
            return static_cast<std::uint64_t>(v);
        };
        auto process_key = [&] {
            auto key = util::parse_hex64(w[1].first);
            if (!key || w[1].first.size() > 16)
                throw util::usage_error(where(w[1].second),
                                        "expected a process key of up to 16 hex digits, got \"" + w[1].first + "\"");
            return *key;
        };
        const std::string& kind = w[0].first;
        if (kind == "switch-interval") {
            if (w.size() != 2)
                throw util::usage_error(where(w[0].second), "expected \"switch-interval SECONDS\"");
            char* end = nullptr;
            double v = std::strtod(w[1].first.c_str(), &end);
            if (*end || !(v > 0) || !std::isfinite(v))
                throw util::usage_error(where(w[1].second),
                                        "expected a switch interval in seconds, got \"" + w[1].first + "\"");
            pins.switch_interval = v;
        } else if (kind == "shim" || kind == "yield") {
            if (w.size() != 4)
                throw util::usage_error(where(w[0].second),
                                        "expected \"" + kind + " PROCESS-KEY THREAD " +
                                            (kind == "shim" ? "DECISION" : "VISIT") + "\"");
            const std::uint64_t key = process_key();
            if (kind == "shim") {
                ShimPin p;
                p.key = key;
                p.thread = static_cast<std::uint32_t>(number(2, UINT32_MAX, "a thread index"));
                p.n = static_cast<std::uint32_t>(number(3, UINT32_MAX, "a decision number"));
                pins.shim.push_back(p);
            } else {
                YieldPin p;
                p.key = key;
                p.thread = static_cast<std::uint32_t>(number(2, UINT32_MAX, "a thread index"));
                p.visit = number(3, UINT64_MAX >> 1, "a visit number");
                if (p.visit == 0)
                    throw util::usage_error(where(w[3].second), "visits count from 1");
                pins.yields.push_back(p);
            }
        } else if (kind == "loop") {
            if (w.size() < 6 || (w[4].first == "shuffle" && w.size() != 6) ||
                (w[4].first == "defer" && w.size() != 7) || (w[4].first != "shuffle" && w[4].first != "defer"))
                throw util::usage_error(where(w[0].second),
                                        "expected \"loop PROCESS-KEY LOOP ITERATION shuffle TASK,TASK,...\" or "
                                        "\"loop PROCESS-KEY LOOP ITERATION defer TASK ITERATIONS\"");
            LoopPin p;
            p.key = process_key();
            p.loop = static_cast<std::uint32_t>(number(2, UINT32_MAX, "a loop number"));
            p.iteration = number(3, UINT64_MAX >> 1, "an iteration number");
            if (p.iteration == 0)
                throw util::usage_error(where(w[3].second), "iterations count from 1");
            p.shuffle = w[4].first == "shuffle";
            p.tasks = p.shuffle ? util::split(w[5].first, ',') : std::vector<std::string>{w[5].first};
            if (std::any_of(p.tasks.begin(), p.tasks.end(), [](const std::string& t) { return t.empty(); }))
                throw util::usage_error(where(w[5].second), "an empty task name");
            if (!p.shuffle) {
                p.iterations = static_cast<std::uint32_t>(number(6, 8, "a deferral of 1 to 8 iterations"));
                if (p.iterations == 0)
                    throw util::usage_error(where(w[6].second), "a deferral is at least 1 iteration");
            }
            pins.loop.push_back(p);
        } else {
            throw util::usage_error(where(w[0].second), "unknown line \"" + kind + "\"",
                                    "expected switch-interval, shim, yield or loop");
        }
    }
    return pins;
}

Pins read_pins_file(const std::filesystem::path& file) {
    std::string text;
    try {
        text = util::read_file(file);
    } catch (const util::Error&) {
        throw util::usage_error(file.string(), "cannot read the pins file");
    }
    return parse_pins(text, file.string());
}

void write_shim_pins(const std::filesystem::path& file, const Pins& pins) {
    std::vector<racehunt_pin_record> recs;
    recs.reserve(pins.shim.size());
    for (const auto& p : pins.shim)
        recs.push_back({p.key, p.thread, p.n});
    auto key = [](const racehunt_pin_record& r) { return std::tie(r.process_key, r.thread, r.n); };
    std::sort(recs.begin(), recs.end(), [&](const auto& a, const auto& b) { return key(a) < key(b); });
    recs.erase(std::unique(recs.begin(), recs.end(), [&](const auto& a, const auto& b) { return key(a) == key(b); }),
               recs.end());
    racehunt_pins_header h{RACEHUNT_PINS_MAGIC, RACEHUNT_PROTOCOL_VERSION,
                           static_cast<std::uint32_t>(recs.size()), sizeof(racehunt_pin_record)};
    std::string data(reinterpret_cast<const char*>(&h), sizeof h);
    data.append(reinterpret_cast<const char*>(recs.data()), recs.size() * sizeof(racehunt_pin_record));
    util::write_file_atomic(file, data);
}

} // namespace racehunt
