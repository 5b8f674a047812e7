// The C++ side of tests/golden/protocol_vectors.json: the harness's seed derivation, the
// stream arithmetic it shares with the shim (racehunt_hash.h) and the counters layout of
// protocol.h must give the pinned values. The shim's test program and the Python tests read
// the same file, so the three languages cannot drift apart unnoticed.
#include "plan/jitter.hpp"
#include "plan/seeds.hpp"
#include "protocol.h"
#include "racehunt_hash.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstring>
#include <fstream>
#include <string>

using namespace racehunt;
using nlohmann::json;

namespace {

const json& vectors() {
    static const json j = [] {
        std::ifstream in(RACEHUNT_SOURCE_DIR "/tests/golden/protocol_vectors.json");
        return json::parse(in);
    }();
    return j;
}

std::uint64_t hex(const json& v) {
    return std::stoull(v.get<std::string>(), nullptr, 16);
}

} // namespace

TEST(Golden, Mix64AndRunSeeds) {
    const json& s = vectors().at("seeds");
    ASSERT_GE(s.at("mix64").size(), 4u);
    for (const auto& pair : s.at("mix64"))
        EXPECT_EQ(mix64(hex(pair[0])), hex(pair[1])) << pair.dump();
    ASSERT_GE(s.at("run_seeds").size(), 3u);
    for (const auto& c : s.at("run_seeds")) {
        const auto campaign = c.at("campaign_seed").get<std::uint64_t>();
        const json& runs = c.at("runs");
        ASSERT_FALSE(runs.empty());
        for (std::size_t i = 0; i < runs.size(); i++)
            EXPECT_EQ(run_seed(campaign, i), hex(runs[i])) << "campaign " << campaign << " run " << i;
    }
}

TEST(Golden, SeedStreams) {
    const json& streams = vectors().at("seeds").at("seed_streams");
    ASSERT_GE(streams.size(), 2u);
    for (const auto& s : streams) {
        const auto seed = hex(s.at("seed"));
        const auto purpose = s.at("purpose").get<std::string>();
        SeedStream next(seed, purpose);
        for (const auto& v : s.at("next"))
            EXPECT_EQ(next.next(), hex(v)) << purpose;
        SeedStream uniform(seed, purpose);
        for (const auto& v : s.at("uniform"))
            EXPECT_EQ(uniform.uniform(), v.get<double>()) << purpose; // exact: 53 bits
    }
}

TEST(Golden, Fnv1a64OfLabels) {
    const json& table = vectors().at("fnv1a64");
    ASSERT_GE(table.size(), 4u);
    for (const auto& pair : table) {
        const auto label = pair[0].get<std::string>();
        EXPECT_EQ(label_hash(label), hex(pair[1])) << label;
        EXPECT_EQ(racehunt_fnv1a64(RACEHUNT_FNV_OFFSET, label.data(), label.size()), hex(pair[1]));
    }
}

TEST(Golden, ShimStreamsThroughTheSharedHeader) {
    const json& s = vectors().at("streams");
    for (const auto& pair : s.at("fmix64"))
        EXPECT_EQ(racehunt_fmix64(hex(pair[0])), hex(pair[1]));
    std::string cmdline; // as /proc/self/cmdline holds it
    for (const auto& arg : s.at("command_line"))
        cmdline += arg.get<std::string>() + '\0';
    const auto hash = racehunt_fnv1a64(RACEHUNT_FNV_OFFSET, cmdline.data(), cmdline.size());
    EXPECT_EQ(hash, hex(s.at("command_line_hash")));
    const auto key = racehunt_fmix64(hex(s.at("seed")) ^ racehunt_fmix64(hash));
    EXPECT_EQ(key, hex(s.at("process_key")));
    for (std::size_t t = 0; t < s.at("thread_keys").size(); t++)
        EXPECT_EQ(racehunt_derive(key, t), hex(s.at("thread_keys")[t]));
    for (std::size_t t = 0; t < s.at("draws").size(); t++)
        for (std::size_t n = 0; n < s.at("draws")[t].size(); n++)
            EXPECT_EQ(racehunt_draw(racehunt_derive(key, t), n), hex(s.at("draws")[t][n]));
    const auto r = racehunt_draw(racehunt_derive(key, 0), 0);
    for (std::size_t j = 0; j < s.at("subs").size(); j++)
        EXPECT_EQ(racehunt_sub(r, j + 1), hex(s.at("subs")[j]));
    for (std::size_t f = 0; f < s.at("fork_keys").size(); f++)
        EXPECT_EQ(racehunt_derive(key, f), hex(s.at("fork_keys")[f]));
    const auto control = racehunt_derive(key, RACEHUNT_STREAM_TAG_CONTROL);
    EXPECT_EQ(control, hex(s.at("control_key")));
    for (std::size_t n = 0; n < s.at("control_draws").size(); n++)
        EXPECT_EQ(racehunt_draw(control, n), hex(s.at("control_draws")[n]));
    const auto loops = racehunt_derive(key, RACEHUNT_STREAM_TAG_LOOP);
    for (std::size_t l = 0; l < s.at("loop_keys").size(); l++)
        EXPECT_EQ(racehunt_derive(loops, l), hex(s.at("loop_keys")[l]));
    for (std::size_t n = 0; n < s.at("loop_draws").size(); n++)
        EXPECT_EQ(racehunt_draw(racehunt_derive(loops, 0), n), hex(s.at("loop_draws")[n]));
}

TEST(Golden, CountersImageDecodesThroughTheStruct) {
    const json& c = vectors().at("counters");
    ASSERT_EQ(c.at("size").get<std::size_t>(), sizeof(racehunt_shim_counters));
    ASSERT_EQ(c.at("size").get<std::size_t>(), std::size_t{RACEHUNT_SHIM_COUNTERS_SIZE});
    const auto text = c.at("hex").get<std::string>();
    ASSERT_EQ(text.size(), 2 * sizeof(racehunt_shim_counters));
    racehunt_shim_counters k;
    auto* bytes = reinterpret_cast<unsigned char*>(&k);
    for (std::size_t i = 0; i < sizeof k; i++)
        bytes[i] = static_cast<unsigned char>(std::stoul(text.substr(2 * i, 2), nullptr, 16));

    const json& off = c.at("offsets");
    EXPECT_EQ(off.at("magic"), RACEHUNT_SHIM_COUNTERS_OFF_MAGIC);
    EXPECT_EQ(off.at("pid"), RACEHUNT_SHIM_COUNTERS_OFF_PID);
    EXPECT_EQ(off.at("process_key"), RACEHUNT_SHIM_COUNTERS_OFF_PROCESS_KEY);
    EXPECT_EQ(off.at("flags"), RACEHUNT_SHIM_COUNTERS_OFF_FLAGS);
    EXPECT_EQ(off.at("calls"), RACEHUNT_SHIM_COUNTERS_OFF_CALLS);
    EXPECT_EQ(off.at("yields"), RACEHUNT_SHIM_COUNTERS_OFF_YIELDS);
    EXPECT_EQ(off.at("delays"), RACEHUNT_SHIM_COUNTERS_OFF_DELAYS);
    EXPECT_EQ(off.at("exe"), RACEHUNT_SHIM_COUNTERS_OFF_EXE);
    EXPECT_EQ(off.at("decisions"), RACEHUNT_SHIM_COUNTERS_OFF_DECISIONS);
    EXPECT_EQ(off.at("tids"), RACEHUNT_SHIM_COUNTERS_OFF_TIDS);

    const json& f = c.at("fields");
    EXPECT_EQ(k.magic, RACEHUNT_SHIM_MAGIC);
    EXPECT_EQ(k.magic, f.at("magic").get<std::uint32_t>());
    EXPECT_EQ(k.version, f.at("version").get<std::uint32_t>());
    EXPECT_EQ(k.pid, f.at("pid").get<std::int32_t>());
    EXPECT_EQ(k.ppid, f.at("ppid").get<std::int32_t>());
    EXPECT_EQ(k.process_key, hex(f.at("process_key")));
    EXPECT_EQ(k.flags, f.at("flags").get<std::uint32_t>());
    EXPECT_EQ(k.threads, f.at("threads").get<std::uint32_t>());
    for (int i = 0; i < RACEHUNT_POINT_COUNT; i++) {
        EXPECT_EQ(k.calls[i], f.at("calls")[i].get<std::uint64_t>());
        EXPECT_EQ(k.yields[i], f.at("yields")[i].get<std::uint64_t>());
        EXPECT_EQ(k.delays[i], f.at("delays")[i].get<std::uint64_t>());
    }
    EXPECT_EQ(k.delay_ns_total, f.at("delay_ns_total").get<std::uint64_t>());
    EXPECT_EQ(k.starvation_windows, f.at("starvation_windows").get<std::uint64_t>());
    EXPECT_EQ(k.starvation_ns_total, f.at("starvation_ns_total").get<std::uint64_t>());
    EXPECT_EQ(std::string(k.exe), f.at("exe").get<std::string>());
    EXPECT_EQ(k.decisions, f.at("decisions").get<std::uint64_t>());
    EXPECT_EQ(k.wake_yields, f.at("wake_yields").get<std::uint64_t>());
    EXPECT_EQ(k.start_ticks, f.at("start_ticks").get<std::uint64_t>());
    EXPECT_EQ(k.images, f.at("images").get<std::uint32_t>());
    EXPECT_EQ(k.thread_slots_full, f.at("thread_slots_full").get<std::uint32_t>());
    const json& tids = f.at("tids");
    for (std::size_t i = 0; i < RACEHUNT_SHIM_TID_SLOTS; i++)
        EXPECT_EQ(k.tids[i], i < tids.size() ? tids[i].get<std::int32_t>() : 0) << "tid slot " << i;
}

// The harness writes these into config.json when the scenario says nothing; the bootstrap
// assumes the same when a key is absent (tests/python/test_protocol_names.py).
TEST(Golden, HarnessDefaultsAreProtocolHs) {
    const ControlPlan control;
    EXPECT_EQ(control.strategy, RACEHUNT_DEFAULT_CONTROL_STRATEGY);
    EXPECT_EQ(control.depth, RACEHUNT_DEFAULT_CONTROL_DEPTH);
    EXPECT_EQ(control.max_steps, RACEHUNT_DEFAULT_CONTROL_MAX_STEPS);
    EXPECT_EQ(YieldPlan{}.granularity, RACEHUNT_DEFAULT_YIELDS_GRANULARITY);
}

// The plan half of config.json: for the golden cases (a scenario without [jitter] keys but
// `mode`, run 0 of a fixed campaign seed) plan_jitter must draw what the harness wrote. The
// whole file, as campaign.cpp's bootstrap_config writes it, is compared end to end by
// tests/e2e/test_protocol.py (bootstrap_config is not reachable from here).
TEST(Golden, PlanOfTheGoldenConfigJson) {
    const json& cases = vectors().at("config").at("cases");
    ASSERT_GE(cases.size(), 2u);
    for (const auto& c : cases) {
        const json& want = c.at("config");
        const auto seed = run_seed(c.at("campaign_seed").get<std::uint64_t>(), 0);
        EXPECT_EQ(seed, hex(want.at("run_seed")));
        JitterSpec spec;
        if (c.at("mode") != "noise")
            spec.mode = c.at("mode").get<std::string>();
        const auto focus = want.at("yields").at("focus").get<std::vector<std::string>>();
        const JitterPlan p = plan_jitter("default", spec, seed, focus);
        const auto name = c.at("name").get<std::string>();
        if (want.at("switch_interval").is_null())
            EXPECT_FALSE(p.switch_interval) << name;
        else
            EXPECT_EQ(p.switch_interval, want.at("switch_interval").get<double>()) << name;
        EXPECT_EQ(p.yields.probability, want.at("yields").at("probability").get<double>()) << name;
        EXPECT_EQ(p.yields.granularity, want.at("yields").at("granularity")) << name;
        EXPECT_EQ(p.loop.active(), want.contains("asyncio")) << name;
        if (want.contains("asyncio")) {
            EXPECT_EQ(p.loop.shuffle, want.at("asyncio").at("shuffle").get<double>()) << name;
            EXPECT_EQ(p.loop.defer, want.at("asyncio").at("defer").get<double>()) << name;
        }
        ASSERT_EQ(p.control.has_value(), want.contains("control")) << name;
        if (p.control) {
            EXPECT_EQ(p.control->strategy, want.at("control").at("strategy")) << name;
            EXPECT_EQ(p.control->depth, want.at("control").at("depth").get<int>()) << name;
            EXPECT_EQ(p.control->max_steps, want.at("control").at("max_steps").get<std::int64_t>());
        }
    }
}
