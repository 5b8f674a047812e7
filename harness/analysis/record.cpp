#include "analysis/record.hpp"

#include "util/strings.hpp"

namespace racehunt {

using nlohmann::json;

json RunRecord::to_json() const {
    json j;
    j["scenario"] = scenario;
    j["run"] = run;
    j["seed"] = util::hex64(seed);
    j["outcome"] = to_string(outcome);
    j["exit_code"] = exit_code >= 0 ? json(exit_code) : json();
    j["signal"] = signal != 0 ? json(signal) : json();
    j["duration_ms"] = static_cast<double>(static_cast<long long>(duration_ms * 1000)) / 1000;
    j["signature"] = signature.empty() ? json() : json(signature);
    j["jitter"] = jitter;
    j["artifacts"] = artifacts ? json(*artifacts) : json();
    j["reasons"] = reasons;
    if (!warnings.empty())
        j["warnings"] = warnings;
    if (!excerpt.empty())
        j["excerpt"] = excerpt;
    j["injected"] = injected;
    if (needs_free_threading)
        j["needs_free_threading"] = true;
    if (!python.empty())
        j["python"] = python;
    if (!start.empty())
        j["start"] = start;
    j["counters"] = counters;
    j["campaign_seed"] = campaign_seed;
    j["planned"] = planned;
    if (!replay.empty())
        j["replay"] = replay;
    return j;
}

RunRecord RunRecord::from_json(const json& j) {
    RunRecord r;
    r.scenario = j.at("scenario").get<std::string>();
    r.run = j.at("run").get<std::uint64_t>();
    auto seed = util::parse_hex64(j.at("seed").get<std::string>());
    if (!seed)
        throw json::other_error::create(501, "seed is not 16 hex digits", &j);
    r.seed = *seed;
    auto outcome = outcome_from_string(j.at("outcome").get<std::string>());
    if (!outcome)
        throw json::other_error::create(501, "unknown outcome", &j);
    r.outcome = *outcome;
    r.exit_code = j.at("exit_code").is_null() ? -1 : j.at("exit_code").get<int>();
    r.signal = j.at("signal").is_null() ? 0 : j.at("signal").get<int>();
    r.duration_ms = j.at("duration_ms").get<double>();
    r.signature = j.at("signature").is_null() ? "" : j.at("signature").get<std::string>();
    r.jitter = j.value("jitter", json::object());
    if (j.contains("artifacts") && j["artifacts"].is_string())
        r.artifacts = j["artifacts"].get<std::string>();
    r.reasons = j.value("reasons", std::vector<std::string>{});
    r.warnings = j.value("warnings", std::vector<std::string>{});
    r.excerpt = j.value("excerpt", std::vector<std::string>{});
    r.injected = j.value("injected", true);
    r.needs_free_threading = j.value("needs_free_threading", false);
    r.python = j.value("python", std::string());
    r.start = j.value("start", std::string());
    r.counters = j.value("counters", json::object());
    r.campaign_seed = j.value("campaign_seed", std::uint64_t{0});
    r.planned = j.value("planned", std::uint64_t{0});
    r.replay = j.value("replay", std::string());
    return r;
}

} // namespace racehunt
