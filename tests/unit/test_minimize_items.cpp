#include "minimize/items.hpp"

#include <gtest/gtest.h>

using namespace racehunt;

TEST(MinimizeItems, CandidateKeysAreStableSoThatAResumedSessionFindsItsVerdicts) {
    // minimize.jsonl names candidates by these keys; a journal written by one version must
    // resume in the next.
    EXPECT_EQ(candidate_key({}), "0:cbf29ce484222325");
    EXPECT_EQ(candidate_key({0}), "1:a8c7f832281a39c5");
    EXPECT_EQ(candidate_key({1}), "1:89cd31291d2aefa4");
    EXPECT_EQ(candidate_key({0, 1, 2}), "3:70c9b82103059f06");
    EXPECT_EQ(candidate_key({3, 17, 255, 256}), "4:689e981bcaf20503");
    EXPECT_EQ(candidate_key({1000000}), "1:0e0a0a27a32b9948");
}

namespace {

Pins two_threads() {
    Pins all;
    all.switch_interval = 0.001;
    ShimPin a, b, c;
    a.key = b.key = c.key = 7;
    a.thread = 1;
    b.thread = 2;
    c.thread = 1;
    a.n = 1;
    b.n = 2;
    c.n = 3;
    all.shim = {a, b, c};
    YieldPin y;
    y.key = 9;
    y.thread = 1; // the same number as a shim thread, but not the same thread
    all.yields = {y};
    return all;
}

} // namespace

TEST(MinimizeItems, ASubsetPinsExactlyTheItemsItNames) {
    const Pins all = two_threads();
    const std::vector<Item> items = items_of(all);
    ASSERT_EQ(items.size(), all.size());
    const Pins some = subset_pins(all, items, {0, 3});
    EXPECT_EQ(some.switch_interval, all.switch_interval);
    ASSERT_EQ(some.shim.size(), 1u);
    EXPECT_EQ(some.shim[0].thread, 1u);
    EXPECT_EQ(some.shim[0].n, 3u);
    EXPECT_TRUE(some.yields.empty());
    EXPECT_EQ(count_layers(some), "2 perturbation(s) (switch interval, 1 shim)");
    EXPECT_EQ(count_layers(subset_pins(all, items, {})), "0 perturbation(s)");
}

TEST(MinimizeItems, GroupsAreLayersThenThreadsOfOneLayer) {
    const Pins all = two_threads();
    const std::vector<Item> items = items_of(all);
    EXPECT_EQ(layer_groups(items), (std::vector<Subset>{{0}, {1, 2, 3}, {4}, {}}));
    // Shim thread 1 and 2, and the yield thread 1 apart from shim thread 1.
    EXPECT_EQ(thread_groups(all, items, {1, 2, 3, 4}), (std::vector<Subset>{{1, 3}, {2}, {4}}));
    // A group as large as the current set is no candidate.
    EXPECT_TRUE(thread_groups(all, items, {1, 3}).empty());
}
