// Small string helpers that know nothing about racehunt.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace util {

// Edit distance (insertions, deletions, substitutions, adjacent transpositions).
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `word`, if it is close enough to be a plausible typo.
std::optional<std::string> closest_match(std::string_view word,
                                         const std::vector<std::string>& candidates);

// 16 lowercase hex digits.
std::string hex64(std::uint64_t v);
// Parses 1..16 hex digits, with or without a 0x prefix.
std::optional<std::uint64_t> parse_hex64(std::string_view text);

// Quotes a word for a POSIX shell only when it needs quoting.
std::string shell_quote(std::string_view word);
std::string shell_join(const std::vector<std::string>& argv);

// Keeps only characters that are safe in a file name component.
std::string sanitize_file_name(std::string_view name);

// JSON-free rendering of a double with enough digits to round-trip ("1e-06", "0.0035").
std::string format_double(double v);

// The part after the last '/' ("bank.py" of "/app/bank.py").
std::string base_name(const std::string& path);

bool starts_with(std::string_view s, std::string_view prefix);

// Nanoseconds as microseconds for people: "120 us", "3.5 us".
std::string format_micros(std::uint32_t ns);

// Fields between separators: "a\tb\t" -> {"a", "b", ""}.
std::vector<std::string> split(std::string_view s, char sep);

// The last `max_lines` lines of `text` that are not blank, trailing whitespace removed.
std::vector<std::string> last_lines(std::string_view text, std::size_t max_lines);

} // namespace util
