#include "report/junit.hpp"

#include "analysis/outcome.hpp"

#include <pugixml.hpp>

#include <cstdio>
#include <sstream>

namespace racehunt {

namespace {

const char* const kReplacement = "\xEF\xBF\xBD"; // U+FFFD

// Length of the valid UTF-8 sequence at s[i] for a character XML 1.0 allows, or 0.
std::size_t valid_char(const std::string& s, std::size_t i) {
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = b(i);
    if (c < 0x80)
        return (c >= 0x20 || c == '\t' || c == '\n' || c == '\r') && c != 0x7f ? 1 : 0;
    std::size_t len = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c <= 0xdf ? 2 : 0;
    if (len == 0 || c > 0xf4 || i + len > s.size())
        return 0;
    std::uint32_t cp = c & (len == 2 ? 0x1f : len == 3 ? 0x0f : 0x07);
    for (std::size_t k = 1; k < len; ++k) {
        if ((b(i + k) & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (b(i + k) & 0x3f);
    }
    // Overlong forms, surrogates, beyond U+10FFFF, and the two non-characters XML excludes.
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe || cp == 0xffff || (cp >= 0x80 && cp <= 0x9f))
        return 0;
    return len;
}

std::string percent(double rate) {
    char b[32];
    std::snprintf(b, sizeof b, "%.2f%%", 100.0 * rate);
    return b;
}

std::string interval_text(const Interval& i) {
    char b[64];
    std::snprintf(b, sizeof b, "[%.2f%%, %.2f%%]", 100.0 * i.low, 100.0 * i.high);
    return b;
}

void set_text(pugi::xml_node node, const std::string& text) {
    node.text().set(xml_text(text).c_str());
}

} // namespace

std::string xml_text(const std::string& s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        std::size_t n = valid_char(s, i);
        if (n == 0) {
            out += kReplacement;
            ++i;
        } else {
            out.append(s, i, n);
            i += n;
        }
    }
    return out;
}

std::string junit_xml(const CampaignSummary& summary) {
    pugi::xml_document doc;
    auto decl = doc.append_child(pugi::node_declaration);
    decl.append_attribute("version") = "1.0";
    decl.append_attribute("encoding") = "UTF-8";
    auto suites = doc.append_child("testsuites");
    suites.append_attribute("name") = "racehunt";
    std::uint64_t tests = 0, failures = 0, errors = 0;
    double time = 0;
    for (const auto& s : summary.scenarios) {
        auto suite = suites.append_child("testsuite");
        const std::string name = xml_text(s.name);
        suite.append_attribute("name") = name.c_str();
        const bool harness_error = s.outcomes.count(Outcome::Error) && s.outcomes.at(Outcome::Error) > 0;
        const bool failed = s.failures > 0 && !summary.passes_threshold(s);
        // Wall time; merged shards ran apart, so there it is the runs' time added up.
        const double seconds =
            s.elapsed_s > 0 ? s.elapsed_s : s.mean_duration_ms * static_cast<double>(s.runs) / 1000.0;
        suite.append_attribute("tests") = 1;
        suite.append_attribute("failures") = failed && !harness_error ? 1 : 0;
        suite.append_attribute("errors") = harness_error ? 1 : 0;
        suite.append_attribute("skipped") = 0;
        suite.append_attribute("time") = seconds;
        auto props = suite.append_child("properties");
        auto prop = [&](const char* key, const std::string& value) {
            auto p = props.append_child("property");
            p.append_attribute("name") = key;
            p.append_attribute("value") = xml_text(value).c_str();
        };
        prop("runs", std::to_string(s.runs));
        prop("runs_planned", std::to_string(s.planned));
        prop("failures", std::to_string(s.failures));
        prop("failure_rate", percent(s.rate));
        prop("interval_95", interval_text(s.interval));
        prop("campaign_seed", std::to_string(s.campaign_seed));
        if (!s.python.empty())
            prop("python", s.python);
        if (!s.file.empty())
            prop("file", s.file);

        auto tc = suite.append_child("testcase");
        tc.append_attribute("classname") = ("racehunt." + name).c_str();
        tc.append_attribute("name") = xml_text(s.python.empty() ? s.name : s.name + " [python " + s.python + "]").c_str();
        tc.append_attribute("time") = seconds;
        ++tests;
        time += seconds;
        if (s.failures > 0) {
            std::ostringstream msg;
            msg << s.failures << " of " << s.runs << " runs failed (" << percent(s.rate) << ", 95% "
                << interval_text(s.interval) << "); " << s.signatures.size() << " signature(s)";
            if (!failed)
                msg << "; within --fail-threshold";
            std::ostringstream body;
            for (const auto& sig : s.signatures) {
                body << sig.signature << ": " << sig.count << " run(s), " << percent(sig.rate) << " "
                     << interval_text(sig.interval) << "\n";
                for (const auto& r : sig.reasons)
                    body << "  " << r << "\n";
                body << "  replay: " << sig.replay << "\n";
            }
            auto node = tc.append_child(harness_error ? "error" : failed ? "failure" : "system-err");
            if (failed || harness_error) {
                node.append_attribute("message") = xml_text(msg.str()).c_str();
                node.append_attribute("type") = s.signatures.empty() ? "racehunt" : xml_text(s.signatures[0].signature).c_str();
                set_text(node, body.str());
            } else {
                set_text(node, msg.str() + "\n" + body.str());
            }
            if (failed && !harness_error)
                ++failures;
            if (harness_error)
                ++errors;
            if (!s.signatures.empty() && !s.signatures[0].excerpt.empty()) {
                std::string excerpt = "first failure (" + s.signatures[0].signature + "), run " +
                                      std::to_string(s.signatures[0].first_run) + ":\n";
                for (const auto& l : s.signatures[0].excerpt)
                    excerpt += l + "\n";
                set_text(tc.append_child("system-out"), excerpt);
            }
        }
    }
    suites.append_attribute("tests") = tests;
    suites.append_attribute("failures") = failures;
    suites.append_attribute("errors") = errors;
    suites.append_attribute("time") = summary.elapsed_s > 0 ? summary.elapsed_s : time;
    std::ostringstream out;
    doc.save(out, "  ", pugi::format_default, pugi::encoding_utf8);
    return out.str();
}

} // namespace racehunt
