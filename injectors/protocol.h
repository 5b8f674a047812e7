/* The harness <-> injectee protocol, version 1: the one home of its names, run-directory
 * file names, binary layouts and config.json defaults. docs/PROTOCOL.md describes it in
 * prose; racehunt_hash.h holds the arithmetic of its seed streams. Plain C so that both the
 * shim (C) and the harness (C++) include it. The Python injectors cannot include a C
 * header: their half is injectors/python/_racehunt/protocol.py, and
 * tests/python/test_protocol_names.py parses this file and holds every name, offset and
 * default the Python side spells to it; tests/golden/protocol_vectors.json pins values all
 * three languages compute. */
#ifndef RACEHUNT_PROTOCOL_H
#define RACEHUNT_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#define RACEHUNT_STATIC_ASSERT(cond, why) static_assert(cond, why)
#else
#define RACEHUNT_STATIC_ASSERT(cond, why) _Static_assert(cond, why)
#endif

#define RACEHUNT_PROTOCOL_VERSION 1

#define RACEHUNT_ENV_PROTOCOL "RACEHUNT_PROTOCOL"
#define RACEHUNT_ENV_RUN_DIR "RACEHUNT_RUN_DIR"
#define RACEHUNT_ENV_RUN_SEED "RACEHUNT_RUN_SEED"
#define RACEHUNT_ENV_RUN_TOKEN "RACEHUNT_RUN_TOKEN"
#define RACEHUNT_ENV_ROLE "RACEHUNT_ROLE"
#define RACEHUNT_ENV_SHIM "RACEHUNT_SHIM"
/* The signal number (decimal) on which the bootstrap registers faulthandler and its Python
 * dump handler; the harness sends it to each Python process of a hung run (docs/PROTOCOL.md,
 * "Forensics files"). */
#define RACEHUNT_ENV_DUMP_SIGNAL "RACEHUNT_DUMP_SIGNAL"
/* Fork-server mode (docs/PROTOCOL.md, "Fork server"). In the server's environment at exec:
 * the descriptor number of its socket to racehunt, which also tells the shim that this
 * process's forks are runs. In the environment the server sets before forking a run: the
 * FNV-1a hash (16 hex digits) of the command line the run would have had as a fresh start,
 * which the shim uses in place of /proc/self/cmdline. */
#define RACEHUNT_ENV_FORK_SERVER "RACEHUNT_FORK_SERVER"
#define RACEHUNT_ENV_FORK_ARGV_HASH "RACEHUNT_FORK_ARGV_HASH"
/* The server is started with RACEHUNT_RUN_TOKEN set to this many placeholder characters;
 * each run writes its own token over them, so /proc/PID/environ of a run (which shows the
 * environment the process was exec'd with) names the run. */
#define RACEHUNT_FORK_TOKEN_PLACEHOLDER 96

/* Files in RACEHUNT_RUN_DIR. A file of one process is named PREFIX, the pid in decimal,
 * SUFFIX (py-1234.jsonl); the other names are whole. */
#define RACEHUNT_FILE_CONFIG "config.json"        /* harness -> Python bootstrap */
#define RACEHUNT_FILE_SHIM_PINS "shim-pins.bin"   /* harness -> shim (option pins=1) */
#define RACEHUNT_FILE_PROCESSES "processes.json"  /* harness, the tree of a hung run */
#define RACEHUNT_FILE_STDOUT "stdout.txt"         /* harness, the run's captured output */
#define RACEHUNT_FILE_STDERR "stderr.txt"
#define RACEHUNT_FILE_CALM "calm"                 /* harness -> injectors: stop perturbing */
/* Written by the Python bootstrap, read by the harness. */
#define RACEHUNT_FILE_EVENTS_PREFIX "py-"         /* events, one JSON object a line */
#define RACEHUNT_FILE_EVENTS_SUFFIX ".jsonl"
#define RACEHUNT_FILE_THREADS_PREFIX "threads-"   /* thread log: snapshots, begins, ends */
#define RACEHUNT_FILE_THREADS_SUFFIX ".jsonl"
#define RACEHUNT_FILE_FAULTHANDLER_PREFIX "faulthandler-"
#define RACEHUNT_FILE_FAULTHANDLER_SUFFIX ".txt"
#define RACEHUNT_FILE_PYSTACKS_PREFIX "pystacks-" /* the Python half of a dump */
#define RACEHUNT_FILE_PYSTACKS_SUFFIX ".json"
#define RACEHUNT_FILE_DUMPED_PREFIX "dumped-"     /* empty: the dump handler is done */
#define RACEHUNT_FILE_DUMPED_SUFFIX ""
#define RACEHUNT_FILE_YIELDS_PREFIX "yields-"     /* Python yields taken */
#define RACEHUNT_FILE_YIELDS_SUFFIX ".log"
#define RACEHUNT_FILE_LOOP_PREFIX "loop-"         /* asyncio loop decisions */
#define RACEHUNT_FILE_LOOP_SUFFIX ".log"
#define RACEHUNT_FILE_CONTROL_PREFIX "control-"   /* a controlled schedule */
#define RACEHUNT_FILE_CONTROL_SUFFIX ".log"
#define RACEHUNT_FILE_TRACE_PREFIX "trace-"       /* traced visits (yields.trace) */
#define RACEHUNT_FILE_TRACE_SUFFIX ".log"
/* Written by the harness (--native-stacks): gdb's view of one process of a hung run. */
#define RACEHUNT_FILE_NATIVE_PREFIX "native-"
#define RACEHUNT_FILE_NATIVE_SUFFIX ".txt"
/* Written by the shim: one prefix, a suffix per file. */
#define RACEHUNT_FILE_SHIM_PREFIX "shim-"
#define RACEHUNT_FILE_SHIM_COUNTERS_SUFFIX ".bin" /* struct racehunt_shim_counters */
#define RACEHUNT_FILE_SHIM_DLOG_SUFFIX ".dlog"    /* binary decision log */
#define RACEHUNT_FILE_SHIM_LOG_SUFFIX ".log"      /* text decision log (option log=1) */
#define RACEHUNT_FILE_SHIM_SITES_SUFFIX ".sites"  /* call sites resolved at exit */

/* The `event` of a line of py-<pid>.jsonl (docs/PROTOCOL.md, "Events"). */
#define RACEHUNT_EVENT_START "start"
#define RACEHUNT_EVENT_EXCEPTION "exception"
#define RACEHUNT_EVENT_MAIN_DONE "main_done"
#define RACEHUNT_EVENT_INVARIANT "invariant"
#define RACEHUNT_EVENT_EXIT "exit"
#define RACEHUNT_EVENT_WARNING "warning"
#define RACEHUNT_EVENT_COUNTERS "counters"   /* written by the dump-signal handler */
#define RACEHUNT_EVENT_CHECK_FAILED "check_failed"
#define RACEHUNT_EVENT_MEMORY "memory"
#define RACEHUNT_EVENT_ASYNCIO_WARNING "asyncio_warning"
#define RACEHUNT_EVENT_CONTROL_LOST "control_lost"
#define RACEHUNT_EVENT_CONTROLLED_DEADLOCK "controlled_deadlock"

/* config.json defaults: what the harness plans when neither the scenario nor the profile
 * chooses (harness/plan/jitter), and what the bootstrap takes when a key is absent
 * (docs/PROTOCOL.md, "config.json"). */
#define RACEHUNT_DEFAULT_YIELDS_GRANULARITY "line"
#define RACEHUNT_DEFAULT_CONTROL_STRATEGY "pct"
#define RACEHUNT_DEFAULT_CONTROL_DEPTH 3
#define RACEHUNT_DEFAULT_CONTROL_MAX_STEPS 200000 /* scheduling points, then noise mode */
#define RACEHUNT_DEFAULT_CONTROL_PCT_STEPS 10000  /* longest run PCT plans change points for */
#define RACEHUNT_DEFAULT_CONTROL_STALL_S 2        /* seconds without a scheduling point */
/* Lines kept per thread in yields-<pid>.log, and in all of control-<pid>.log. */
#define RACEHUNT_YIELDS_LOG_LIMIT 200000
#define RACEHUNT_CONTROL_LOG_LIMIT 200000

/* Tags that derive a layer's stream key from a Python process key (racehunt_derive): the
 * controlled scheduler's stream, and the asyncio layer's (then derived again per loop). */
#define RACEHUNT_STREAM_TAG_CONTROL 0xC0
#define RACEHUNT_STREAM_TAG_LOOP 0xA5
#define RACEHUNT_STREAM_TAG_SITES 0x51 /* a thread's draws for the first visits of code sites */

/* Classes of interposed call sites. The order is part of the protocol (array indices). */
#define RACEHUNT_POINT_CLASSES(X) \
    X(MUTEX, "mutex")             \
    X(COND, "cond")               \
    X(SEM, "sem")                 \
    X(SLEEP, "sleep")             \
    X(YIELD, "yield")             \
    X(THREAD, "thread")           \
    X(FORK, "fork")

enum racehunt_point_class {
#define RACEHUNT_X_ENUM(id, name) RACEHUNT_POINT_##id,
    RACEHUNT_POINT_CLASSES(RACEHUNT_X_ENUM)
#undef RACEHUNT_X_ENUM
    RACEHUNT_POINT_COUNT
};

#define RACEHUNT_SHIM_MAGIC 0x52484348u /* "RHCH" */

#define RACEHUNT_SHIM_TID_SLOTS 256

/* Counters of one process, in RACEHUNT_RUN_DIR/shim-<pid>.bin, mapped MAP_SHARED. The
 * layout is the protocol: native byte order (little-endian on every platform racehunt
 * supports), no padding, offsets below. The Python bootstrap arms the shim by reading
 * `magic` and `pid` and writing `flags` at their offsets. */
#define RACEHUNT_SHIM_EXE_BYTES 64
struct racehunt_shim_counters {
    uint32_t magic;   /* RACEHUNT_SHIM_MAGIC once initialised */
    uint32_t version; /* RACEHUNT_PROTOCOL_VERSION */
    int32_t pid;
    int32_t ppid;
    uint64_t process_key; /* seed-stream key of this process (see shim) */
    uint32_t flags;       /* RACEHUNT_SHIM_FLAG_* */
    uint32_t threads;     /* threads seen (creation order counter) */
    uint64_t calls[RACEHUNT_POINT_COUNT];  /* interposed calls */
    uint64_t yields[RACEHUNT_POINT_COUNT]; /* injected sched_yield */
    uint64_t delays[RACEHUNT_POINT_COUNT]; /* injected delays */
    uint64_t delay_ns_total;               /* sum of injected delays */
    uint64_t starvation_windows;           /* windows opened */
    uint64_t starvation_ns_total;          /* time threads were held back */
    char exe[RACEHUNT_SHIM_EXE_BYTES];     /* basename of /proc/self/exe */
    /* Appended by the shim (fields are only ever added at the end). */
    uint64_t decisions;         /* decision-stream draws (armed sync points + wake checks) */
    uint64_t wake_yields;       /* of the yields[] above, those injected after a wake-up call */
    uint64_t start_ticks;       /* process start time (/proc/self/stat field 22): an exec'd
                                   image of the same process keeps the file, a reused pid not */
    uint32_t images;            /* program images that used this file (1 + execs) */
    uint32_t thread_slots_full; /* threads started without their creation index (see shim) */
    int32_t tids[RACEHUNT_SHIM_TID_SLOTS]; /* kernel thread id of thread index i (0: not seen),
                                              for the first RACEHUNT_SHIM_TID_SLOTS threads */
};

#define RACEHUNT_SHIM_COUNTERS_OFF_MAGIC 0
#define RACEHUNT_SHIM_COUNTERS_OFF_VERSION 4
#define RACEHUNT_SHIM_COUNTERS_OFF_PID 8
#define RACEHUNT_SHIM_COUNTERS_OFF_PPID 12
#define RACEHUNT_SHIM_COUNTERS_OFF_PROCESS_KEY 16
#define RACEHUNT_SHIM_COUNTERS_OFF_FLAGS 24
#define RACEHUNT_SHIM_COUNTERS_OFF_THREADS 28
#define RACEHUNT_SHIM_COUNTERS_OFF_CALLS 32  /* RACEHUNT_POINT_COUNT uint64_t each */
#define RACEHUNT_SHIM_COUNTERS_OFF_YIELDS 88
#define RACEHUNT_SHIM_COUNTERS_OFF_DELAYS 144
#define RACEHUNT_SHIM_COUNTERS_OFF_DELAY_NS_TOTAL 200
#define RACEHUNT_SHIM_COUNTERS_OFF_STARVATION_WINDOWS 208
#define RACEHUNT_SHIM_COUNTERS_OFF_STARVATION_NS_TOTAL 216
#define RACEHUNT_SHIM_COUNTERS_OFF_EXE 224
#define RACEHUNT_SHIM_COUNTERS_OFF_DECISIONS 288
#define RACEHUNT_SHIM_COUNTERS_OFF_WAKE_YIELDS 296
#define RACEHUNT_SHIM_COUNTERS_OFF_START_TICKS 304
#define RACEHUNT_SHIM_COUNTERS_OFF_IMAGES 312
#define RACEHUNT_SHIM_COUNTERS_OFF_THREAD_SLOTS_FULL 316
#define RACEHUNT_SHIM_COUNTERS_OFF_TIDS 320  /* RACEHUNT_SHIM_TID_SLOTS int32_t */
#define RACEHUNT_SHIM_COUNTERS_SIZE 1344

#define RACEHUNT_X_OFFSET(field, OFF) \
    RACEHUNT_STATIC_ASSERT(offsetof(struct racehunt_shim_counters, field) == \
                               RACEHUNT_SHIM_COUNTERS_OFF_##OFF, \
                           "protocol.h: counters offset of " #field);
RACEHUNT_X_OFFSET(magic, MAGIC)
RACEHUNT_X_OFFSET(version, VERSION)
RACEHUNT_X_OFFSET(pid, PID)
RACEHUNT_X_OFFSET(ppid, PPID)
RACEHUNT_X_OFFSET(process_key, PROCESS_KEY)
RACEHUNT_X_OFFSET(flags, FLAGS)
RACEHUNT_X_OFFSET(threads, THREADS)
RACEHUNT_X_OFFSET(calls, CALLS)
RACEHUNT_X_OFFSET(yields, YIELDS)
RACEHUNT_X_OFFSET(delays, DELAYS)
RACEHUNT_X_OFFSET(delay_ns_total, DELAY_NS_TOTAL)
RACEHUNT_X_OFFSET(starvation_windows, STARVATION_WINDOWS)
RACEHUNT_X_OFFSET(starvation_ns_total, STARVATION_NS_TOTAL)
RACEHUNT_X_OFFSET(exe, EXE)
RACEHUNT_X_OFFSET(decisions, DECISIONS)
RACEHUNT_X_OFFSET(wake_yields, WAKE_YIELDS)
RACEHUNT_X_OFFSET(start_ticks, START_TICKS)
RACEHUNT_X_OFFSET(images, IMAGES)
RACEHUNT_X_OFFSET(thread_slots_full, THREAD_SLOTS_FULL)
RACEHUNT_X_OFFSET(tids, TIDS)
#undef RACEHUNT_X_OFFSET
RACEHUNT_STATIC_ASSERT(sizeof(struct racehunt_shim_counters) == RACEHUNT_SHIM_COUNTERS_SIZE,
                       "protocol.h: size of the counters file");

#define RACEHUNT_SHIM_FLAG_ENABLED 0x1u      /* options said enabled=1 */
#define RACEHUNT_SHIM_FLAG_BAD_OPTION 0x2u   /* an option was unknown or malformed */
#define RACEHUNT_SHIM_FLAG_PROTOCOL_BAD 0x4u /* RACEHUNT_PROTOCOL did not match */
#define RACEHUNT_SHIM_FLAG_ARMED 0x8u        /* injection is armed */
#define RACEHUNT_SHIM_FLAG_PINS_BAD 0x10u    /* pins=1 but shim-pins.bin was unreadable */

/* Decision log of one process, RACEHUNT_RUN_DIR/shim-<pid>.dlog, mapped MAP_SHARED (option
 * dlog=1, the default): a header, then `capacity` records. Each perturbation takes the next
 * slot with an atomic increment of `next` and fills it with plain stores, so logging costs
 * no system call; decisions past `capacity` are counted in `next` but not kept. A record is
 * complete once its `action` is non-zero. An exec'd image of the same process appends to
 * the same log (its records carry the image number). */
#define RACEHUNT_DLOG_MAGIC 0x4c444852u /* "RHDL" */
#define RACEHUNT_DLOG_CAPACITY 65536u
struct racehunt_dlog_header {
    uint32_t magic;
    uint32_t version;     /* RACEHUNT_PROTOCOL_VERSION */
    uint32_t capacity;    /* records that follow the header */
    uint32_t record_size; /* sizeof(struct racehunt_dlog_record) */
    uint64_t next;        /* decisions logged so far (may exceed capacity) */
    int32_t pid;
    uint32_t reserved;
};
RACEHUNT_STATIC_ASSERT(sizeof(struct racehunt_dlog_header) == 32, "protocol.h: dlog header");
enum racehunt_dlog_action { RACEHUNT_DLOG_YIELD = 1, RACEHUNT_DLOG_DELAY, RACEHUNT_DLOG_WAKE, RACEHUNT_DLOG_STARVE };
struct racehunt_dlog_record {
    uint32_t thread;   /* creation index in the process, main thread 0 */
    uint32_t n;        /* the thread's decision number */
    uint8_t point;     /* enum racehunt_point_class */
    uint8_t action;    /* enum racehunt_dlog_action; 0 while the record is being written */
    uint16_t image;    /* program image of the process (1, then 2 after an exec, ...) */
    uint32_t ns;       /* delay or window, nanoseconds (saturated) */
    uint64_t site;     /* call site: the return address of the interposed call (the
                        * thread's start routine + 1 for a thread start); resolved to a
                        * symbol at exit in shim-<pid>.sites */
};
RACEHUNT_STATIC_ASSERT(sizeof(struct racehunt_dlog_record) == 24, "protocol.h: dlog record");

/* Pinned decisions, RACEHUNT_RUN_DIR/shim-pins.bin (option pins=1), written by the harness
 * before the run: a header, then `count` records sorted by (process_key, thread, n). With
 * pins, a thread still draws every decision as usual (so decision numbers mean the same
 * thing as in the run the pins came from), but perturbs only at the pinned ones: that is
 * how `racehunt minimize` and `replay --pins` apply a subset of a run's perturbations. */
#define RACEHUNT_PINS_MAGIC 0x4e495052u /* "RPIN" */
struct racehunt_pins_header {
    uint32_t magic;
    uint32_t version;     /* RACEHUNT_PROTOCOL_VERSION */
    uint32_t count;       /* records that follow the header */
    uint32_t record_size; /* sizeof(struct racehunt_pin_record) */
};
struct racehunt_pin_record {
    uint64_t process_key;
    uint32_t thread;
    uint32_t n;
};
RACEHUNT_STATIC_ASSERT(sizeof(struct racehunt_pins_header) == 16, "protocol.h: pins header");
RACEHUNT_STATIC_ASSERT(sizeof(struct racehunt_pin_record) == 16, "protocol.h: pin record");

#endif
