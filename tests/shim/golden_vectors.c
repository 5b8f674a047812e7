/* The C side of tests/golden/protocol_vectors.json: the shim's stream arithmetic
 * (racehunt_hash.h) and the counters layout (protocol.h) must give the pinned values.
 * Usage: golden_vectors PATH/protocol_vectors.json; exit 0 when every value matches.
 * The file's keys are unique, so a value is found by its key alone. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"
#include "racehunt_hash.h"

static char *text;
static int failures;

static void check_eq(const char *what, uint64_t got, uint64_t want) {
    if (got == want) return;
    failures++;
    fprintf(stderr, "golden_vectors: %s: got %016llx, want %016llx\n", what,
            (unsigned long long)got, (unsigned long long)want);
}
/* Each argument is evaluated once (`want` is often the next value read from the file). */
#define CHECK_EQ(what, got, want) check_eq(what, (uint64_t)(got), (uint64_t)(want))

/* The text after "name": (the value). */
static const char *value_of(const char *name) {
    char pattern[128];
    snprintf(pattern, sizeof pattern, "\"%s\":", name);
    const char *p = strstr(text, pattern);
    if (!p) {
        fprintf(stderr, "golden_vectors: no key %s\n", name);
        exit(2);
    }
    return p + strlen(pattern);
}

/* The next string at or after *p (raw bytes, the file has no escapes); *p moves past it. */
static size_t next_string(const char **p, char *out, size_t cap) {
    const char *q = strchr(*p, '"');
    const char *end = q ? strchr(q + 1, '"') : NULL;
    if (!end || (size_t)(end - q - 1) >= cap) {
        fprintf(stderr, "golden_vectors: malformed string\n");
        exit(2);
    }
    size_t n = (size_t)(end - q - 1);
    memcpy(out, q + 1, n);
    out[n] = '\0';
    *p = end + 1;
    return n;
}

static uint64_t next_hex(const char **p) {
    char buf[32];
    next_string(p, buf, sizeof buf);
    return strtoull(buf, NULL, 16);
}

static long long next_number(const char **p) {
    const char *q = *p;
    while (*q && !(*q >= '0' && *q <= '9') && *q != '-') q++;
    char *end;
    long long v = strtoll(q, &end, 10);
    *p = end;
    return v;
}

/* Skips blanks and commas; returns the next significant character. */
static char peek(const char **p) {
    while (**p == ' ' || **p == '\n' || **p == ',' || **p == '\t') (*p)++;
    return **p;
}

static void hex_list(const char *name, uint64_t *out, size_t n) {
    const char *p = value_of(name);
    for (size_t i = 0; i < n; i++) out[i] = next_hex(&p);
}

static void streams(void) {
    /* fmix64: [[in, out], ...] */
    const char *p = value_of("fmix64");
    peek(&p);
    p++; /* [ */
    int pairs = 0;
    while (peek(&p) == '[') {
        uint64_t in = next_hex(&p), out = next_hex(&p);
        CHECK_EQ("fmix64", racehunt_fmix64(in), out);
        p = strchr(p, ']') + 1;
        pairs++;
    }
    CHECK_EQ("fmix64 pairs", pairs >= 4, 1);

    /* fnv1a64: [["label", "hash"], ...] */
    p = value_of("fnv1a64");
    peek(&p);
    p++;
    pairs = 0;
    while (peek(&p) == '[') {
        char label[256];
        size_t n = next_string(&p, label, sizeof label);
        uint64_t want = next_hex(&p);
        CHECK_EQ(label, racehunt_fnv1a64(RACEHUNT_FNV_OFFSET, label, n), want);
        p = strchr(p, ']') + 1;
        pairs++;
    }
    CHECK_EQ("fnv1a64 pairs", pairs >= 4, 1);

    /* The command line as /proc/self/cmdline holds it: each argument NUL-terminated. */
    char cmdline[256];
    size_t len = 0;
    p = value_of("command_line");
    while (peek(&p) != ']') {
        if (*p == '[') {
            p++;
            continue;
        }
        len += next_string(&p, cmdline + len, sizeof cmdline - len - 1) + 1;
    }
    uint64_t hash = racehunt_fnv1a64(RACEHUNT_FNV_OFFSET, cmdline, len);
    /* Read in pieces, as the shim reads /proc/self/cmdline, it hashes the same. */
    uint64_t pieces = racehunt_fnv1a64(RACEHUNT_FNV_OFFSET, cmdline, 3);
    pieces = racehunt_fnv1a64(pieces, cmdline + 3, len - 3);
    p = value_of("command_line_hash");
    uint64_t want_hash = next_hex(&p);
    CHECK_EQ("command_line_hash", hash, want_hash);
    CHECK_EQ("command_line_hash in pieces", pieces, want_hash);

    p = value_of("seed");
    uint64_t seed = next_hex(&p);
    uint64_t key = racehunt_fmix64(seed ^ racehunt_fmix64(hash));
    p = value_of("process_key");
    CHECK_EQ("process_key", key, next_hex(&p));

    uint64_t v[8];
    hex_list("thread_keys", v, 4);
    for (unsigned t = 0; t < 4; t++) CHECK_EQ("thread_keys", racehunt_derive(key, t), v[t]);
    p = value_of("draws");
    for (unsigned t = 0; t < 2; t++)
        for (unsigned n = 0; n < 8; n++)
            CHECK_EQ("draws", racehunt_draw(racehunt_derive(key, t), n), next_hex(&p));
    hex_list("subs", v, 4);
    uint64_t r = racehunt_draw(racehunt_derive(key, 0), 0);
    for (unsigned j = 1; j <= 4; j++) CHECK_EQ("subs", racehunt_sub(r, j), v[j - 1]);
    hex_list("fork_keys", v, 2);
    for (unsigned f = 0; f < 2; f++) CHECK_EQ("fork_keys", racehunt_derive(key, f), v[f]);

    uint64_t control = racehunt_derive(key, RACEHUNT_STREAM_TAG_CONTROL);
    p = value_of("control_key");
    CHECK_EQ("control_key", control, next_hex(&p));
    hex_list("control_draws", v, 6);
    for (unsigned n = 0; n < 6; n++) CHECK_EQ("control_draws", racehunt_draw(control, n), v[n]);
    uint64_t loops = racehunt_derive(key, RACEHUNT_STREAM_TAG_LOOP);
    hex_list("loop_keys", v, 2);
    for (unsigned l = 0; l < 2; l++) CHECK_EQ("loop_keys", racehunt_derive(loops, l), v[l]);
    hex_list("loop_draws", v, 6);
    for (unsigned n = 0; n < 6; n++)
        CHECK_EQ("loop_draws", racehunt_draw(racehunt_derive(loops, 0), n), v[n]);
}

static long long field(const char *name) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":", name);
    const char *p = strstr(value_of("fields"), pattern);
    if (!p) {
        fprintf(stderr, "golden_vectors: no field %s\n", name);
        exit(2);
    }
    p += strlen(pattern);
    return next_number(&p);
}

static void counters(void) {
    const char *p = value_of("size");
    CHECK_EQ("counters size", sizeof(struct racehunt_shim_counters), next_number(&p));
    p = value_of("hex");
    const char *q = strchr(p, '"') + 1;
    struct racehunt_shim_counters c;
    unsigned char *bytes = (unsigned char *)&c;
    for (size_t i = 0; i < sizeof c; i++) {
        unsigned b;
        if (sscanf(q + 2 * i, "%2x", &b) != 1) {
            fprintf(stderr, "golden_vectors: counters image too short\n");
            exit(2);
        }
        bytes[i] = (unsigned char)b;
    }
    CHECK_EQ("image ends", q[2 * sizeof c], '"');

    /* Offsets of the image description are protocol.h's. */
#define OFFSET(f) do { \
        const char *o = strstr(value_of("offsets"), "\"" #f "\":") + strlen("\"" #f "\":"); \
        CHECK_EQ("offset of " #f, offsetof(struct racehunt_shim_counters, f), next_number(&o)); \
    } while (0)
    OFFSET(magic); OFFSET(version); OFFSET(pid); OFFSET(ppid); OFFSET(process_key);
    OFFSET(flags); OFFSET(threads); OFFSET(calls); OFFSET(yields); OFFSET(delays);
    OFFSET(delay_ns_total); OFFSET(starvation_windows); OFFSET(starvation_ns_total);
    OFFSET(exe); OFFSET(decisions); OFFSET(wake_yields); OFFSET(start_ticks); OFFSET(images);
    OFFSET(thread_slots_full); OFFSET(tids);
#undef OFFSET

    CHECK_EQ("magic", c.magic, field("magic"));
    CHECK_EQ("magic is RACEHUNT_SHIM_MAGIC", c.magic, RACEHUNT_SHIM_MAGIC);
    CHECK_EQ("version", c.version, field("version"));
    CHECK_EQ("pid", c.pid, field("pid"));
    CHECK_EQ("ppid", c.ppid, field("ppid"));
    p = strstr(value_of("fields"), "\"process_key\":") + strlen("\"process_key\":");
    CHECK_EQ("process_key", c.process_key, next_hex(&p));
    CHECK_EQ("flags", c.flags, field("flags"));
    CHECK_EQ("flags are enabled + armed", c.flags, RACEHUNT_SHIM_FLAG_ENABLED | RACEHUNT_SHIM_FLAG_ARMED);
    CHECK_EQ("threads", c.threads, field("threads"));
    const char *names[] = {"calls", "yields", "delays"};
    const uint64_t *arrays[] = {c.calls, c.yields, c.delays};
    for (int a = 0; a < 3; a++) {
        char pattern[32];
        snprintf(pattern, sizeof pattern, "\"%s\":", names[a]);
        const char *l = strstr(value_of("fields"), pattern) + strlen(pattern);
        for (int i = 0; i < RACEHUNT_POINT_COUNT; i++) CHECK_EQ(names[a], arrays[a][i], next_number(&l));
    }
    CHECK_EQ("delay_ns_total", c.delay_ns_total, field("delay_ns_total"));
    CHECK_EQ("starvation_windows", c.starvation_windows, field("starvation_windows"));
    CHECK_EQ("starvation_ns_total", c.starvation_ns_total, field("starvation_ns_total"));
    char exe[RACEHUNT_SHIM_EXE_BYTES];
    p = strstr(value_of("fields"), "\"exe\":") + strlen("\"exe\":");
    next_string(&p, exe, sizeof exe);
    CHECK_EQ("exe", strcmp(c.exe, exe), 0);
    CHECK_EQ("decisions", c.decisions, field("decisions"));
    CHECK_EQ("wake_yields", c.wake_yields, field("wake_yields"));
    CHECK_EQ("start_ticks", c.start_ticks, field("start_ticks"));
    CHECK_EQ("images", c.images, field("images"));
    CHECK_EQ("thread_slots_full", c.thread_slots_full, field("thread_slots_full"));
    /* tids: the listed ones, then zeros. */
    p = strstr(value_of("fields"), "\"tids\":") + strlen("\"tids\":");
    int i = 0;
    while (peek(&p) != ']') {
        if (*p == '[') {
            p++;
            continue;
        }
        CHECK_EQ("tids", c.tids[i], next_number(&p));
        i++;
    }
    for (; i < RACEHUNT_SHIM_TID_SLOTS; i++) CHECK_EQ("tids (unseen)", c.tids[i], 0);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: golden_vectors PATH/protocol_vectors.json\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 2;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    text = malloc((size_t)size + 1);
    if (!text || fread(text, 1, (size_t)size, f) != (size_t)size) return 2;
    text[size] = '\0';
    fclose(f);
    streams();
    counters();
    if (failures) return 1;
    printf("golden_vectors: every value matches\n");
    return 0;
}
