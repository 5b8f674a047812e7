#include "analysis/interleaving.hpp"

#include "util/strings.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

namespace racehunt {

namespace fs = std::filesystem;

std::optional<ControlLog> read_control_log(const fs::path& file) {
    std::ifstream in(file);
    std::string line;
    if (!std::getline(in, line) || line.rfind("# racehunt-control 1", 0) != 0)
        return std::nullopt;
    ControlLog log;
    log.header = line.substr(std::string("# racehunt-control 1").size());
    if (!log.header.empty() && log.header[0] == ' ')
        log.header.erase(0, 1);
    std::string name = file.filename().string();
    log.pid = std::atoi(name.c_str() + std::string("control-").size());
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
        auto f = util::split(line, '\t');
        if (f.size() < 4 || line[0] == '#')
            continue;
        ControlStep s;
        s.step = std::strtoull(f[0].c_str(), nullptr, 10);
        s.thread = static_cast<std::uint32_t>(std::strtoul(f[1].c_str(), nullptr, 10));
        s.where = f[2] == "-" ? "" : f[2];
        s.kind = f[3];
        log.steps.push_back(std::move(s));
    }
    return log;
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

std::string render_interleaving(const fs::path& run_dir, const std::string& title, std::size_t tail) {
    std::vector<fs::path> files;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(run_dir, ec)) {
        std::string name = e.path().filename().string();
        if (name.rfind("control-", 0) == 0 && e.path().extension() == ".log")
            files.push_back(e.path());
    }
    if (files.empty())
        return "";
    std::sort(files.begin(), files.end());
    std::ostringstream o;
    o << "racehunt interleaving: " << title << "\n"
      << "The run was controlled: one Python thread ran at a time, and the turn changed hands\n"
         "only at the scheduling points below (lines of focus code, lock operations, thread\n"
         "start and join, sleeps). Each line shows a thread about to run that line. Replaying\n"
         "the seed repeats this schedule exactly.\n";
    Sources sources;
    for (const auto& f : files) {
        auto log = read_control_log(f);
        if (!log)
            continue;
        o << "\nprocess " << log->pid << ": " << log->header << "\n";
        auto name = [&](std::uint32_t t) {
            return t < log->threads.size() && !log->threads[t].empty() ? log->threads[t]
                                                                       : "#" + std::to_string(t);
        };
        std::size_t width = 8;
        for (const auto& n : log->threads)
            width = std::max(width, n.size() + 2);
        // Around every switch the steps that led to it and followed it are shown; long
        // stretches of one thread in between are folded into one line. The last steps
        // (where the failure shows) are always shown.
        const auto& st = log->steps;
        const std::size_t n = st.size();
        std::vector<bool> show(n, false);
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
        std::size_t shown = static_cast<std::size_t>(std::count(show.begin(), show.end(), true));
        std::size_t skip_until = 0;
        if (shown > tail) {
            // Too many switches to show them all: keep the last `tail` shown steps.
            std::size_t seen = 0;
            for (std::size_t j = n; j-- > 0;)
                if (show[j] && ++seen == tail) {
                    skip_until = j;
                    break;
                }
            o << "(" << shown - tail << " earlier steps near switches are left out; the failure is at the end)\n";
        }
        o << pad("step", 8) << pad("thread", width) << pad("where", 28) << "source or event\n";
        std::optional<std::uint32_t> last;
        std::size_t folded = 0;
        for (std::size_t i = skip_until; i < n; ++i) {
            const ControlStep& s = st[i];
            if (last && *last != s.thread) {
                if (folded)
                    o << "        ... " << folded << " more step(s) of " << name(*last) << "\n";
                folded = 0;
                o << "  ---- switch: " << name(s.thread) << " runs ----\n";
            }
            last = s.thread;
            if (!show[i]) {
                ++folded;
                continue;
            }
            if (folded) {
                o << "        ... " << folded << " more step(s) of " << name(s.thread) << "\n";
                folded = 0;
            }
            std::string where = s.where.empty() ? "" : util::base_name(s.where);
            std::string what = s.kind == "line" ? sources.line(s.where) : "[" + s.kind + "]";
            o << pad(std::to_string(s.step), 8) << pad(name(s.thread), width) << pad(where, 28)
              << what << "\n";
        }
    }
    return o.str();
}

} // namespace racehunt
