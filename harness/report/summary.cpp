#include "report/summary.hpp"

#include "util/strings.hpp"

#include <algorithm>

namespace racehunt {

using nlohmann::json;

namespace {
const std::string kOtherWarnings = "(further distinct warnings, not listed one by one)";
}

SummaryBuilder::SummaryBuilder(std::string name, std::string file, std::uint64_t planned,
                               std::function<std::string(std::uint64_t)> replay)
    : replay_(std::move(replay)) {
    s_.name = std::move(name);
    s_.file = std::move(file);
    s_.planned = planned;
}

void SummaryBuilder::add(const RunRecord& r) {
    ++s_.runs;
    ++s_.outcomes[r.outcome];
    total_ms_ += r.duration_ms;
    if (!r.injected)
        ++s_.not_injected;
    for (const auto& w0 : r.warnings) {
        // Distinct warnings are kept up to a bound, so that a warning naming something of
        // each run (a pid) cannot make the summary grow with the campaign.
        constexpr std::size_t kMaxWarnings = 200;
        const std::string& w = warnings_.size() < kMaxWarnings || warnings_.count(w0)
                                   ? w0
                                   : kOtherWarnings;
        auto [it, fresh] = warnings_.try_emplace(w, 0, r.run);
        ++it->second.first;
        it->second.second = std::min(it->second.second, r.run);
    }
    if (!is_failure(r.outcome))
        return;
    ++s_.failures;
    auto [it, fresh] = by_sig_.try_emplace(r.signature);
    SignatureStats& st = it->second;
    // The first failure is the lowest run index, whatever order the records come in.
    if (fresh || r.run < st.first_run) {
        st.signature = r.signature;
        st.outcome = r.outcome;
        st.first_run = r.run;
        st.first_seed = r.seed;
        st.replay = !r.replay.empty() ? r.replay : replay_ ? replay_(r.seed) : "";
        st.reasons = r.reasons;
        st.excerpt = r.excerpt;
        st.artifacts = r.artifacts;
    }
    ++st.count;
}

ScenarioSummary SummaryBuilder::finish() const {
    ScenarioSummary s = s_;
    s.rate = s.runs ? static_cast<double>(s.failures) / static_cast<double>(s.runs) : 0;
    s.interval = wilson_interval(s.failures, s.runs);
    s.upper_bound_rule_of_three = rule_of_three(s.runs);
    s.upper_bound_95 = zero_failures_upper_bound(s.runs);
    s.mean_duration_ms = s.runs ? total_ms_ / static_cast<double>(s.runs) : 0;
    for (const auto& [sig, st0] : by_sig_) {
        SignatureStats st = st0;
        st.rate = static_cast<double>(st.count) / static_cast<double>(s.runs);
        st.interval = wilson_interval(st.count, s.runs);
        s.signatures.push_back(st);
    }
    std::sort(s.signatures.begin(), s.signatures.end(),
              [](const SignatureStats& a, const SignatureStats& b) {
                  return a.count != b.count ? a.count > b.count : a.first_run < b.first_run;
              });
    std::vector<std::pair<std::uint64_t, std::string>> order;
    for (const auto& [w, v] : warnings_)
        order.emplace_back(v.second, w);
    std::sort(order.begin(), order.end());
    for (const auto& [first, w] : order)
        s.warnings.emplace_back(w, warnings_.at(w).first);
    return s;
}

ScenarioSummary summarize(const std::vector<RunRecord>& records, const std::string& name,
                          const std::string& file, std::uint64_t planned,
                          const std::function<std::string(std::uint64_t)>& replay) {
    SummaryBuilder b(name, file, planned, replay);
    for (const auto& r : records)
        b.add(r);
    return b.finish();
}

json CampaignSummary::to_json() const {
    json j;
    j["racehunt_version"] = version;
    j["campaign_seed"] = campaign_seed;
    j["profile"] = profile;
    j["jobs"] = jobs;
    j["stop_reason"] = stop_reason;
    j["interrupted"] = interrupted;
    j["elapsed_s"] = elapsed_s;
    if (fail_threshold)
        j["fail_threshold"] = *fail_threshold;
    j["scenarios"] = json::array();
    for (const auto& s : scenarios) {
        json sj;
        sj["scenario"] = s.name;
        sj["file"] = s.file;
        sj["runs_planned"] = s.planned;
        sj["runs"] = s.runs;
        json outcomes = json::object();
        for (Outcome o : kOutcomes) {
            auto it = s.outcomes.find(o);
            outcomes[to_string(o)] = it == s.outcomes.end() ? 0 : it->second;
        }
        sj["outcomes"] = outcomes;
        sj["failures"] = s.failures;
        sj["failure_rate"] = s.rate;
        sj["interval_95"] = {s.interval.low, s.interval.high};
        if (s.failures == 0)
        {
            sj["rule_of_three_upper_bound"] = s.upper_bound_rule_of_three;
            sj["upper_bound_95"] = s.upper_bound_95;
        }
        sj["mean_duration_ms"] = s.mean_duration_ms;
        if (!s.python.empty())
            sj["python"] = s.python;
        sj["campaign_seed"] = s.campaign_seed;
        if (s.missing)
            sj["missing_runs"] = *s.missing;
        if (s.duplicates)
            sj["duplicate_runs"] = *s.duplicates;
        if (!s.missing_examples.empty())
            sj["missing_run_examples"] = s.missing_examples;
        if (fail_threshold)
            sj["within_fail_threshold"] = s.failures == 0 || passes_threshold(s);
        sj["not_injected_runs"] = s.not_injected;
        sj["signatures"] = json::array();
        for (const auto& st : s.signatures) {
            sj["signatures"].push_back({{"signature", st.signature},
                                        {"outcome", to_string(st.outcome)},
                                        {"count", st.count},
                                        {"rate", st.rate},
                                        {"interval_95", {st.interval.low, st.interval.high}},
                                        {"first_run", st.first_run},
                                        {"first_seed", util::hex64(st.first_seed)},
                                        {"replay", st.replay},
                                        {"reasons", st.reasons},
                                        {"excerpt", st.excerpt},
                                        {"artifacts", st.artifacts ? json(*st.artifacts) : json()}});
        }
        sj["warnings"] = json::array();
        for (const auto& [w, n] : s.warnings)
            sj["warnings"].push_back({{"message", w}, {"runs", n}});
        j["scenarios"].push_back(sj);
    }
    return j;
}

} // namespace racehunt
