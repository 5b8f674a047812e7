#include "minimize/session.hpp"

#include "analysis/decisions.hpp"
#include "minimize/ddmin.hpp"
#include "minimize/items.hpp"
#include "minimize/journal.hpp"
#include "minimize/trials.hpp"
#include "util/duration.hpp"
#include "util/error.hpp"
#include "util/file.hpp"
#include "util/strings.hpp"

#include <map>

namespace racehunt {

namespace fs = std::filesystem;

namespace {

constexpr int kSearchRuns = 20; // replays of the seed to find one failing run

} // namespace

MinimizeResult minimize_seed(const CampaignConfig& c, const MinimizeRequest& request,
                             const MinimizeHooks& hooks) {
    const std::uint64_t seed = request.seed;
    const int k = request.k, n = request.n;
    MinimizeResult out;
    out.start = std::chrono::steady_clock::now();
    out.journal = journal_path(c.out_dir);
    auto out_of_time = [&] {
        return hooks.interrupted.load() || std::chrono::steady_clock::now() - out.start > request.budget;
    };
    const auto& say = hooks.progress;

    // --resume: the verdicts of the earlier session, by candidate.
    EarlierSession earlier;
    if (request.resume)
        earlier = read_journal(c.out_dir, seed, k, n);
    Journal journal;
    journal.open(c.out_dir, /*append=*/request.resume);

    say("minimizing " + c.scenario.name + " seed " + util::hex64(seed) + ": a candidate reproduces when " +
        std::to_string(k) + " of " + std::to_string(n) + " runs fail the same way; budget " +
        util::format_duration(request.budget) + ", -j " + std::to_string(c.jobs));
    Trials trials(c, seed, hooks.cancel, hooks.interrupted);
    if (!trials.start_note().empty())
        hooks.notice(trials.start_note());

    // 1. A failing run of the seed, and what failed (resuming: the one found before).
    if (!request.resume) {
        Trial search;
        search.k = 1;
        search.n = kSearchRuns;
        search.keep = true;
        Tally found = trials.run(search);
        if (hooks.interrupted.load()) {
            out.end = MinimizeResult::End::Interrupted;
            return out;
        }
        if (!found.first_match) {
            out.end = MinimizeResult::End::NoFailure;
            out.search_runs = found.runs;
            return out;
        }
        out.signature = found.first_match->signature;
        out.failing_run = found.first_match->artifacts ? fs::path(*found.first_match->artifacts) : fs::path();
        say("run " + std::to_string(found.runs) + " of the replays failed: " + out.signature);
    } else {
        out.signature = earlier.signature;
        out.failing_run = earlier.failing_run;
        say("resuming: " + std::to_string(earlier.verdicts.size()) +
            " verdict(s) from the earlier session; the failing run " + out.failing_run.string());
    }
    const std::string& signature = out.signature;
    std::optional<double> planned_interval = plan_jitter(c.profile, c.jitter, seed, c.focus).switch_interval;
    std::size_t unpinnable = 0;
    out.all = collect_decisions(out.failing_run, planned_interval, &unpinnable);
    const Pins& all = out.all;
    say("the failing run's perturbations: " + count_layers(all));
    if (request.resume && earlier.items && earlier.items != all.size())
        throw util::internal_error("racehunt minimize --resume",
                                   "the failing run now holds " + std::to_string(all.size()) +
                                       " perturbations, the earlier session saw " + std::to_string(earlier.items),
                                   "start again without --resume");
    if (!request.resume)
        journal.start(seed, signature, out.failing_run, all.size(), k, n);
    if (unpinnable)
        say("warning: " + std::to_string(unpinnable) +
            " perturbation(s) of earlier program images (exec) cannot be pinned and are left out");

    const std::vector<Item> items = items_of(all);
    Subset everything(items.size());
    for (std::size_t i = 0; i < items.size(); ++i)
        everything[i] = i;

    std::string step = "start";
    auto test = [&](const Subset& sub) {
        auto pins = std::make_shared<const Pins>(subset_pins(all, items, sub));
        const std::string key = candidate_key(sub);
        if (auto hit = earlier.verdicts.find(key); hit != earlier.verdicts.end()) {
            say("  " + step + ": " + count_layers(*pins) + ": " +
                (hit->second ? "reproduces" : "does not reproduce") + " (verdict of the earlier session)");
            return hit->second;
        }
        Trial candidate;
        candidate.pins = pins;
        candidate.k = k;
        candidate.n = n;
        candidate.signature = signature;
        Tally t = trials.run(candidate);
        const bool ok = t.matched >= k;
        say("  " + step + ": " + count_layers(*pins) + ": " + std::to_string(t.matched) + "/" +
            std::to_string(t.runs) + " failed -> " + (ok ? "reproduces" : "does not reproduce"));
        journal.verdict({step, sub.size(), t.runs, t.matched, ok, t.signatures, key});
        return ok;
    };
    Shrinker shrinker(test, out_of_time);

    // 2. No perturbation at all?
    Subset result = everything;
    step = "no perturbation";
    if (shrinker.reproduces({})) {
        result.clear();
        out.complete = true;
        out.note = "the failure did not need any perturbation: it fails without racehunt's jitter";
    } else {
        step = "all pinned";
        if (!everything.empty() && !shrinker.reproduces(everything)) {
            out.note = "with all its perturbations pinned the failure did not reproduce " + std::to_string(k) +
                       " of " + std::to_string(n) +
                       " times; it depends on timing racehunt does not control, so the set was not "
                       "shrunk";
        } else if (!everything.empty()) {
            // 3. Whole layers, then one thread's decisions at a time, then single decisions.
            step = "layers";
            result = shrinker.drop_groups(result, layer_groups(items));
            step = "threads";
            result = shrinker.drop_groups(result, thread_groups(all, items, result));
            step = "decisions";
            ShrinkResult r = shrinker.ddmin(result);
            result = r.items;
            out.complete = r.complete;
            if (!out.complete)
                out.note = hooks.interrupted.load()
                               ? "interrupted: the set below is the smallest found so far, not minimal"
                               : "the time budget ran out: the set below is the smallest found so far, "
                                 "not minimal";
        }
    }
    out.candidates = shrinker.tests();
    if (hooks.interrupted.load()) {
        out.end = MinimizeResult::End::Interrupted;
        return out;
    }

    // 4. Measure the result and write it down.
    out.minimal = subset_pins(all, items, result);
    auto minimal_pins = std::make_shared<const Pins>(out.minimal);
    Trial measure;
    measure.pins = minimal_pins;
    measure.k = measure.n = request.final_runs;
    measure.signature = signature;
    measure.measure = true;
    const Tally final = trials.run(measure);
    out.final_matched = final.matched;
    out.final_runs = final.runs;
    // Then a readable interleaving: the rate above was measured under the same timing as the
    // verdicts (no tracing); tracing slows focus code, so it gets runs of its own, until
    // one fails (at most 5).
    Trial traced_trial;
    traced_trial.pins = minimal_pins;
    traced_trial.k = 1;
    traced_trial.n = 5;
    traced_trial.signature = signature;
    traced_trial.keep = true;
    traced_trial.trace = true;
    const Tally traced = final.matched ? trials.run(traced_trial) : Tally{};
    if (traced.first_match && traced.first_match->artifacts) {
        const fs::path run_dir(*traced.first_match->artifacts);
        if (fs::exists(run_dir / "interleaving.txt")) {
            std::error_code ec;
            fs::copy_file(run_dir / "interleaving.txt", c.out_dir / "interleaving.txt",
                          fs::copy_options::overwrite_existing, ec);
            fs::copy_file(run_dir / "interleaving.html", c.out_dir / "interleaving.html",
                          fs::copy_options::overwrite_existing, ec);
            if (!ec)
                out.interleaving = c.out_dir / "interleaving.txt";
        }
    }
    out.pins_file = c.out_dir / "minimal.pins";
    util::write_file_atomic(out.pins_file,
                            pins_to_text(out.minimal, "minimal perturbations for " + signature + "\nscenario " +
                                                          c.scenario.name + ", seed " + util::hex64(seed) +
                                                          "; reproduces " + std::to_string(final.matched) + "/" +
                                                          std::to_string(final.runs)));
    out.runs = trials.runs_made();
    return out;
}

} // namespace racehunt
