// What a person sees: a live progress line (plain periodic lines when not on a terminal),
// then a summary per signature with rates, intervals and the replay command.
#pragma once
#include "pool/pool.hpp"
#include "report/summary.hpp"

#include <cstdio>
#include <mutex>
#include <string>

namespace racehunt {

std::string format_percent(double fraction);

class Console {
public:
    // `color` is already resolved (NO_COLOR, --no-color, terminal or not).
    Console(bool progress_tty, bool color, bool quiet);

    void header(const std::string& line);
    void progress(const PoolProgress& p);
    void summary(const CampaignSummary& c, const std::string& results_hint);
    void note(const std::string& line);    // stderr, unless quiet
    void warning(const std::string& line); // stderr, always
    void error(const std::string& text);   // stderr, always; further lines as given

    static bool stderr_is_tty();
    static bool want_color(bool no_color_flag);

private:
    std::string paint(const char* code, const std::string& text) const;
    void clear_progress_line();

    bool tty_, color_, quiet_;
    std::mutex mutex_;
    bool progress_shown_ = false;
    std::int64_t last_plain_ms_ = -1;
    std::uint64_t last_plain_done_ = 0;
};

} // namespace racehunt
