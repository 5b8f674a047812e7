// Properties checked with rapidcheck over generated inputs.
#include "plan/jitter.hpp"
#include "plan/seeds.hpp"
#include "scenario/scenario.hpp"

#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <unordered_set>

using namespace racehunt;

TEST(SeedProperties, DerivationIsDeterministic) {
    EXPECT_TRUE(rc::check([](std::uint64_t campaign, std::uint64_t index) {
        RC_ASSERT(run_seed(campaign, index) == run_seed(campaign, index));
        JitterPlan a = plan_jitter("default", {}, run_seed(campaign, index), {"/w/"});
        JitterPlan b = plan_jitter("default", {}, run_seed(campaign, index), {"/w/"});
        RC_ASSERT(a == b);
    }));
}

TEST(SeedProperties, NoCollisionsOverLargeIndexRanges) {
    EXPECT_TRUE(rc::check([](std::uint64_t campaign, std::uint32_t start) {
        // 200,000 consecutive run indices from an arbitrary start: all seeds distinct.
        std::unordered_set<std::uint64_t> seen;
        seen.reserve(200000);
        for (std::uint64_t i = start; i < std::uint64_t(start) + 200000; ++i)
            RC_ASSERT(seen.insert(run_seed(campaign, i)).second);
    }));
}

TEST(SeedProperties, DistinctIndicesNeverCollide) {
    // The derivation is a bijection in the index, so no pair may collide, wherever it lies.
    EXPECT_TRUE(rc::check([](std::uint64_t campaign, std::uint64_t i, std::uint64_t j) {
        RC_PRE(i != j);
        RC_ASSERT(run_seed(campaign, i) != run_seed(campaign, j));
    }));
}

namespace {

std::string gen_word() {
    return *rc::gen::nonEmpty(rc::gen::container<std::string>(
        rc::gen::elementOf(std::string("abcdefghijklmnopqrstuvwxyz0123456789_-"))));
}

rc::Gen<std::string> text_gen() {
    // Arbitrary printable text, quotes, backslashes and control characters included.
    return rc::gen::container<std::string>(rc::gen::oneOf(
        rc::gen::inRange<char>(32, 127), rc::gen::element('\\', '"', '\'', '\t', '\n')));
}

std::string gen_text() {
    return *text_gen();
}

Scenario gen_scenario() {
    Scenario s;
    s.name = gen_word();
    s.description = gen_text();
    int kind = *rc::gen::inRange(0, 4);
    s.kind = static_cast<WorkloadKind>(kind);
    if (s.kind == WorkloadKind::Command)
        s.command = *rc::gen::nonEmpty(rc::gen::container<std::vector<std::string>>(text_gen()));
    else
        s.target = gen_word() + ".py";
    s.args = *rc::gen::container<std::vector<std::string>>(text_gen());
    s.python = {gen_word()};
    if (*rc::gen::arbitrary<bool>())
        s.python.push_back(gen_word());
    s.cwd = gen_word();
    for (int i = *rc::gen::inRange(0, 3); i > 0; --i)
        s.env[gen_word()] = gen_text();
    s.timeout = std::chrono::milliseconds(*rc::gen::inRange(1, 100000));
    if (*rc::gen::arbitrary<bool>())
        s.jitter.profile = *rc::gen::element<std::string>("none", "default", "aggressive");
    if (*rc::gen::arbitrary<bool>()) {
        int k = *rc::gen::inRange(0, 3);
        SwitchInterval si;
        si.kind = static_cast<SwitchInterval::Kind>(k);
        if (si.kind == SwitchInterval::Kind::Fixed)
            si.seconds = *rc::gen::inRange(1, 5000) * 1e-6;
        s.jitter.switch_interval = si;
    }
    if (*rc::gen::arbitrary<bool>())
        s.jitter.shim_probability = *rc::gen::inRange(0, 1000) / 1000.0;
    if (*rc::gen::arbitrary<bool>())
        s.jitter.shim_max_delay = std::chrono::microseconds(*rc::gen::inRange(0, 5000));
    if (*rc::gen::arbitrary<bool>())
        s.jitter.shim_starvation = *rc::gen::arbitrary<bool>();
    if (*rc::gen::arbitrary<bool>())
        s.jitter.yield_probability = *rc::gen::inRange(0, 1000) / 1000.0;
    if (*rc::gen::arbitrary<bool>())
        s.jitter.yield_granularity = *rc::gen::element<std::string>("line", "opcode", "call");
    if (*rc::gen::arbitrary<bool>())
        s.jitter.yield_focus = std::vector<std::string>{gen_word(), gen_word() + ".py"};
    if (*rc::gen::arbitrary<bool>())
        s.jitter.loop_shuffle = *rc::gen::inRange(0, 1000) / 1000.0;
    if (*rc::gen::arbitrary<bool>())
        s.jitter.loop_defer = *rc::gen::inRange(0, 1000) / 1000.0;
    s.check.exit_code = *rc::gen::inRange(0, 256);
    s.check.asyncio_warnings = *rc::gen::element<std::string>("fail", "warn", "ignore");
    s.check.thread_exceptions = *rc::gen::element<std::string>("fail", "ignore");
    s.check.leaked_threads = *rc::gen::element<std::string>("fail", "warn", "ignore");
    for (int i = *rc::gen::inRange(0, 3); i > 0; --i)
        s.check.invariants.push_back("x == " + gen_word());
    if (*rc::gen::arbitrary<bool>())
        s.run.runs = *rc::gen::inRange<std::int64_t>(1, 1000000);
    if (*rc::gen::arbitrary<bool>())
        s.run.jobs = *rc::gen::inRange<std::int64_t>(0, 64);
    if (*rc::gen::arbitrary<bool>())
        s.run.seed = *rc::gen::arbitrary<std::uint64_t>();
    return s;
}

} // namespace

TEST(ScenarioProperties, SurvivesATomlRoundTrip) {
    EXPECT_TRUE(rc::check([] {
        Scenario s = gen_scenario();
        std::string text = scenario_to_toml(s);
        RC_LOG() << text;
        Scenario back = parse_scenario(text, "/tmp/roundtrip/x.toml");
        RC_ASSERT(back.same_content(s));
    }));
}
