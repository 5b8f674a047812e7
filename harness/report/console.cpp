#include "report/console.hpp"

#include "util/duration.hpp"
#include "util/strings.hpp"

#include <cstdlib>
#include <unistd.h>

namespace racehunt {

std::string format_percent(double f) {
    double pct = f * 100;
    char buf[32];
    if (pct == 0 || pct >= 10 || pct == 100)
        std::snprintf(buf, sizeof buf, "%.1f%%", pct);
    else if (pct >= 1)
        std::snprintf(buf, sizeof buf, "%.2f%%", pct);
    else
        std::snprintf(buf, sizeof buf, "%.3f%%", pct);
    return buf;
}

namespace {
std::string interval_text(const Interval& iv) {
    return "[" + format_percent(iv.low) + " – " + format_percent(iv.high) + "]";
}
} // namespace

Console::Console(bool tty, bool color, bool quiet) : tty_(tty), color_(color), quiet_(quiet) {}

bool Console::stderr_is_tty() {
    return ::isatty(STDERR_FILENO) == 1;
}

bool Console::want_color(bool no_color_flag) {
    // https://no-color.org: any non-empty NO_COLOR turns colour off.
    const char* nc = std::getenv("NO_COLOR");
    if (no_color_flag || (nc && *nc))
        return false;
    const char* term = std::getenv("TERM");
    if (term && std::string(term) == "dumb")
        return false;
    return ::isatty(STDOUT_FILENO) == 1;
}

std::string Console::paint(const char* code, const std::string& text) const {
    if (!color_)
        return text;
    return std::string("\033[") + code + "m" + text + "\033[0m";
}

void Console::clear_progress_line() {
    if (progress_shown_) {
        std::fputs("\r\033[K", stderr);
        progress_shown_ = false;
    }
}

void Console::header(const std::string& line) {
    std::lock_guard lock(mutex_);
    if (quiet_)
        return;
    std::fprintf(stderr, "%s\n", line.c_str());
}

void Console::note(const std::string& line) {
    std::lock_guard lock(mutex_);
    if (quiet_)
        return;
    clear_progress_line();
    std::fprintf(stderr, "%s\n", line.c_str());
}

void Console::warning(const std::string& line) {
    std::lock_guard lock(mutex_);
    clear_progress_line();
    std::fprintf(stderr, "%s %s\n", paint("33", "racehunt: warning:").c_str(), line.c_str());
}

void Console::error(const std::string& text) {
    std::lock_guard lock(mutex_);
    clear_progress_line();
    std::fprintf(stderr, "%s %s\n", paint("31", "racehunt: error:").c_str(), text.c_str());
}

void Console::progress(const PoolProgress& p) {
    std::lock_guard lock(mutex_);
    if (quiet_)
        return;
    const double rate = p.done ? static_cast<double>(p.failed) / static_cast<double>(p.done) : 0;
    std::string eta = "-";
    if (p.done > 0 && p.done < p.total) {
        double per_run = static_cast<double>(p.elapsed.count()) / static_cast<double>(p.done);
        eta = util::format_eta(Nanos(static_cast<long long>(per_run * static_cast<double>(p.total - p.done))));
    }
    char line[256];
    std::snprintf(line, sizeof line, "[%llu/%llu] %llu failed (%s), %llu running, %s elapsed, ETA %s",
                  static_cast<unsigned long long>(p.done), static_cast<unsigned long long>(p.total),
                  static_cast<unsigned long long>(p.failed), format_percent(rate).c_str(),
                  static_cast<unsigned long long>(p.running), util::format_eta(p.elapsed).c_str(),
                  eta.c_str());
    if (tty_) {
        if (p.finished) {
            clear_progress_line();
            return;
        }
        std::fprintf(stderr, "\r\033[K%s", line);
        std::fflush(stderr);
        progress_shown_ = true;
        return;
    }
    // Not a terminal (CI logs): a plain line every 10 s or every 10% of the runs.
    const std::int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(p.elapsed).count();
    const std::uint64_t step = std::max<std::uint64_t>(1, p.total / 10);
    if (p.finished || last_plain_ms_ < 0 || ms - last_plain_ms_ >= 10000 ||
        p.done >= last_plain_done_ + step) {
        if (p.done == last_plain_done_ && last_plain_ms_ >= 0 && !(ms - last_plain_ms_ >= 10000))
            return;
        std::fprintf(stderr, "racehunt: %s\n", line);
        last_plain_ms_ = ms;
        last_plain_done_ = p.done;
    }
}

void Console::summary(const CampaignSummary& c, const std::string& results_hint) {
    std::lock_guard lock(mutex_);
    clear_progress_line();
    for (const auto& s : c.scenarios) {
        std::string counts;
        for (Outcome o : kOutcomes) {
            auto it = s.outcomes.find(o);
            std::uint64_t n = it == s.outcomes.end() ? 0 : it->second;
            if (o == Outcome::Slow && n == 0)
                continue; // shown only when a run was slowed
            counts += std::string(counts.empty() ? "" : ", ") + std::to_string(n) + " " + to_string(o);
        }
        std::printf("\n%s %s: %llu run%s (%s)\n", paint("1", "Scenario").c_str(), s.name.c_str(),
                    static_cast<unsigned long long>(s.runs), s.runs == 1 ? "" : "s", counts.c_str());
        if (auto slow = s.outcomes.find(Outcome::Slow); slow != s.outcomes.end() && slow->second > 0)
            std::printf("  %llu run%s slow: busy at the timeout under racehunt's perturbation, "
                        "finished and passed with it off (not failures; each one's regime is in "
                        "results.jsonl)\n",
                        static_cast<unsigned long long>(slow->second), slow->second == 1 ? "" : "s");
        if (s.runs < s.planned)
            std::printf("  %llu of %llu planned runs did not run (%s)\n",
                        static_cast<unsigned long long>(s.planned - s.runs),
                        static_cast<unsigned long long>(s.planned), c.stop_reason.c_str());
        if (c.stop_reason == "config-error") {
            // Not a failure rate: the runs failed for a reason that is the configuration's.
            std::printf("  %s %llu of %llu runs failed: a configuration error, not a race (see the "
                        "error below)\n",
                        paint("31", "STOPPED").c_str(), static_cast<unsigned long long>(s.failures),
                        static_cast<unsigned long long>(s.runs));
        } else if (s.failures == 0) {
            std::printf("  %s 0 failures in %llu run%s: failure rate < %s at 95%% confidence\n",
                        paint("32", "OK").c_str(), static_cast<unsigned long long>(s.runs), s.runs == 1 ? "" : "s",
                        format_percent(s.upper_bound_95).c_str());
        } else if (c.passes_threshold(s)) {
            std::printf("  %s failure rate %s %s (95%% Wilson), %llu of %llu runs: within "
                        "--fail-threshold %s (the interval's lower end is not above it)\n",
                        paint("33", "ACCEPTED").c_str(), format_percent(s.rate).c_str(),
                        interval_text(s.interval).c_str(),
                        static_cast<unsigned long long>(s.failures),
                        static_cast<unsigned long long>(s.runs), format_percent(*c.fail_threshold).c_str());
        } else {
            std::printf("  %s failure rate %s %s (95%% Wilson), %llu of %llu runs\n",
                        paint("31", "FAILED").c_str(), format_percent(s.rate).c_str(),
                        interval_text(s.interval).c_str(),
                        static_cast<unsigned long long>(s.failures),
                        static_cast<unsigned long long>(s.runs));
        }
        for (const auto& st : s.signatures) {
            std::printf("\n  %s  %llu× %s %s\n", paint("1;31", st.signature).c_str(),
                        static_cast<unsigned long long>(st.count), format_percent(st.rate).c_str(),
                        interval_text(st.interval).c_str());
            std::printf("    first: run %llu, seed %s\n", static_cast<unsigned long long>(st.first_run),
                        util::hex64(st.first_seed).c_str());
            for (std::size_t i = 0; i < st.reasons.size() && i < 4; ++i)
                std::printf("      %s\n", st.reasons[i].c_str());
            if (!st.excerpt.empty()) {
                std::printf("    dump (first failure):\n");
                for (const auto& line : st.excerpt)
                    std::printf("      %s\n", line.c_str());
            }
            if (st.artifacts)
                std::printf("    artifacts: %s (dump.txt: every thread of every process)\n",
                            st.artifacts->c_str());
            std::printf("    replay: %s\n", paint("36", st.replay).c_str());
        }
        for (const auto& [w, n] : s.warnings)
            std::printf("  %s %s (%llu run%s)\n", paint("33", "warning:").c_str(), w.c_str(),
                        static_cast<unsigned long long>(n), n == 1 ? "" : "s");
    }
    if (!results_hint.empty())
        std::printf("\n%s\n", results_hint.c_str());
    std::fflush(stdout);
}

} // namespace racehunt
