#include "report/summary.hpp"

#include "util/strings.hpp"

#include <algorithm>

namespace racehunt {

using nlohmann::json;

ScenarioSummary summarize(const std::vector<RunRecord>& records, const std::string& name,
                          const std::string& file, std::uint64_t planned,
                          const std::function<std::string(std::uint64_t)>& replay) {
    ScenarioSummary s;
    s.name = name;
    s.file = file;
    s.planned = planned;
    std::vector<const RunRecord*> sorted;
    for (const auto& r : records)
        sorted.push_back(&r);
    // By run index, so "first failure" does not depend on -j or completion order.
    std::sort(sorted.begin(), sorted.end(),
              [](const RunRecord* a, const RunRecord* b) { return a->run < b->run; });

    std::map<std::string, SignatureStats> by_sig;
    std::map<std::string, std::uint64_t> warnings;
    std::vector<std::string> warning_order;
    double total_ms = 0;
    for (const RunRecord* r : sorted) {
        ++s.runs;
        ++s.outcomes[r->outcome];
        total_ms += r->duration_ms;
        if (!r->injected)
            ++s.not_injected;
        for (const auto& w : r->warnings) {
            if (warnings[w]++ == 0)
                warning_order.push_back(w);
        }
        if (!is_failure(r->outcome))
            continue;
        ++s.failures;
        auto [it, fresh] = by_sig.try_emplace(r->signature);
        SignatureStats& st = it->second;
        if (fresh) {
            st.signature = r->signature;
            st.outcome = r->outcome;
            st.first_run = r->run;
            st.first_seed = r->seed;
            st.replay = replay ? replay(r->seed) : "";
            st.reasons = r->reasons;
            st.excerpt = r->excerpt;
            st.artifacts = r->artifacts;
        }
        ++st.count;
    }
    s.rate = s.runs ? static_cast<double>(s.failures) / static_cast<double>(s.runs) : 0;
    s.interval = wilson_interval(s.failures, s.runs);
    s.upper_bound_rule_of_three = rule_of_three(s.runs);
    s.mean_duration_ms = s.runs ? total_ms / static_cast<double>(s.runs) : 0;
    for (auto& [sig, st] : by_sig) {
        st.rate = static_cast<double>(st.count) / static_cast<double>(s.runs);
        st.interval = wilson_interval(st.count, s.runs);
        s.signatures.push_back(st);
    }
    std::sort(s.signatures.begin(), s.signatures.end(),
              [](const SignatureStats& a, const SignatureStats& b) {
                  return a.count != b.count ? a.count > b.count : a.first_run < b.first_run;
              });
    for (const auto& w : warning_order)
        s.warnings.emplace_back(w, warnings[w]);
    return s;
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
    j["scenarios"] = json::array();
    for (const auto& s : scenarios) {
        json sj;
        sj["scenario"] = s.name;
        sj["file"] = s.file;
        sj["runs_planned"] = s.planned;
        sj["runs"] = s.runs;
        json outcomes = json::object();
        for (Outcome o : {Outcome::Pass, Outcome::Fail, Outcome::Hang, Outcome::Crash,
                          Outcome::Error}) {
            auto it = s.outcomes.find(o);
            outcomes[to_string(o)] = it == s.outcomes.end() ? 0 : it->second;
        }
        sj["outcomes"] = outcomes;
        sj["failures"] = s.failures;
        sj["failure_rate"] = s.rate;
        sj["interval_95"] = {s.interval.low, s.interval.high};
        if (s.failures == 0)
            sj["rule_of_three_upper_bound"] = s.upper_bound_rule_of_three;
        sj["mean_duration_ms"] = s.mean_duration_ms;
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
