// Durations as users write them: "10s", "200us", "1.5ms", "2m", "1h", or a bare number of seconds.
#pragma once
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace util {

using Nanos = std::chrono::nanoseconds;

// Returns nullopt when the text is not a non-negative duration.
std::optional<Nanos> parse_duration(std::string_view text);

// Shortest exact-enough rendering: "10s", "250ms", "1.5ms", "200us", "800ns".
std::string format_duration(Nanos d);

// Human rendering of a wall-clock span for progress lines: "12s", "3m04s", "1h02m".
std::string format_eta(Nanos d);

} // namespace util
