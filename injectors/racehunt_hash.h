/* The hashing every random choice of racehunt rests on, in one place for C and C++: the
 * preload shim's decision streams and the harness's seed derivation (harness/plan/seeds.cpp)
 * both include it. docs/PROTOCOL.md ("Streams") describes the arithmetic; the Python
 * injectors compute the same values, and tests/golden/protocol_vectors.json pins all three.
 * Pure functions on unsigned 64-bit integers, wrapping: no allocation, no state, safe in
 * the shim's hooks and signal handlers. */
#ifndef RACEHUNT_HASH_H
#define RACEHUNT_HASH_H

#include <stddef.h>
#include <stdint.h>

#define RACEHUNT_GOLDEN UINT64_C(0x9e3779b97f4a7c15) /* 2^64 / golden ratio, odd */
#define RACEHUNT_SUB_GAMMA UINT64_C(0xd6e8feb86659fd93)
#define RACEHUNT_FNV_OFFSET UINT64_C(0xcbf29ce484222325)
#define RACEHUNT_FNV_PRIME UINT64_C(0x100000001b3)

/* The splitmix64 finaliser: a bijection on 64-bit values with good avalanche. */
static inline uint64_t racehunt_fmix64(uint64_t z) {
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Draw n (from 0) of the counter-based splitmix64 stream with this key: a pure function
 * of (key, n). */
static inline uint64_t racehunt_draw(uint64_t key, uint64_t n) {
    return racehunt_fmix64(key + (n + 1) * RACEHUNT_GOLDEN);
}

/* Combining a key with a number (a thread index, a fork number, a layer's tag) into a new
 * key. */
static inline uint64_t racehunt_derive(uint64_t key, uint64_t n) {
    return racehunt_fmix64(key ^ racehunt_fmix64(n + RACEHUNT_GOLDEN));
}

/* Independent sub-value `which` of one draw, so that one decision consumes one draw
 * whatever it turns out to be. */
static inline uint64_t racehunt_sub(uint64_t r, uint64_t which) {
    return racehunt_fmix64(r ^ (which * RACEHUNT_SUB_GAMMA));
}

/* FNV-1a, 64 bits, continued from `h` (RACEHUNT_FNV_OFFSET for a fresh hash) over `n`
 * bytes, so that input read in pieces hashes as a whole. */
static inline uint64_t racehunt_fnv1a64(uint64_t h, const void *data, size_t n) {
#ifdef __cplusplus
    const unsigned char *p = static_cast<const unsigned char *>(data);
#else
    const unsigned char *p = (const unsigned char *)data;
#endif
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * RACEHUNT_FNV_PRIME;
    return h;
}

#endif

