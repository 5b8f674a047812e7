// `racehunt merge`: shards' results.jsonl files into one campaign. Streams every line once
// (a million lines need neither the records nor the lines in memory, only per-scenario
// counts and a bit per run index), reports runs missing or recorded twice, and gives the
// statistics the same campaign would have given unsharded: the summary is built by the
// same SummaryBuilder, and "first failure" is the lowest run index, not the first line.
#include "cli/cli.hpp"
#include "cli/options.hpp"
#include "report/console.hpp"
#include "report/write_reports.hpp"
#include "report/results_file.hpp"
#include "report/summary.hpp"
#include "util/error.hpp"
#include "util/file.hpp"
#include "util/strings.hpp"

#include <boost/program_options.hpp>


#include <map>
#include <set>
#include <tuple>
#include <memory>

namespace racehunt {

namespace fs = std::filesystem;
namespace po = boost::program_options;

namespace {

struct MergeOptions {
    std::vector<std::string> files;
    std::optional<std::string> out, json, junit, fail_threshold;
    bool quiet = false, no_color = false;
};

MergeOptions parse_merge_options(const std::vector<std::string>& args) {
    po::variables_map vm = parse_command_line(args, merge_options(), "files", "merge");
    MergeOptions o;
    if (vm.count("files"))
        o.files = vm["files"].as<std::vector<std::string>>();
    if (o.files.empty())
        throw util::usage_error("racehunt merge", "no results files given",
                                "racehunt merge shard-1/results.jsonl shard-2/results.jsonl ...");
    auto str = [&](const char* k) -> std::optional<std::string> {
        return vm.count(k) ? std::optional(vm[k].as<std::string>()) : std::nullopt;
    };
    o.out = str("out");
    o.json = str("json");
    o.junit = str("junit");
    o.fail_threshold = str("fail-threshold");
    o.quiet = vm["quiet"].as<bool>();
    o.no_color = vm["no-color"].as<bool>();
    return o;
}

// One scenario's campaign as the shards recorded it.
struct Group {
    std::string name;
    std::uint64_t campaign_seed = 0;
    std::uint64_t planned = 0;
    std::string python;
    std::vector<bool> seen; // by run index
    std::uint64_t duplicates = 0;
    std::unique_ptr<SummaryBuilder> builder;
};

} // namespace

ExitCode cmd_merge(const std::vector<std::string>& args, Session& session) {
    const MergeOptions o = parse_merge_options(args);
    Console console(Console::stderr_is_tty(), Console::want_color(o.no_color), o.quiet);
    std::optional<double> threshold;
    if (o.fail_threshold)
        threshold = parse_rate(*o.fail_threshold, "--fail-threshold");
    for (const auto& f : o.files) {
        std::error_code ec;
        if (!fs::is_regular_file(f, ec))
            throw util::usage_error(f, "no such results file", "give the results.jsonl of each shard");
    }
    const fs::path out = fs::absolute(o.out ? fs::path(*o.out) : fs::path("racehunt-out") / "merged").lexically_normal();
    util::ensure_writable_dir(out, o.out ? "--out" : "--out (default " + out.string() + ")");
    std::optional<fs::path> json_file, junit_file;
    if (o.json)
        json_file = output_file(*o.json, "--json");
    if (o.junit)
        junit_file = output_file(*o.junit, "--junit");
    for (const auto& f : o.files)
        if (fs::absolute(f).lexically_normal() == (out / "results.jsonl"))
            throw util::usage_error("--out", "the merged results would overwrite the input " + f,
                                    "choose another --out directory");

    console.header("racehunt: merging " + std::to_string(o.files.size()) + " results file(s) into " +
                   out.string());
    util::AppendFile merged;
    merged.open(out / "results.jsonl", /*truncate=*/true);
    // A campaign is a scenario on one interpreter under one campaign seed.
    using Key = std::tuple<std::string, std::string, std::uint64_t>;
    std::map<Key, Group> groups;
    std::vector<Key> order;
    bool write_failed = false;
    std::uint64_t lines = 0;
    for (const auto& f : o.files) {
        if (session.interrupted.load())
            return ExitCode::Interrupted;
        ResultsFileInfo info = read_results(f, [&](RunRecord&& r, const std::string& line, std::uint64_t number) {
            // One bit per run index: indices come from files, so they are bounded first.
            constexpr std::uint64_t kMaxRuns = std::uint64_t{1} << 32;
            if (r.run >= kMaxRuns || r.planned > kMaxRuns || (r.planned && r.run >= r.planned))
                throw util::usage_error(f + ":" + std::to_string(number),
                                        "run index " + std::to_string(r.run) + " of " + std::to_string(r.planned) +
                                            " planned runs is out of range",
                                        "results files hold the lines racehunt wrote; this one was altered");
            Key key{r.scenario, r.python, r.campaign_seed};
            auto [it, fresh] = groups.try_emplace(key);
            Group& g = it->second;
            if (fresh) {
                order.push_back(key);
                g.name = r.scenario;
                g.campaign_seed = r.campaign_seed;
                g.python = r.python;
            }
            if (r.planned > g.planned)
                g.planned = r.planned;
            if (r.run >= g.seen.size())
                g.seen.resize(std::max<std::size_t>(r.run + 1, g.planned), false);
            if (g.seen[r.run]) {
                ++g.duplicates;
                return; // the same run twice: counted once
            }
            g.seen[r.run] = true;
            if (!g.builder)
                g.builder = std::make_unique<SummaryBuilder>(r.scenario, "", 0);
            g.builder->add(r);
            ++lines;
            if (!merged.write(line + "\n"))
                write_failed = true;
        });
        if (info.truncated_tail)
            console.warning(f + ": its last line was cut short (a shard killed while writing it); "
                                "that run is counted as missing");
    }

    if (lines == 0)
        throw util::usage_error(o.files.size() == 1 ? o.files[0] : "racehunt merge",
                                "the results files hold no run: nothing to merge",
                                "check that the shards ran and wrote their results.jsonl");
    CampaignSummary summary;
    summary.version = RACEHUNT_VERSION;
    summary.stop_reason = "merged";
    summary.fail_threshold = threshold;
    bool incomplete = false;
    for (const auto& key : order) {
        Group& g = groups[key];
        ScenarioSummary s = g.builder->finish();
        s.planned = std::max<std::uint64_t>(g.planned, g.seen.size());
        s.python = g.python;
        s.duplicates = g.duplicates;
        std::uint64_t missing = 0;
        for (std::uint64_t i = 0; i < s.planned; ++i) {
            if (i < g.seen.size() && g.seen[i])
                continue;
            ++missing;
            if (s.missing_examples.size() < 20)
                s.missing_examples.push_back(i);
        }
        s.missing = missing;
        s.campaign_seed = g.campaign_seed;
        summary.campaign_seed = g.campaign_seed;
        if (missing || g.duplicates) {
            std::string text = "scenario " + g.name + (g.python.empty() ? "" : " on python " + g.python) +
                               " (campaign seed " + std::to_string(g.campaign_seed) + "): ";
            if (missing) {
                incomplete = true;
                text += std::to_string(missing) + " of " + std::to_string(s.planned) + " runs missing (first: ";
                for (std::size_t i = 0; i < s.missing_examples.size() && i < 5; ++i)
                    text += (i ? ", " : "") + std::to_string(s.missing_examples[i]);
                text += ")";
            }
            if (g.duplicates)
                text += std::string(missing ? "; " : "") + std::to_string(g.duplicates) +
                        " run(s) recorded more than once, counted once";
            console.warning(text);
        }
        summary.scenarios.push_back(std::move(s));
    }
    if (groups.size() > 1) {
        std::set<std::pair<std::string, std::string>> seen;
        for (const auto& [name, python, seed] : order)
            if (!seen.insert({name, python}).second)
                console.warning("scenario " + name + " appears with different campaign seeds; each is "
                                "summarized on its own");
    }
    std::string written = (out / "results.jsonl").string();
    try {
        written += ", " + write_reports(summary, out, json_file, junit_file);
    } catch (const util::Error& e) {
        console.warning(e.what());
        write_failed = true;
    }
    console.note("merged " + std::to_string(lines) + " run(s) from " + std::to_string(o.files.size()) +
                 " file(s)" + (incomplete ? "; the campaign is incomplete" : ""));
    console.summary(summary, "results: " + written);
    if (write_failed)
        return ExitCode::Internal;
    return summary.failed() ? ExitCode::Failures : ExitCode::Ok;
}

} // namespace racehunt
