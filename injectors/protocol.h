/* The harness <-> injectee protocol, version 1. docs/PROTOCOL.md describes it in prose;
 * this header is the C/C++ half, injectors/python/_racehunt/protocol.py the Python half.
 * Plain C so that both the shim (C) and the harness (C++) include it. */
#ifndef RACEHUNT_PROTOCOL_H
#define RACEHUNT_PROTOCOL_H

#include <stdint.h>

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

/* Counters of one process, in RACEHUNT_RUN_DIR/shim-<pid>.bin, mapped MAP_SHARED. */
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
    char exe[64];                          /* basename of /proc/self/exe */
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

#endif
