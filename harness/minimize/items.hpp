// What minimize can take away: the perturbations of a failing run as numbered items (the
// switch interval, each shim decision, each Python yield, each asyncio loop decision), the
// groups it tries to drop whole, and a candidate's name in minimize.jsonl.
#pragma once
#include "minimize/ddmin.hpp"
#include "plan/pins.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace racehunt {

struct Item {
    // The order of the layers: drop_groups tries them largest first, ties in this order.
    enum Kind { Switch, Shim, Yield, Loop } kind;
    std::size_t index; // into Pins::shim, Pins::yields or Pins::loop
};

// Every perturbation of `all` as an item: the switch interval, then shim, yield and loop
// decisions in their order in `all`. Item i is Subset index i.
std::vector<Item> items_of(const Pins& all);

// The perturbations of `all` that the items of `s` stand for.
Pins subset_pins(const Pins& all, const std::vector<Item>& items, const Subset& s);

// One group per layer (indexed by Item::Kind; a layer the run did not perturb is empty).
std::vector<Subset> layer_groups(const std::vector<Item>& items);

// The items of `current` by thread (shim and yield decisions) or event loop (asyncio), each
// group smaller than `current`: one thread's decisions often go together.
std::vector<Subset> thread_groups(const Pins& all, const std::vector<Item>& items, const Subset& current);

// "3 perturbation(s) (switch interval, 1 shim, 1 yield)".
std::string count_layers(const Pins& p);

// A candidate's name in minimize.jsonl: its size and a hash of its item indices (FNV-1a 64
// of their little-endian 64-bit bytes, the one of plan/seeds.hpp), "2:00a1...".
std::string candidate_key(const Subset& sub);

} // namespace racehunt
