// `racehunt minimize`: shrink a failing run to the perturbations that matter.
//
// 1. Replay the seed until it fails; that run's perturbations (switch interval, shim
//    decisions, Python yields) are the starting set, its signature is "the failure".
// 2. Every candidate subset is judged by runs pinned to it (only those perturbations are
//    applied): it reproduces when K of N runs fail with the same signature (--confirm).
// 3. The empty set first (did the failure need any perturbation?), then whole layers, then
//    groups (one thread's decisions), then ddmin down to single decisions.
// 4. The result is measured once more (--final-runs) and written as a .pins file with the
//    replay command that applies exactly it.
#include "analysis/decisions.hpp"
#include "analysis/stats.hpp"
#include "campaign/campaign.hpp"
#include "cli/cli.hpp"
#include "cli/options.hpp"
#include "minimize/ddmin.hpp"
#include "pool/pool.hpp"
#include "scenario/scenario.hpp"
#include "util/duration.hpp"
#include "util/error.hpp"
#include "util/file.hpp"
#include "util/strings.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <sstream>
#include <tuple>

namespace racehunt {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr int kSearchRuns = 20; // replays of the seed to find one failing run

struct Item {
    enum Kind { Switch, Shim, Yield, Loop } kind;
    std::size_t index; // into Pins::shim, Pins::yields or Pins::loop
};

Pins subset_pins(const Pins& all, const std::vector<Item>& items, const Subset& s) {
    Pins p;
    for (std::size_t i : s) {
        const Item& it = items[i];
        if (it.kind == Item::Switch)
            p.switch_interval = all.switch_interval;
        else if (it.kind == Item::Shim)
            p.shim.push_back(all.shim[it.index]);
        else if (it.kind == Item::Yield)
            p.yields.push_back(all.yields[it.index]);
        else
            p.loop.push_back(all.loop[it.index]);
    }
    return p;
}

std::string count_layers(const Pins& p) {
    std::ostringstream o;
    o << p.size() << " perturbation(s)";
    std::vector<std::string> parts;
    if (p.switch_interval)
        parts.push_back("switch interval");
    if (!p.shim.empty())
        parts.push_back(std::to_string(p.shim.size()) + " shim");
    if (!p.yields.empty())
        parts.push_back(std::to_string(p.yields.size()) + " yield");
    if (!p.loop.empty())
        parts.push_back(std::to_string(p.loop.size()) + " asyncio");
    if (!parts.empty()) {
        o << " (";
        for (std::size_t i = 0; i < parts.size(); ++i)
            o << (i ? ", " : "") << parts[i];
        o << ")";
    }
    return o.str();
}

// A candidate's name in minimize.jsonl: a hash of its item indices (FNV-1a 64).
std::string candidate_key(const Subset& sub) {
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (std::size_t i : sub) {
        for (int b = 0; b < 8; ++b) {
            h ^= (static_cast<std::uint64_t>(i) >> (8 * b)) & 0xff;
            h *= 0x100000001b3ull;
        }
    }
    return std::to_string(sub.size()) + ":" + util::hex64(h);
}

std::string percent_interval(int k, int n) {
    Interval iv = wilson_interval(static_cast<std::uint64_t>(k), static_cast<std::uint64_t>(n));
    char buf[96];
    std::snprintf(buf, sizeof buf, "%.0f%% [%.0f–%.0f%%, 95%% Wilson]", n ? 100.0 * k / n : 0.0,
                  100 * iv.low, 100 * iv.high);
    return buf;
}

// Runs of one seed, several at a time, with the verdict decided as early as it is certain.
class Trials {
public:
    Trials(CampaignConfig& c, std::uint64_t seed, Session& session)
        : c_(c), seed_(seed), session_(session), runner_(make_runner(c, start_note_, &session.cancel)) {
        if (!start_note_.empty())
            std::fprintf(stderr, "racehunt: %s\n", start_note_.c_str());
    }

    struct Tally {
        int runs = 0, matched = 0;
        std::optional<RunRecord> first_match; // kept on disk when asked for
        std::vector<std::string> signatures;  // of failures that did not match
    };

    // Up to `n` runs under `pins` (null: unpinned); stops once `k` runs failed with
    // `signature` (any failure when empty) or once that can no longer happen. With
    // `stop_at_first`, stops at the first match. Artifacts of matched runs are deleted
    // unless `keep`.
    // With `measure`, all n runs are made (a rate, not a verdict).
    Tally run(std::shared_ptr<const Pins> pins, int k, int n, const std::string& signature, bool keep,
              bool measure = false) {
        c_.pins = std::move(pins);
        Tally t;
        std::mutex mutex;
        while (t.runs < n && (measure || (t.matched < k && (n - t.runs) >= (k - t.matched)))) {
            if (session_.interrupted.load())
                break;
            // Never start more runs than could still change the verdict.
            const int batch = measure ? std::min(c_.jobs, n - t.runs)
                                      : std::min({c_.jobs, n - t.runs, k - t.matched});
            PoolOptions po;
            po.jobs = c_.jobs;
            std::vector<RunRecord> done;
            auto execute = [&](std::uint64_t, Cancellation& cx) -> TaskResult {
                std::uint64_t index;
                {
                    std::lock_guard lock(mutex);
                    index = next_index_++;
                }
                ExecutedRun ex = execute_run(c_, *runner_, index, seed_, cx);
                if (ex.cancelled)
                    return {true, false};
                std::lock_guard lock(mutex);
                done.push_back(std::move(ex.record));
                return {false, is_failure(done.back().outcome)};
            };
            run_pool(static_cast<std::uint64_t>(batch), po, execute, session_.cancel);
            for (auto& r : done) {
                ++t.runs;
                const bool failed = is_failure(r.outcome) && r.outcome != Outcome::Error;
                const bool match = failed && (signature.empty() || r.signature == signature);
                if (r.outcome == Outcome::Error)
                    throw util::internal_error("racehunt minimize",
                                               "a run could not be carried out: " +
                                                   (r.reasons.empty() ? r.signature : r.reasons[0]));
                if (failed && !match)
                    t.signatures.push_back(r.signature);
                if (match && !t.first_match && keep) {
                    t.first_match = r;
                } else if (r.artifacts) {
                    std::error_code ec;
                    fs::remove_all(*r.artifacts, ec);
                }
                if (match)
                    ++t.matched;
            }
        }
        return t;
    }

    std::uint64_t runs_made() const { return next_index_; }

private:
    CampaignConfig& c_;
    std::uint64_t seed_;
    Session& session_;
    std::string start_note_;
    std::unique_ptr<ProcessRunner> runner_;
    std::uint64_t next_index_ = 0;
};

} // namespace

ExitCode cmd_minimize(const std::vector<std::string>& args, Session& session) {
    SeedCommand sc = prepare_seed_command(args, CommandKind::Minimize);
    const RunOptions& o = sc.options;
    CampaignConfig& c = sc.config;
    const Scenario s = c.scenario;
    const std::uint64_t seed = sc.seed;
    // Plain variables, not a structured binding: lambdas below capture them (clang 14,
    // which builds the fuzzers, cannot capture bindings).
    const std::pair<int, int> confirm = o.confirm ? parse_confirm(*o.confirm) : std::pair<int, int>{3, 5};
    const int k = confirm.first, n = confirm.second;
    const int final_runs = static_cast<int>(o.final_runs.value_or(20));
    const Nanos budget = o.time_budget ? *util::parse_duration(*o.time_budget)
                                       : Nanos(std::chrono::minutes(10));
    const auto start = std::chrono::steady_clock::now();
    auto out_of_time = [&] {
        return session.interrupted.load() || std::chrono::steady_clock::now() - start > budget;
    };
    auto say = [&](const std::string& line) {
        if (!o.quiet)
            std::fprintf(stderr, "racehunt: %s\n", line.c_str());
    };
    // --resume: the verdicts of an earlier, interrupted minimization of the same seed, by
    // candidate. The shrinking is deterministic given the verdicts, so it walks the same
    // path again, instantly, up to where the earlier session stopped.
    const fs::path log_path = c.out_dir / "minimize.jsonl";
    std::map<std::string, bool> cached;
    std::string signature;
    fs::path failing_dir;
    std::uint64_t earlier_items = 0;
    if (o.resume_minimize) {
        const std::string text = util::read_file(log_path);
        std::istringstream in(text);
        std::string line;
        std::uint64_t good = 0, offset = 0;
        while (std::getline(in, line)) {
            offset += line.size() + 1;
            json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
            if (!j.is_object() || offset > text.size())
                continue; // a line cut short by a kill
            good = offset;
            if (j.value("step", "") == "start") {
                if (j.value("confirm", "") != std::to_string(k) + "/" + std::to_string(n))
                    throw util::usage_error("--confirm", "the earlier session judged candidates at " +
                                                             j.value("confirm", std::string("?")),
                                            "resume with --confirm " + j.value("confirm", std::string("?")));
                if (j.value("seed", "") != util::hex64(seed))
                    throw util::usage_error("--resume", log_path.string() + " minimized seed " + j.value("seed", "?"),
                                            "resume with --seed " + j.value("seed", "?") + ", or choose another --out");
                signature = j.value("signature", "");
                failing_dir = j.value("failing_run", "");
                earlier_items = j.value("items", std::uint64_t{0});
            } else if (j.contains("candidate")) {
                cached[j["candidate"].get<std::string>()] = j.value("reproduces", false);
            }
        }
        std::error_code ec;
        if (signature.empty() || !fs::is_directory(failing_dir, ec))
            throw util::usage_error("--resume", "no minimization to resume in " + c.out_dir.string(),
                                    "run it without --resume first (the same --out)");
        if (good < text.size())
            fs::resize_file(log_path, good, ec); // drop the cut line before appending
    }
    util::AppendFile log;
    log.open(log_path, /*truncate=*/!o.resume_minimize);

    say("minimizing " + s.name + " seed " + util::hex64(seed) + ": a candidate reproduces when " +
        std::to_string(k) + " of " + std::to_string(n) + " runs fail the same way; budget " +
        util::format_duration(budget) + ", -j " + std::to_string(c.jobs));
    Trials trials(c, seed, session);

    // 1. A failing run of the seed, and what failed (resuming: the one found before).
    if (!o.resume_minimize) {
        Trials::Tally found = trials.run(nullptr, 1, kSearchRuns, "", true);
        if (session.interrupted.load())
            return ExitCode::Interrupted;
        if (!found.first_match) {
            std::printf("seed %s did not fail in %d run(s): nothing to minimize\n",
                        util::hex64(seed).c_str(), found.runs);
            return ExitCode::Ok;
        }
        signature = found.first_match->signature;
        failing_dir = found.first_match->artifacts ? fs::path(*found.first_match->artifacts) : fs::path();
        say("run " + std::to_string(found.runs) + " of the replays failed: " + signature);
    } else {
        say("resuming: " + std::to_string(cached.size()) + " verdict(s) from the earlier session; the failing run " +
            failing_dir.string());
    }
    std::optional<double> planned_interval =
        plan_jitter(c.profile, c.jitter, seed, c.focus).switch_interval;
    std::size_t unpinnable = 0;
    const Pins all = collect_decisions(failing_dir, planned_interval, &unpinnable);
    say("the failing run's perturbations: " + count_layers(all));
    if (o.resume_minimize && earlier_items && earlier_items != all.size())
        throw util::internal_error("racehunt minimize --resume",
                                   "the failing run now holds " + std::to_string(all.size()) +
                                       " perturbations, the earlier session saw " + std::to_string(earlier_items),
                                   "start again without --resume");
    if (!o.resume_minimize)
        log.write(json({{"step", "start"}, {"seed", util::hex64(seed)}, {"signature", signature},
                        {"failing_run", failing_dir.string()}, {"items", all.size()},
                        {"confirm", std::to_string(k) + "/" + std::to_string(n)}})
                      .dump() +
                  "\n");
    if (unpinnable)
        say("warning: " + std::to_string(unpinnable) +
            " perturbation(s) of earlier program images (exec) cannot be pinned and are left out");

    std::vector<Item> items;
    if (all.switch_interval)
        items.push_back({Item::Switch, 0});
    for (std::size_t i = 0; i < all.shim.size(); ++i)
        items.push_back({Item::Shim, i});
    for (std::size_t i = 0; i < all.yields.size(); ++i)
        items.push_back({Item::Yield, i});
    for (std::size_t i = 0; i < all.loop.size(); ++i)
        items.push_back({Item::Loop, i});
    Subset everything(items.size());
    for (std::size_t i = 0; i < items.size(); ++i)
        everything[i] = i;

    std::string step = "start";
    auto test = [&](const Subset& sub) {
        auto pins = std::make_shared<const Pins>(subset_pins(all, items, sub));
        const std::string key = candidate_key(sub);
        if (auto hit = cached.find(key); hit != cached.end()) {
            say("  " + step + ": " + count_layers(*pins) + ": " +
                (hit->second ? "reproduces" : "does not reproduce") + " (verdict of the earlier session)");
            return hit->second;
        }
        Trials::Tally t = trials.run(pins, k, n, signature, false);
        const bool ok = t.matched >= k;
        say("  " + step + ": " + count_layers(*pins) + ": " + std::to_string(t.matched) + "/" +
            std::to_string(t.runs) + " failed -> " + (ok ? "reproduces" : "does not reproduce"));
        json line = {{"step", step}, {"size", sub.size()}, {"runs", t.runs}, {"matched", t.matched},
                     {"reproduces", ok}, {"other_failures", t.signatures}, {"candidate", key}};
        log.write(line.dump() + "\n");
        return ok;
    };
    Shrinker shrinker(test, out_of_time);

    // 2. No perturbation at all?
    Subset result = everything;
    bool complete = false;
    std::string note;
    step = "no perturbation";
    if (shrinker.reproduces({})) {
        result.clear();
        complete = true;
        note = "the failure did not need any perturbation: it fails without racehunt's jitter";
    } else {
        step = "all pinned";
        if (!everything.empty() && !shrinker.reproduces(everything)) {
            note = "with all its perturbations pinned the failure did not reproduce " +
                   std::to_string(k) + " of " + std::to_string(n) +
                   " times; it depends on timing racehunt does not control, so the set was not "
                   "shrunk";
        } else if (!everything.empty()) {
            // 3. Whole layers, then one thread's decisions at a time, then single decisions.
            step = "layers";
            std::vector<Subset> layers(4);
            for (std::size_t i = 0; i < items.size(); ++i)
                layers[items[i].kind].push_back(i);
            result = shrinker.drop_groups(result, layers);
            step = "threads";
            std::map<std::tuple<int, std::uint64_t, std::uint32_t>, Subset> by_thread;
            for (std::size_t i : result) {
                const Item& it = items[i];
                if (it.kind == Item::Shim)
                    by_thread[{1, all.shim[it.index].key, all.shim[it.index].thread}].push_back(i);
                else if (it.kind == Item::Yield)
                    by_thread[{2, all.yields[it.index].key, all.yields[it.index].thread}].push_back(i);
                else if (it.kind == Item::Loop)
                    by_thread[{3, all.loop[it.index].key, all.loop[it.index].loop}].push_back(i);
            }
            std::vector<Subset> groups;
            for (auto& [key, g] : by_thread)
                if (g.size() < result.size())
                    groups.push_back(g);
            result = shrinker.drop_groups(result, groups);
            step = "decisions";
            ShrinkResult r = shrinker.ddmin(result);
            result = r.items;
            complete = r.complete;
            if (!complete)
                note = session.interrupted.load()
                           ? "interrupted: the set below is the smallest found so far, not minimal"
                           : "the time budget ran out: the set below is the smallest found so far, "
                             "not minimal";
        }
    }
    if (session.interrupted.load())
        return ExitCode::Interrupted;

    // 4. Measure the result and write it down.
    const Pins minimal = subset_pins(all, items, result);
    step = "final";
    auto minimal_pins = std::make_shared<const Pins>(minimal);
    Trials::Tally final = trials.run(minimal_pins, final_runs, final_runs, signature, false, /*measure=*/true);
    // Then a readable interleaving: the rate above was measured under the same timing as the
    // verdicts (no tracing); tracing slows focus code, so it gets runs of its own, until
    // one fails (at most 5).
    std::optional<fs::path> interleaving;
    c.trace = true;
    Trials::Tally traced = final.matched ? trials.run(minimal_pins, 1, 5, signature, /*keep=*/true) : Trials::Tally{};
    c.trace = false;
    if (traced.first_match && traced.first_match->artifacts) {
        const fs::path run_dir(*traced.first_match->artifacts);
        if (fs::exists(run_dir / "interleaving.txt")) {
            std::error_code ec;
            fs::copy_file(run_dir / "interleaving.txt", c.out_dir / "interleaving.txt",
                          fs::copy_options::overwrite_existing, ec);
            fs::copy_file(run_dir / "interleaving.html", c.out_dir / "interleaving.html",
                          fs::copy_options::overwrite_existing, ec);
            if (!ec)
                interleaving = c.out_dir / "interleaving.txt";
        }
    }
    const fs::path pins_file = c.out_dir / "minimal.pins";
    util::write_file_atomic(
        pins_file, pins_to_text(minimal, "minimal perturbations for " + signature + "\nscenario " +
                                             s.name + ", seed " + util::hex64(seed) +
                                             "; reproduces " + std::to_string(final.matched) + "/" +
                                             std::to_string(final.runs)));
    c.pins_arg = pins_file.string();
    c.pins = nullptr;

    std::printf("racehunt minimize: %s, seed %s\n", s.name.c_str(), util::hex64(seed).c_str());
    std::printf("  failure: %s\n", signature.c_str());
    std::printf("  started from %s; %zu candidate(s) tested in %.0f s, %llu run(s)\n",
                count_layers(all).c_str(), shrinker.tests(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
                static_cast<unsigned long long>(trials.runs_made()));
    if (!note.empty())
        std::printf("  %s\n", note.c_str());
    if (!failing_dir.empty())
        std::printf("  the failing run: %s\n", failing_dir.c_str());
    std::printf("\n%s set: %s\n", complete ? "minimal" : "smallest", count_layers(minimal).c_str());
    int number = 0;
    if (minimal.switch_interval)
        std::printf("  %d. %s\n", ++number, describe_switch_interval(*minimal.switch_interval).c_str());
    for (const auto& p : minimal.yields)
        std::printf("  %d. %s\n", ++number, describe(p).c_str());
    for (const auto& p : minimal.shim)
        std::printf("  %d. %s\n", ++number, describe(p).c_str());
    for (const auto& p : minimal.loop)
        std::printf("  %d. %s\n", ++number, describe(p).c_str());
    std::printf("reproduces %d/%d: %s\n", final.matched, final.runs,
                percent_interval(final.matched, final.runs).c_str());
    std::printf("written: %s, %s\n", pins_file.c_str(), (c.out_dir / "minimize.jsonl").c_str());
    if (interleaving)
        std::printf("interleaving of a failing replay: %s (and .html)\n", interleaving->c_str());
    std::printf("minimal: %zu perturbation(s), reproduces %d/%d\n", minimal.size(), final.matched,
                final.runs);
    std::printf("%s --repeat %d\n", replay_command(c, seed).c_str(), final_runs);
    return ExitCode::Failures;
}

} // namespace racehunt
