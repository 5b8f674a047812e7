// `racehunt compare BEFORE.json AFTER.json`: did the failure rate change? Per scenario (and
// interpreter) found in both summaries, Fisher's exact test on failures/runs before and
// after, said in plain words. Exit 1 when some failure rate rose significantly (a
// regression), 0 otherwise, 2 for bad input.
#include "analysis/stats.hpp"
#include "cli/cli.hpp"
#include "cli/options.hpp"
#include "util/error.hpp"
#include "util/file.hpp"

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <map>

namespace racehunt {

namespace {

struct Rate {
    std::uint64_t failures = 0, runs = 0;
};

using Key = std::pair<std::string, std::string>; // scenario, python

std::map<Key, Rate> read_summary(const std::string& file) {
    std::string text = util::read_file(file);
    if (text.empty())
        throw util::usage_error(file, "cannot read this summary", "give two summary.json files racehunt wrote");
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
        throw util::usage_error(file + ":" + std::to_string(e.byte), "not JSON: " + std::string(e.what()),
                                "give a summary.json written by racehunt run or merge");
    }
    if (!j.is_object() || !j.contains("scenarios") || !j["scenarios"].is_array())
        throw util::usage_error(file, "not a racehunt summary (no \"scenarios\" list)",
                                "give a summary.json written by racehunt run or merge");
    std::map<Key, Rate> out;
    for (const auto& s : j["scenarios"]) {
        try {
            Key key{s.at("scenario").get<std::string>(), s.value("python", std::string())};
            Rate& r = out[key];
            const auto failures = s.at("failures").get<std::uint64_t>();
            const auto runs = s.at("runs").get<std::uint64_t>();
            if (failures > runs)
                throw util::usage_error(file, "scenario \"" + key.first + "\" has " + std::to_string(failures) +
                                                  " failures in " + std::to_string(runs) + " runs",
                                        "give a summary.json written by racehunt run or merge");
            r.failures += failures;
            r.runs += runs;
        } catch (const nlohmann::json::exception& e) {
            throw util::usage_error(file, std::string("a scenario entry lacks its counts: ") + e.what(),
                                    "give a summary.json written by racehunt run or merge");
        }
    }
    return out;
}

std::string pct(double v) {
    char b[32];
    if (v > 0 && v < 0.001)
        std::snprintf(b, sizeof b, "%.3f%%", 100 * v);
    else
        std::snprintf(b, sizeof b, "%.2g%%", 100 * v);
    std::string s = b;
    if (s.find('e') != std::string::npos) {
        std::snprintf(b, sizeof b, "%.1f%%", 100 * v);
        s = b;
    }
    return s;
}

std::string rate_text(const Rate& r) {
    if (r.runs == 0)
        return "no runs";
    if (r.failures == 0)
        return "0/" + std::to_string(r.runs) + " (< " + pct(zero_failures_upper_bound(r.runs)) + ")";
    Interval i = wilson_interval(r.failures, r.runs);
    return pct(static_cast<double>(r.failures) / static_cast<double>(r.runs)) + " [" + pct(i.low) + "–" +
           pct(i.high) + "] (" + std::to_string(r.failures) + "/" + std::to_string(r.runs) + ")";
}

std::string p_text(double p) {
    if (p < 1e-9)
        return "p < 1e-9";
    char b[32];
    std::snprintf(b, sizeof b, p < 0.001 ? "p = %.1e" : "p = %.3g", p);
    return b;
}

namespace po = boost::program_options;

} // namespace

ExitCode cmd_compare(const std::vector<std::string>& args, Session&) {
    po::variables_map vm = parse_command_line(args, compare_options(), "files", "compare");
    std::vector<std::string> files;
    if (vm.count("files"))
        files = vm["files"].as<std::vector<std::string>>();
    double alpha = 0.05;
    if (vm.count("alpha")) {
        const std::string text = vm["alpha"].as<std::string>();
        char* end = nullptr;
        alpha = std::strtod(text.c_str(), &end);
        if (text.empty() || *end || !(alpha > 0 && alpha < 1))
            throw util::usage_error("--alpha", "\"" + text + "\" is not a significance level",
                                    "give a number between 0 and 1, e.g. 0.01");
    }
    if (files.size() != 2)
        throw util::usage_error("racehunt compare", "needs two summaries, before and after",
                                "racehunt compare BEFORE/summary.json AFTER/summary.json; see racehunt compare --help");
    auto before = read_summary(files[0]);
    auto after = read_summary(files[1]);
    // Interpreter versions that do not pair up (a patch upgrade, an older summary without
    // them) fall back to the scenario name when each side has that scenario once.
    auto by_name = [](const std::map<Key, Rate>& m) {
        std::map<std::string, std::vector<Key>> out;
        for (const auto& [k, r] : m)
            out[k.first].push_back(k);
        return out;
    };
    {
        auto bn = by_name(before), an = by_name(after);
        for (auto& [name, bkeys] : bn) {
            auto it = an.find(name);
            if (it == an.end() || bkeys.size() != 1 || it->second.size() != 1 || bkeys[0] == it->second[0])
                continue;
            Rate r = after[it->second[0]];
            after.erase(it->second[0]);
            after[bkeys[0]] = r;
        }
    }
    bool regression = false;
    std::size_t compared = 0;
    for (const auto& [key, b] : before) {
        auto it = after.find(key);
        if (it == after.end())
            continue;
        const Rate& a = it->second;
        ++compared;
        const double p = fisher_exact_two_sided(b.failures, b.runs, a.failures, a.runs);
        const double rb = b.runs ? static_cast<double>(b.failures) / static_cast<double>(b.runs) : 0;
        const double ra = a.runs ? static_cast<double>(a.failures) / static_cast<double>(a.runs) : 0;
        std::string name = key.first + (key.second.empty() ? "" : " (python " + key.second + ")");
        std::string verdict;
        if (p >= alpha) {
            verdict = "failure rate " + rate_text(b) + " before, " + rate_text(a) + " after; " + p_text(p) +
                      ": no significant change";
            if (b.failures && !a.failures)
                verdict += " (not enough runs after to say the fix holds)";
        } else if (ra < rb) {
            verdict = "failure rate fell from " + rate_text(b) + " to " + rate_text(a) + "; " + p_text(p) +
                      (a.failures == 0 ? ": the fix holds" : ": fewer failures, but not none");
        } else {
            verdict = "failure rate rose from " + rate_text(b) + " to " + rate_text(a) + "; " + p_text(p) +
                      ": a regression";
            regression = true;
        }
        std::printf("%s: %s\n", name.c_str(), verdict.c_str());
    }
    for (const auto& [key, b] : before)
        if (!after.count(key))
            std::printf("%s: only in %s\n", key.first.c_str(), files[0].c_str());
    for (const auto& [key, a] : after)
        if (!before.count(key))
            std::printf("%s: only in %s\n", key.first.c_str(), files[1].c_str());
    if (compared == 0)
        throw util::usage_error("racehunt compare", "the two summaries have no scenario in common",
                                "compare runs of the same scenario");
    return regression ? ExitCode::Failures : ExitCode::Ok;
}

} // namespace racehunt
