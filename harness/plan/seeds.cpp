#include "plan/seeds.hpp"

#include "racehunt_hash.h"

#include <cmath>
#include <random>

namespace racehunt {

std::uint64_t mix64(std::uint64_t x) {
    return racehunt_fmix64(x + RACEHUNT_GOLDEN);
}

std::uint64_t run_seed(std::uint64_t campaign_seed, std::uint64_t index) {
    return mix64(campaign_seed + index * 0xd1342543de82ef95ULL);
}

std::uint64_t label_hash(std::string_view label) {
    return racehunt_fnv1a64(RACEHUNT_FNV_OFFSET, label.data(), label.size());
}

SeedStream::SeedStream(std::uint64_t seed, std::string_view purpose)
    : key_(mix64(seed ^ mix64(label_hash(purpose)))) {}

std::uint64_t SeedStream::next() {
    // Counter-based: the n-th value is mix64(key + n * gamma), a pure function of (key, n).
    return mix64(key_ + (++counter_) * RACEHUNT_GOLDEN);
}

double SeedStream::uniform() {
    return static_cast<double>(next() >> 11) * 0x1.0p-53;
}

double SeedStream::uniform(double lo, double hi) {
    return lo + (hi - lo) * uniform();
}

double SeedStream::log_uniform(double lo, double hi) {
    return std::exp(uniform(std::log(lo), std::log(hi)));
}

bool SeedStream::chance(double p) {
    return uniform() < p;
}

std::uint64_t fresh_campaign_seed() {
    std::random_device rd;
    std::uint64_t hi = rd(), lo = rd();
    // Campaign seeds stay below 2^53 so that every JSON reader keeps them exact.
    return ((hi << 32) | lo) & ((1ULL << 53) - 1);
}

} // namespace racehunt
