// Seed derivation: every random choice of a campaign is a pure function of its seeds.
#pragma once
#include <cstdint>
#include <string_view>

namespace racehunt {

// splitmix64's step: the finaliser (racehunt_fmix64 of injectors/racehunt_hash.h) of
// x + golden. A bijection on 64-bit values with good avalanche.
std::uint64_t mix64(std::uint64_t x);

// Seed of run `index` of a campaign. Distinct indices always give distinct run seeds:
// index * odd constant is a bijection mod 2^64, adding the campaign seed is one, and so is
// mix64, so the composition cannot collide.
std::uint64_t run_seed(std::uint64_t campaign_seed, std::uint64_t index);

// A stable 64-bit hash of a label (FNV-1a), used to name independent streams.
std::uint64_t label_hash(std::string_view label);

// A reproducible stream of random values for one purpose of one run:
// SeedStream(run_seed, "switch_interval") never depends on any other stream.
class SeedStream {
public:
    SeedStream(std::uint64_t seed, std::string_view purpose);
    std::uint64_t next();
    double uniform();                          // [0, 1)
    double uniform(double lo, double hi);      // [lo, hi)
    double log_uniform(double lo, double hi);  // log-uniform in [lo, hi)
    bool chance(double p);                     // true with probability p

private:
    std::uint64_t key_;
    std::uint64_t counter_ = 0;
};

// A random campaign seed from the OS, for when the user gave none (it is printed).
std::uint64_t fresh_campaign_seed();

} // namespace racehunt
