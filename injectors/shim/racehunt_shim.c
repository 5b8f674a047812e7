/* racehunt preload shim: perturbs the timing of a process's threads at its sync points.
 *
 * racehunt puts this library in LD_PRELOAD of every process of a run. It interposes the
 * blocking and waking calls threads synchronise with (mutexes, condition variables,
 * semaphores, sleeps, sched_yield, pthread_create, fork) and, with a probability given
 * for the run, inserts a sched_yield or a short delay before the real call, a yield after
 * calls that wake other threads, and rare longer "starvation windows". Decisions come
 * from per-thread counter-based random streams derived from the run seed, so a seed
 * names a decision stream (docs/PROTOCOL.md, "Preload shim decisions").
 *
 * RULES. Every hook obeys them; a change that breaks one is a bug even if tests pass.
 *  1. No malloc, no stdio, no locks inside hooks. Hooks use only the stack, TLS, static
 *     memory, relaxed atomics and raw system calls. (The load-time constructor may use
 *     dlsym, which may allocate.)
 *  2. Hooks are async-signal-safe: a signal handler may call sem_post (or anything else)
 *     while the same thread is inside a hook. Shared state is only touched with atomics;
 *     per-thread state tolerates re-entry (a decision number may be used twice, nothing
 *     worse).
 *  3. Fork-safe: the child of fork re-derives its process key, makes its own counters
 *     file and never writes into the parent's mapping once it runs its own code.
 *  4. Real functions are resolved once, with dlsym(RTLD_NEXT) (dlvsym where glibc keeps
 *     several versions, e.g. pthread_cond_* at GLIBC_2.3.2). A call that arrives before
 *     the constructor resolves on the spot; a call that arrives while this thread is
 *     already resolving (dlsym recursing into a hook) takes a fallback: glibc's
 *     __pthread_mutex_* entry points or a raw system call; where neither exists
 *     (semaphores, condition variables, pthread_create, fork) it reports on stderr and
 *     fails with ENOSYS/EAGAIN, a path glibc >= 2.34 never takes (see rh_unavailable).
 *  5. TLS is initial-exec only: no lazy TLS allocation (which may malloc) in a hook.
 *  6. Disabled (RACEHUNT_SHIM absent or enabled=0) or dormant (python_only=1 in a process
 *     that is not a Python interpreter): one predictable branch, then the real function.
 *  7. Timing only, never meaning. The real function is always called, with the caller's
 *     arguments unchanged (no trylock turned into a failure, no timed wait shortened),
 *     its result is returned, and errno is exactly what the real function left. Injected
 *     sleeps and yields are raw system calls, which are not cancellation points, so a
 *     hook never adds a cancellation point to a call that has none.
 *
 * Layout of this file: options (from options.def), random streams, real-function table,
 * per-thread state, counters and log files, perturbation, hooks, initialisation. */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "protocol.h"
#include "racehunt_hash.h"

#define RH_EXPORT __attribute__((visibility("default")))
#define RH_TLS __thread __attribute__((tls_model("initial-exec")))
#define RH_LIKELY(x) __builtin_expect(!!(x), 1)
#define RH_UNLIKELY(x) __builtin_expect(!!(x), 0)

extern char **environ;

/* ---------------------------------------------------------------------------------------
 * Options. One X-macro table (options.def) generates the struct, the parser's table and
 * the documentation, so the three cannot disagree. */

enum rh_option_type { RH_OPT_BOOL, RH_OPT_HEX64, RH_OPT_PROB, RH_OPT_PROB_OR_UNSET, RH_OPT_NS };

#define RH_OPT_CTYPE_BOOL int
#define RH_OPT_CTYPE_HEX64 uint64_t
#define RH_OPT_CTYPE_PROB double
#define RH_OPT_CTYPE_PROB_OR_UNSET double
#define RH_OPT_CTYPE_NS uint64_t

struct rh_options {
#define RACEHUNT_SHIM_OPTION(name, type, def, doc) RH_OPT_CTYPE_##type name;
#include "options.def"
};

enum rh_option_index {
#define RACEHUNT_SHIM_OPTION(name, type, def, doc) RH_OPTI_##name,
#include "options.def"
    RH_OPTION_COUNT
};

struct rh_option_desc {
    const char *name;
    enum rh_option_type type;
    size_t offset;
    const char *def;
};

static const struct rh_option_desc rh_option_table[RH_OPTION_COUNT] = {
#define RACEHUNT_SHIM_OPTION(name, type, def, doc) \
    {#name, RH_OPT_##type, offsetof(struct rh_options, name), def},
#include "options.def"
};

/* A probability turned into a threshold on 53 random bits: perturb when
 * (r >> 11) < threshold. 2^53 means always, 0 never. */
#define RH_PROB_ONE (UINT64_C(1) << 53)

/* ---------------------------------------------------------------------------------------
 * Global state. Written by the constructor (and by the fork child handler, while the
 * child is single-threaded), read by hooks. */

static int rh_active;          /* hooks do anything at all (enabled and protocol OK) */
static int rh_fork_handlers;   /* pthread_atfork handlers registered */
static struct rh_options rh_opt;
static uint64_t rh_threshold[RACEHUNT_POINT_COUNT];
/* A class draws decisions only when something can come of them (its probability, or
 * starvation, is non-zero); p=0 then costs a counter increment and nothing more. */
static int rh_draws[RACEHUNT_POINT_COUNT];
static uint64_t rh_delay_threshold;  /* share of perturbations that are delays */
static uint64_t rh_wake_threshold;
static uint64_t rh_starve_threshold; /* 0 unless starve=1 */
static uint64_t rh_process_key;
static uint32_t rh_next_thread;      /* creation-order counter of this process */
static uint32_t rh_fork_seq;         /* forks started by this process */
static uint64_t rh_t0_ns;            /* load (or fork) time, CLOCK_MONOTONIC */
static uint64_t rh_starved_ns;       /* time held back in this process */
static char rh_run_dir[4096];        /* copy of RACEHUNT_RUN_DIR; empty: no files */
static char rh_log_path[4200];       /* empty: no decision log */
static int rh_server;                /* a fork server: its forks are runs (rh_run_fork) */
static char *rh_token_area;          /* a fork server's RACEHUNT_RUN_TOKEN value as exec'd */
static size_t rh_token_cap;

/* Counters live in the mapped file when there is one, else in this static copy, so a
 * hook never tests for a missing mapping. */
static struct racehunt_shim_counters rh_static_counters;
static struct racehunt_shim_counters *rh_counters = &rh_static_counters;

/* The binary decision log (option dlog=1); NULL: none. */
static struct racehunt_dlog_header *rh_dlog;
static const struct racehunt_pin_record *rh_pins; /* sorted; with pins=1 */
static uint32_t rh_pin_count;
#define RH_DLOG_BYTES \
    (sizeof(struct racehunt_dlog_header) + \
     (size_t)RACEHUNT_DLOG_CAPACITY * sizeof(struct racehunt_dlog_record))

static const char *const rh_class_names[RACEHUNT_POINT_COUNT] = {
#define RH_X_NAME(id, name) name,
    RACEHUNT_POINT_CLASSES(RH_X_NAME)
#undef RH_X_NAME
};

/* ---------------------------------------------------------------------------------------
 * Random streams. splitmix64 is counter-based: draw n of a stream with key k is
 * mix(k + (n + 1) * golden), a pure function of (k, n). Keys derive from the seed. The
 * arithmetic (racehunt_draw, racehunt_derive, racehunt_sub) is racehunt_hash.h's, which the
 * harness shares. */

/* Independent sub-values of one draw (racehunt_sub's `which`), so that one decision
 * consumes one draw whatever it turns out to be. */
enum { RH_SUB_KIND = 1, RH_SUB_LENGTH = 2, RH_SUB_STARVE = 3, RH_SUB_WINDOW = 4 };

/* ---------------------------------------------------------------------------------------
 * Per-thread state, initial-exec TLS (zero at thread start, so "init == 0" means a thread
 * this shim has not seen yet). */

struct rh_thread {
    uint64_t key;      /* stream key: racehunt_derive(process key, index) */
    uint64_t n;        /* next decision number */
    uint32_t index;    /* creation order in the process, main thread 0 */
    uint32_t fork_seq; /* number of the fork this thread is performing */
    uint8_t init;
    uint8_t resolving; /* inside rh_resolve_all: dlsym may call back into a hook */
    uint8_t forking;   /* between atfork prepare and parent/child: count nothing */
};

static RH_TLS struct rh_thread rh_tls;

/* counters->threads is the highest creation index seen plus one; threads may report out
 * of order, so it only ever grows. */
static void rh_note_thread(uint32_t index) {
    uint32_t seen = __atomic_load_n(&rh_counters->threads, __ATOMIC_RELAXED);
    while (seen < index + 1 &&
           !__atomic_compare_exchange_n(&rh_counters->threads, &seen, index + 1, 1,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}

/* Thread index -> kernel thread id, so that the harness can name a thread's decisions by
 * the Python thread that made them. */
static void rh_record_tid(uint32_t index) {
    if (index < RACEHUNT_SHIM_TID_SLOTS)
        __atomic_store_n(&rh_counters->tids[index], (int32_t)syscall(SYS_gettid), __ATOMIC_RELAXED);
}

static void rh_thread_start(uint32_t index) {
    rh_tls.index = index;
    rh_tls.key = racehunt_derive(rh_process_key, index);
    rh_tls.n = 0;
    rh_tls.init = 1;
    rh_record_tid(index);
}

/* Threads not started through our pthread_create hook (or started while every slot was
 * taken) get the next index when they first reach a sync point. */
static inline struct rh_thread *rh_self(void) {
    if (RH_UNLIKELY(!rh_tls.init)) {
        uint32_t index = __atomic_fetch_add(&rh_next_thread, 1, __ATOMIC_RELAXED);
        rh_thread_start(index);
        rh_note_thread(index);
    }
    return &rh_tls;
}

/* ---------------------------------------------------------------------------------------
 * Raw system calls: injected waits and fallbacks. glibc's syscall() sets errno and is no
 * cancellation point. */

static uint64_t rh_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void rh_raw_sleep_ns(uint64_t ns) {
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    /* An interrupting signal ends the injected wait early; that only changes timing. */
    syscall(SYS_nanosleep, &ts, NULL);
}

static void rh_raw_yield(void) {
    syscall(SYS_sched_yield);
}

/* ---------------------------------------------------------------------------------------
 * Real functions. One table; each entry gets a pointer that starts at a bootstrap
 * function (so a call before the constructor resolves everything on the spot and hooks
 * never test for NULL) and a fallback for calls made while this thread is resolving.
 * X(ret, name, params, args, version, fallback). */

#if defined(__x86_64__)
#define RH_GLIBC_BASE "GLIBC_2.2.5"
#elif defined(__aarch64__)
#define RH_GLIBC_BASE "GLIBC_2.17"
#endif

#ifdef RH_GLIBC_BASE
/* glibc's own names of the mutex functions. They are compat symbols, so they are bound
 * by explicit version; they are not interposed by this shim, so they cannot recurse. */
extern int rh_glibc_mutex_lock(pthread_mutex_t *);
extern int rh_glibc_mutex_trylock(pthread_mutex_t *);
extern int rh_glibc_mutex_unlock(pthread_mutex_t *);
__asm__(".symver rh_glibc_mutex_lock, __pthread_mutex_lock@" RH_GLIBC_BASE);
__asm__(".symver rh_glibc_mutex_trylock, __pthread_mutex_trylock@" RH_GLIBC_BASE);
__asm__(".symver rh_glibc_mutex_unlock, __pthread_mutex_unlock@" RH_GLIBC_BASE);
#define RH_FALLBACK_MUTEX(fn, m) rh_glibc_mutex_##fn(m)
#else
#define RH_FALLBACK_MUTEX(fn, m) rh_unavailable("pthread_mutex_" #fn, ENOSYS)
#endif

/* The path for a function with no fallback that is called while dlsym runs. glibc since
 * 2.34 takes its loader lock and allocates through internal entry points, so this path
 * is not reached there; elsewhere it reports instead of deadlocking silently. */
static int rh_unavailable(const char *name, int err) {
    static const char msg[] = "racehunt shim: real function unavailable: ";
    ssize_t ignored = write(2, msg, sizeof msg - 1);
    ignored = write(2, name, strlen(name));
    ignored = write(2, "\n", 1);
    (void)ignored;
    return err;
}

static int rh_unavailable_errno(const char *name) {
    errno = rh_unavailable(name, ENOSYS);
    return -1;
}

static int rh_raw_clock_nanosleep(clockid_t clk, int flags, const struct timespec *req,
                                  struct timespec *rem) {
    int saved = errno;
    long r = syscall(SYS_clock_nanosleep, clk, flags, req, rem);
    int err = r == 0 ? 0 : errno;
    errno = saved;
    return err;
}

static int rh_raw_poll(struct pollfd *fds, nfds_t n, int timeout) {
    struct timespec ts, *tsp = NULL;
    if (timeout >= 0) {
        ts.tv_sec = timeout / 1000;
        ts.tv_nsec = (long)(timeout % 1000) * 1000000;
        tsp = &ts;
    }
    return (int)syscall(SYS_ppoll, fds, n, tsp, NULL, (size_t)8);
}

#if defined(SYS_select)
#define RH_RAW_SELECT(n, r, w, e, tv) (int)syscall(SYS_select, n, r, w, e, tv)
#else
#define RH_RAW_SELECT(n, r, w, e, tv) rh_unavailable_errno("select")
#endif

static unsigned int rh_raw_sleep_seconds(unsigned int s) {
    struct timespec ts = {(time_t)s, 0}, rem = {0, 0};
    if (syscall(SYS_nanosleep, &ts, &rem) == 0) return 0;
    return (unsigned int)rem.tv_sec + (rem.tv_nsec > 0);
}

static int rh_raw_usleep(useconds_t us) {
    struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
    return (int)syscall(SYS_nanosleep, &ts, NULL);
}

typedef void *(*rh_start_fn)(void *);

#if __GLIBC_PREREQ(2, 30)
#define RH_CLOCK_FUNCTIONS(X)                                                              \
    X(int, pthread_mutex_clocklock, (pthread_mutex_t * m, clockid_t c,                    \
                                     const struct timespec *t),                           \
      (m, c, t), NULL, rh_unavailable("pthread_mutex_clocklock", ENOSYS))                  \
    X(int, pthread_cond_clockwait, (pthread_cond_t * cv, pthread_mutex_t * m, clockid_t c, \
                                    const struct timespec *t),                            \
      (cv, m, c, t), NULL, rh_unavailable("pthread_cond_clockwait", ENOSYS))               \
    X(int, sem_clockwait, (sem_t * s, clockid_t c, const struct timespec *t), (s, c, t),   \
      NULL, rh_unavailable_errno("sem_clockwait"))
#else
#define RH_CLOCK_FUNCTIONS(X)
#endif

#define RH_REAL_FUNCTIONS(X)                                                               \
    X(int, pthread_mutex_lock, (pthread_mutex_t * m), (m), NULL, RH_FALLBACK_MUTEX(lock, m)) \
    X(int, pthread_mutex_trylock, (pthread_mutex_t * m), (m), NULL,                        \
      RH_FALLBACK_MUTEX(trylock, m))                                                       \
    X(int, pthread_mutex_unlock, (pthread_mutex_t * m), (m), NULL,                         \
      RH_FALLBACK_MUTEX(unlock, m))                                                        \
    X(int, pthread_mutex_timedlock, (pthread_mutex_t * m, const struct timespec *t), (m, t), \
      NULL, rh_unavailable("pthread_mutex_timedlock", ENOSYS))                             \
    X(int, pthread_cond_wait, (pthread_cond_t * cv, pthread_mutex_t * m), (cv, m),         \
      "GLIBC_2.3.2", rh_unavailable("pthread_cond_wait", ENOSYS))                          \
    X(int, pthread_cond_timedwait,                                                         \
      (pthread_cond_t * cv, pthread_mutex_t * m, const struct timespec *t), (cv, m, t),    \
      "GLIBC_2.3.2", rh_unavailable("pthread_cond_timedwait", ENOSYS))                     \
    X(int, pthread_cond_signal, (pthread_cond_t * cv), (cv), "GLIBC_2.3.2",                \
      rh_unavailable("pthread_cond_signal", ENOSYS))                                       \
    X(int, pthread_cond_broadcast, (pthread_cond_t * cv), (cv), "GLIBC_2.3.2",             \
      rh_unavailable("pthread_cond_broadcast", ENOSYS))                                    \
    X(int, sem_wait, (sem_t * s), (s), NULL, rh_unavailable_errno("sem_wait"))             \
    X(int, sem_timedwait, (sem_t * s, const struct timespec *t), (s, t), NULL,             \
      rh_unavailable_errno("sem_timedwait"))                                               \
    X(int, sem_trywait, (sem_t * s), (s), NULL, rh_unavailable_errno("sem_trywait"))       \
    X(int, sem_post, (sem_t * s), (s), NULL, rh_unavailable_errno("sem_post"))             \
    X(int, nanosleep, (const struct timespec *req, struct timespec *rem), (req, rem), NULL, \
      (int)syscall(SYS_nanosleep, req, rem))                                               \
    X(int, clock_nanosleep,                                                                \
      (clockid_t c, int f, const struct timespec *req, struct timespec *rem),              \
      (c, f, req, rem), NULL, rh_raw_clock_nanosleep(c, f, req, rem))                      \
    X(int, usleep, (useconds_t us), (us), NULL, rh_raw_usleep(us))                         \
    X(unsigned int, sleep, (unsigned int s), (s), NULL, rh_raw_sleep_seconds(s))           \
    X(int, select, (int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv),           \
      (n, r, w, e, tv), NULL, RH_RAW_SELECT(n, r, w, e, tv))                               \
    X(int, poll, (struct pollfd * fds, nfds_t n, int timeout), (fds, n, timeout), NULL,    \
      rh_raw_poll(fds, n, timeout))                                                        \
    X(int, sched_yield, (void), (), NULL, (int)syscall(SYS_sched_yield))                   \
    X(int, pthread_create,                                                                 \
      (pthread_t * th, const pthread_attr_t *attr, rh_start_fn fn, void *arg),             \
      (th, attr, fn, arg), NULL, rh_unavailable("pthread_create", EAGAIN))                 \
    X(pid_t, fork, (void), (), NULL, rh_unavailable_errno("fork"))                         \
    RH_CLOCK_FUNCTIONS(X)

static int rh_resolve_all(void);

#define RH_DECLARE_REAL(ret, name, params, args, version, fallback) \
    static ret rh_boot_##name params;                               \
    static ret(*rh_real_##name) params = rh_boot_##name;            \
    static ret rh_fallback_##name params {                          \
        return fallback;                                            \
    }                                                               \
    static ret rh_boot_##name params {                              \
        if (rh_resolve_all())                                       \
            return __atomic_load_n(&rh_real_##name, __ATOMIC_ACQUIRE) args; \
        return rh_fallback_##name args;                             \
    }
/* Most fallbacks ignore their arguments (they only report); that is expected. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
RH_REAL_FUNCTIONS(RH_DECLARE_REAL)
#pragma GCC diagnostic pop
#undef RH_DECLARE_REAL

#define RH_REAL(name) (__atomic_load_n(&rh_real_##name, __ATOMIC_RELAXED))

static void *rh_lookup(const char *name, const char *version) {
    void *p = NULL;
    if (version) p = dlvsym(RTLD_NEXT, name, version);
    if (!p) p = dlsym(RTLD_NEXT, name);
    return p;
}

/* Resolves every real function. Returns 0, doing nothing, when this thread is already
 * resolving: dlsym has called back into a hook, which must then take its fallback. */
static int rh_resolve_all(void) {
    if (rh_tls.resolving) return 0;
    rh_tls.resolving = 1;
    int saved = errno;
/* memcpy turns dlsym's object pointer into a function pointer without the conversion
 * ISO C leaves undefined (POSIX guarantees the representations match). */
#define RH_RESOLVE(ret, name, params, args, version, fallback)           \
    {                                                                    \
        void *p_ = rh_lookup(#name, version);                            \
        __typeof__(rh_real_##name) f_ = rh_fallback_##name;              \
        if (p_) memcpy(&f_, &p_, sizeof f_);                             \
        __atomic_store_n(&rh_real_##name, f_, __ATOMIC_RELEASE);         \
    }
    RH_REAL_FUNCTIONS(RH_RESOLVE)
#undef RH_RESOLVE
    errno = saved;
    rh_tls.resolving = 0;
    return 1;
}

/* ---------------------------------------------------------------------------------------
 * Small async-signal-safe string helpers (no stdio). */

static size_t rh_append(char *buf, size_t pos, size_t cap, const char *s) {
    while (*s && pos + 1 < cap) buf[pos++] = *s++;
    buf[pos < cap ? pos : cap - 1] = '\0';
    return pos;
}

static size_t rh_append_u64(char *buf, size_t pos, size_t cap, uint64_t v) {
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n && pos + 1 < cap) buf[pos++] = tmp[--n];
    buf[pos < cap ? pos : cap - 1] = '\0';
    return pos;
}

static size_t rh_append_hex64(char *buf, size_t pos, size_t cap, uint64_t v) {
    static const char digits[] = "0123456789abcdef";
    for (int shift = 60; shift >= 0 && pos + 1 < cap; shift -= 4)
        buf[pos++] = digits[(v >> shift) & 0xf];
    buf[pos < cap ? pos : cap - 1] = '\0';
    return pos;
}

/* ---------------------------------------------------------------------------------------
 * Decision log (option log=1): one line per injected perturbation, appended with one
 * write() on a descriptor opened and closed around it. Keeping no descriptor open means
 * a program that closes or reuses descriptor numbers can never receive our lines. */

static void rh_log_write(const char *line, size_t len) {
    int fd = open(rh_log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return;
    ssize_t ignored = write(fd, line, len);
    (void)ignored;
    close(fd);
}

static void rh_dlog_record(const struct rh_thread *t, uint64_t n, int cls, int action,
                           uint64_t ns, uintptr_t site) {
    struct racehunt_dlog_header *h = rh_dlog;
    if (!h || RH_UNLIKELY(rh_tls.forking)) return;
    uint64_t slot = __atomic_fetch_add(&h->next, 1, __ATOMIC_RELAXED);
    if (slot >= RACEHUNT_DLOG_CAPACITY) return;
    struct racehunt_dlog_record *r = (struct racehunt_dlog_record *)(h + 1) + slot;
    r->thread = t->index;
    r->n = (uint32_t)n;
    r->point = (uint8_t)cls;
    r->image = (uint16_t)rh_counters->images;
    r->ns = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
    r->site = (uint64_t)site;
    __atomic_store_n(&r->action, (uint8_t)action, __ATOMIC_RELEASE);
}

static void rh_log_decision(const struct rh_thread *t, uint64_t n, int cls, const char *action,
                            uint64_t ns, uintptr_t site) {
    int code = action[0] == 'y' ? RACEHUNT_DLOG_YIELD
               : action[0] == 'd' ? RACEHUNT_DLOG_DELAY
               : action[0] == 'w' ? RACEHUNT_DLOG_WAKE
                                  : RACEHUNT_DLOG_STARVE;
    rh_dlog_record(t, n, cls, code, ns, site);
    if (RH_LIKELY(rh_log_path[0] == '\0')) return;
    int saved = errno;
    char line[128];
    size_t pos = 0;
    pos = rh_append_u64(line, pos, sizeof line, t->index);
    pos = rh_append(line, pos, sizeof line, " ");
    pos = rh_append_u64(line, pos, sizeof line, n);
    pos = rh_append(line, pos, sizeof line, " ");
    pos = rh_append(line, pos, sizeof line, rh_class_names[cls]);
    pos = rh_append(line, pos, sizeof line, " ");
    pos = rh_append(line, pos, sizeof line, action);
    pos = rh_append(line, pos, sizeof line, " ");
    pos = rh_append_u64(line, pos, sizeof line, ns);
    pos = rh_append(line, pos, sizeof line, "\n");
    rh_log_write(line, pos);
    errno = saved;
}

/* ---------------------------------------------------------------------------------------
 * Counting and perturbation. */

static inline void rh_count(int cls) {
    if (RH_UNLIKELY(rh_tls.forking)) return;
    __atomic_fetch_add(&rh_counters->calls[cls], 1, __ATOMIC_RELAXED);
}

static inline void rh_add(uint64_t *counter, uint64_t v) {
    if (RH_UNLIKELY(rh_tls.forking)) return;
    __atomic_fetch_add(counter, v, __ATOMIC_RELAXED);
}

/* With pins=1: is decision n of thread t pinned? A binary search over the mapped, sorted
 * records: no allocation, no lock, async-signal-safe. */
static int rh_pinned(const struct rh_thread *t, uint64_t n) {
    uint32_t lo = 0, hi = rh_pin_count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const struct racehunt_pin_record *r = &rh_pins[mid];
        int less = r->process_key != rh_process_key ? r->process_key < rh_process_key
                   : r->thread != t->index         ? r->thread < t->index
                                                   : r->n < n;
        if (less)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < rh_pin_count && rh_pins[lo].process_key == rh_process_key &&
           rh_pins[lo].thread == t->index && rh_pins[lo].n == n;
}

/* Opens a starvation window when the draw says so and the process's budget allows it.
 * Returns 1 when the thread was held back. */
static int rh_maybe_starve(struct rh_thread *t, uint64_t n, uint64_t r, int cls, uintptr_t site) {
    if ((racehunt_sub(r, RH_SUB_STARVE) >> 11) >= rh_starve_threshold) return 0;
    uint64_t lo = 1000000, hi = rh_opt.starve_max_ns > lo ? rh_opt.starve_max_ns : lo;
    uint64_t window = lo + racehunt_sub(r, RH_SUB_WINDOW) % (hi - lo + 1);
    uint64_t elapsed = rh_now_ns() - rh_t0_ns;
    uint64_t budget = (uint64_t)((double)elapsed * rh_opt.starve_share);
    uint64_t total = __atomic_add_fetch(&rh_starved_ns, window, __ATOMIC_RELAXED);
    if (total > budget) {
        __atomic_sub_fetch(&rh_starved_ns, window, __ATOMIC_RELAXED);
        return 0;
    }
    rh_add(&rh_counters->starvation_windows, 1);
    rh_add(&rh_counters->starvation_ns_total, window);
    rh_log_decision(t, n, cls, "starve", window, site);
    rh_raw_sleep_ns(window);
    return 1;
}

/* The perturbation before an interposed call of class cls. Consumes exactly one decision
 * of the calling thread's stream whatever it decides, so decision n of a thread stays a
 * pure function of (seed, process, thread, n). */
static __attribute__((noinline)) void rh_perturb(int cls, uintptr_t site) {
    int saved = errno;
    struct rh_thread *t = rh_self();
    uint64_t n = t->n++;
    uint64_t r = racehunt_draw(t->key, n);
    rh_add(&rh_counters->decisions, 1);
    if (RH_UNLIKELY(rh_opt.pins) && !rh_pinned(t, n)) {
        errno = saved;
        return;
    }
    if (rh_starve_threshold && rh_maybe_starve(t, n, r, cls, site)) {
        errno = saved;
        return;
    }
    if ((r >> 11) < rh_threshold[cls]) {
        if ((racehunt_sub(r, RH_SUB_KIND) >> 11) < rh_delay_threshold && rh_opt.max_delay_ns) {
            uint64_t ns = 1 + racehunt_sub(r, RH_SUB_LENGTH) % rh_opt.max_delay_ns;
            rh_add(&rh_counters->delays[cls], 1);
            rh_add(&rh_counters->delay_ns_total, ns);
            rh_log_decision(t, n, cls, "delay", ns, site);
            rh_raw_sleep_ns(ns);
        } else {
            rh_add(&rh_counters->yields[cls], 1);
            rh_log_decision(t, n, cls, "yield", 0, site);
            rh_raw_yield();
        }
    }
    errno = saved;
}

/* The yield after a call that may have woken another thread (one decision). */
static __attribute__((noinline)) void rh_after_wake(int cls, uintptr_t site) {
    int saved = errno;
    struct rh_thread *t = rh_self();
    uint64_t n = t->n++;
    uint64_t r = racehunt_draw(t->key, n);
    rh_add(&rh_counters->decisions, 1);
    if ((r >> 11) < rh_wake_threshold && (!RH_UNLIKELY(rh_opt.pins) || rh_pinned(t, n))) {
        rh_add(&rh_counters->yields[cls], 1);
        rh_add(&rh_counters->wake_yields, 1);
        rh_log_decision(t, n, cls, "wake", 0, site);
        rh_raw_yield();
    }
    errno = saved;
}

/* Armed is one bit of the counters' flags, so that the Python bootstrap can arm its
 * process by writing the mapped file (no ctypes import, which costs milliseconds). */
static inline int rh_is_armed(void) {
    return (__atomic_load_n(&rh_counters->flags, __ATOMIC_RELAXED) & RACEHUNT_SHIM_FLAG_ARMED) != 0;
}

/* Count the call and perturb it when armed. `site` is the hook's return address: where
 * the program called the interposed function. */
static inline void rh_before(int cls, uintptr_t site) {
    rh_count(cls);
    if (rh_draws[cls] && rh_is_armed()) rh_perturb(cls, site);
}

static inline void rh_after(int cls, uintptr_t site) {
    if (rh_wake_threshold && rh_is_armed()) rh_after_wake(cls, site);
}

/* Expanded inside a hook: the address its caller returns to. */
#define RH_CALLER() ((uintptr_t)__builtin_return_address(0))

/* ---------------------------------------------------------------------------------------
 * Hooks. RH_HOOK generates the common shape: idle -> one branch and the real function;
 * active -> count, maybe perturb, call, maybe yield after a wake-up call. */

#define RH_IDLE() RH_LIKELY(!__atomic_load_n(&rh_active, __ATOMIC_RELAXED))

#define RH_HOOK(cls, wakes, ret, name, params, args) \
    RH_EXPORT ret name params {                      \
        if (RH_IDLE()) return RH_REAL(name) args;    \
        rh_before(cls, RH_CALLER());                 \
        ret r_ = RH_REAL(name) args;                 \
        if (wakes) {                                 \
            int e_ = errno;                          \
            rh_after(cls, RH_CALLER());              \
            errno = e_;                              \
        }                                            \
        return r_;                                   \
    }

/* Sleeps are perturbed when they return, not before: the thread wakes late. A delay before
 * the call would be absorbed by sleeps to an absolute deadline, which is how CPython >= 3.11
 * implements time.sleep (clock_nanosleep with TIMER_ABSTIME). Still one decision per call. */
#define RH_HOOK_AFTER(cls, ret, name, params, args) \
    RH_EXPORT ret name params {                     \
        if (RH_IDLE()) return RH_REAL(name) args;   \
        ret r_ = RH_REAL(name) args;                \
        int e_ = errno;                             \
        rh_before(cls, RH_CALLER());                \
        errno = e_;                                 \
        return r_;                                  \
    }

RH_HOOK(RACEHUNT_POINT_MUTEX, 0, int, pthread_mutex_lock, (pthread_mutex_t * m), (m))
RH_HOOK(RACEHUNT_POINT_MUTEX, 0, int, pthread_mutex_trylock, (pthread_mutex_t * m), (m))
RH_HOOK(RACEHUNT_POINT_MUTEX, 0, int, pthread_mutex_timedlock,
        (pthread_mutex_t * m, const struct timespec *t), (m, t))
RH_HOOK(RACEHUNT_POINT_MUTEX, 1, int, pthread_mutex_unlock, (pthread_mutex_t * m), (m))
RH_HOOK(RACEHUNT_POINT_COND, 0, int, pthread_cond_wait, (pthread_cond_t * cv, pthread_mutex_t * m),
        (cv, m))
RH_HOOK(RACEHUNT_POINT_COND, 0, int, pthread_cond_timedwait,
        (pthread_cond_t * cv, pthread_mutex_t * m, const struct timespec *t), (cv, m, t))
RH_HOOK(RACEHUNT_POINT_COND, 1, int, pthread_cond_signal, (pthread_cond_t * cv), (cv))
RH_HOOK(RACEHUNT_POINT_COND, 1, int, pthread_cond_broadcast, (pthread_cond_t * cv), (cv))
RH_HOOK(RACEHUNT_POINT_SEM, 0, int, sem_wait, (sem_t * s), (s))
RH_HOOK(RACEHUNT_POINT_SEM, 0, int, sem_timedwait, (sem_t * s, const struct timespec *t), (s, t))
RH_HOOK(RACEHUNT_POINT_SEM, 0, int, sem_trywait, (sem_t * s), (s))
RH_HOOK(RACEHUNT_POINT_SEM, 1, int, sem_post, (sem_t * s), (s))
RH_HOOK_AFTER(RACEHUNT_POINT_SLEEP, int, nanosleep, (const struct timespec *req, struct timespec *rem),
              (req, rem))
RH_HOOK_AFTER(RACEHUNT_POINT_SLEEP, int, clock_nanosleep,
              (clockid_t c, int f, const struct timespec *req, struct timespec *rem), (c, f, req, rem))
RH_HOOK_AFTER(RACEHUNT_POINT_SLEEP, int, usleep, (useconds_t us), (us))
RH_HOOK_AFTER(RACEHUNT_POINT_SLEEP, unsigned int, sleep, (unsigned int s), (s))
RH_HOOK(RACEHUNT_POINT_YIELD, 0, int, sched_yield, (void), ())
#if __GLIBC_PREREQ(2, 30)
RH_HOOK(RACEHUNT_POINT_MUTEX, 0, int, pthread_mutex_clocklock,
        (pthread_mutex_t * m, clockid_t c, const struct timespec *t), (m, c, t))
RH_HOOK(RACEHUNT_POINT_COND, 0, int, pthread_cond_clockwait,
        (pthread_cond_t * cv, pthread_mutex_t * m, clockid_t c, const struct timespec *t),
        (cv, m, c, t))
RH_HOOK(RACEHUNT_POINT_SEM, 0, int, sem_clockwait, (sem_t * s, clockid_t c, const struct timespec *t),
        (s, c, t))
#endif

/* select and poll are sync points only when they are used as sleeps (no descriptors);
 * with descriptors they are I/O, which this shim leaves alone and does not count. */
RH_EXPORT int select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv) {
    if (RH_IDLE() || (n != 0 && (r || w || e))) return RH_REAL(select)(n, r, w, e, tv);
    int r_ = RH_REAL(select)(n, r, w, e, tv);
    int e_ = errno;
    rh_before(RACEHUNT_POINT_SLEEP, RH_CALLER());
    errno = e_;
    return r_;
}

RH_EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout) {
    if (RH_IDLE() || n != 0) return RH_REAL(poll)(fds, n, timeout);
    int r_ = RH_REAL(poll)(fds, n, timeout);
    int e_ = errno;
    rh_before(RACEHUNT_POINT_SLEEP, RH_CALLER());
    errno = e_;
    return r_;
}

/* pthread_create passes the new thread its creation index through a trampoline. The
 * start routine and its argument travel in a static slot claimed with a CAS (no malloc);
 * the new thread frees the slot first thing. When every slot is taken the thread starts
 * directly and gets an index when it first reaches a sync point. */

#define RH_SLOTS 256

struct rh_start_slot {
    int busy;
    uint32_t index;
    rh_start_fn fn;
    void *arg;
};

static struct rh_start_slot rh_slots[RH_SLOTS];
static unsigned rh_slot_hint;

static struct rh_start_slot *rh_slot_claim(void) {
    unsigned start = __atomic_fetch_add(&rh_slot_hint, 1, __ATOMIC_RELAXED);
    for (unsigned i = 0; i < RH_SLOTS; i++) {
        struct rh_start_slot *s = &rh_slots[(start + i) % RH_SLOTS];
        int expected = 0;
        if (__atomic_compare_exchange_n(&s->busy, &expected, 1, 0, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
            return s;
    }
    return NULL;
}

static void *rh_trampoline(void *p) {
    struct rh_start_slot *s = p;
    rh_start_fn fn = s->fn;
    void *arg = s->arg;
    uint32_t index = s->index;
    __atomic_store_n(&s->busy, 0, __ATOMIC_RELEASE);
    rh_thread_start(index);
    /* The start of a thread is a sync point of its own (a late start exposes races on
     * what the creator does next); it is not an interposed call, so it is not counted. */
    if (rh_draws[RACEHUNT_POINT_THREAD] && rh_is_armed())
        rh_perturb(RACEHUNT_POINT_THREAD, (uintptr_t)fn + 1); /* +1: sites are looked up at -1 */
    return fn(arg);
}

RH_EXPORT int pthread_create(pthread_t *th, const pthread_attr_t *attr, rh_start_fn fn,
                             void *arg) {
    if (RH_IDLE()) return RH_REAL(pthread_create)(th, attr, fn, arg);
    rh_before(RACEHUNT_POINT_THREAD, RH_CALLER());
    struct rh_start_slot *s = rh_slot_claim();
    if (!s) {
        __atomic_fetch_add(&rh_counters->thread_slots_full, 1, __ATOMIC_RELAXED);
        return RH_REAL(pthread_create)(th, attr, fn, arg);
    }
    s->fn = fn;
    s->arg = arg;
    s->index = __atomic_fetch_add(&rh_next_thread, 1, __ATOMIC_RELAXED);
    rh_note_thread(s->index);
    int r = RH_REAL(pthread_create)(th, attr, rh_trampoline, s);
    if (r != 0) __atomic_store_n(&s->busy, 0, __ATOMIC_RELEASE);
    return r;
}

RH_EXPORT pid_t fork(void) {
    if (RH_IDLE()) return RH_REAL(fork)();
    rh_before(RACEHUNT_POINT_FORK, RH_CALLER());
    /* The atfork handlers (rh_atfork_*) switch the child to its own key and files. */
    pid_t pid = RH_REAL(fork)();
    if (pid == 0 && rh_draws[RACEHUNT_POINT_FORK] && rh_is_armed())
        rh_perturb(RACEHUNT_POINT_FORK, RH_CALLER());
    return pid;
}

/* Exported for the Python bootstrap (through ctypes) and for tests: arms or disarms
 * injection. Calls are counted either way. A no-op when the shim is inactive. */
RH_EXPORT void racehunt_shim_arm(int on) {
    if (!__atomic_load_n(&rh_active, __ATOMIC_RELAXED)) return;
    if (on)
        __atomic_fetch_or(&rh_counters->flags, RACEHUNT_SHIM_FLAG_ARMED, __ATOMIC_RELAXED);
    else
        __atomic_fetch_and(&rh_counters->flags, ~RACEHUNT_SHIM_FLAG_ARMED, __ATOMIC_RELAXED);
}

/* Exported so that the bootstrap can tell "shim loaded and active" from "absent". */
RH_EXPORT int racehunt_shim_active(void) {
    return __atomic_load_n(&rh_active, __ATOMIC_RELAXED);
}

/* ---------------------------------------------------------------------------------------
 * Option parsing (load time; no malloc, no strtod, so no locale dependence). */

static int rh_parse_u64(const char *s, size_t len, uint64_t *out) {
    uint64_t v = 0;
    if (len == 0) return 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        if (v > (UINT64_MAX - 9) / 10) return 0;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 1;
}

static int rh_parse_hex64(const char *s, size_t len, uint64_t *out) {
    if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s += 2, len -= 2;
    if (len == 0 || len > 16) return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) return 0;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return 1;
}

/* Decimal [digits][.digits][e[+-]digits], no sign: probabilities and shares only. */
static int rh_parse_decimal(const char *s, size_t len, double *out) {
    size_t i = 0;
    double v = 0, scale = 1;
    int digits = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') v = v * 10 + (s[i++] - '0'), digits++;
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            scale /= 10;
            v += (s[i++] - '0') * scale;
            digits++;
        }
    }
    if (!digits) return 0;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        int neg = 0, exp = 0, edigits = 0;
        if (i < len && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
        while (i < len && s[i] >= '0' && s[i] <= '9' && exp < 400)
            exp = exp * 10 + (s[i++] - '0'), edigits++;
        if (!edigits) return 0;
        while (exp--) v = neg ? v / 10 : v * 10;
    }
    if (i != len) return 0;
    *out = v;
    return 1;
}

static int rh_parse_value(const struct rh_option_desc *d, const char *s, size_t len) {
    char *field = (char *)&rh_opt + d->offset;
    switch (d->type) {
    case RH_OPT_BOOL:
        if (len != 1 || (s[0] != '0' && s[0] != '1')) return 0;
        *(int *)field = s[0] == '1';
        return 1;
    case RH_OPT_HEX64:
        return rh_parse_hex64(s, len, (uint64_t *)field);
    case RH_OPT_PROB_OR_UNSET:
        if (len == 0) {
            *(double *)field = -1;
            return 1;
        }
        /* fall through */
    case RH_OPT_PROB: {
        double v;
        if (!rh_parse_decimal(s, len, &v) || v > 1) return 0;
        *(double *)field = v;
        return 1;
    }
    case RH_OPT_NS:
        return rh_parse_u64(s, len, (uint64_t *)field);
    }
    return 0;
}

/* Parses RACEHUNT_SHIM into rh_opt. Returns 0 when some pair was unknown or malformed
 * (the others still apply). given[i] tells which options the user set. */
static int rh_parse_options(const char *spec, int given[RH_OPTION_COUNT]) {
    int ok = 1;
    for (int i = 0; i < RH_OPTION_COUNT; i++) {
        const struct rh_option_desc *d = &rh_option_table[i];
        rh_parse_value(d, d->def, strlen(d->def));
        given[i] = 0;
    }
    const char *p = spec;
    while (p && *p) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 0) {
            const char *eq = memchr(p, '=', len);
            size_t klen = eq ? (size_t)(eq - p) : len;
            int found = 0;
            for (int i = 0; i < RH_OPTION_COUNT; i++) {
                const struct rh_option_desc *d = &rh_option_table[i];
                if (strlen(d->name) == klen && memcmp(d->name, p, klen) == 0) {
                    found = 1;
                    if (eq && rh_parse_value(d, eq + 1, len - klen - 1))
                        given[i] = 1;
                    else
                        ok = 0;
                    break;
                }
            }
            if (!found) ok = 0;
        }
        p = end ? end + 1 : NULL;
    }
    return ok;
}

static uint64_t rh_prob_threshold(double p) {
    if (p <= 0) return 0;
    if (p >= 1) return RH_PROB_ONE;
    return (uint64_t)(p * (double)RH_PROB_ONE);
}

/* ---------------------------------------------------------------------------------------
 * Process identity and files. */

/* FNV-1a over /proc/self/cmdline, read in pieces into a stack buffer. An exec'd process
 * derives its key from the seed and this hash, so the same command under the same seed
 * gets the same streams. */
static uint64_t rh_cmdline_hash(void) {
    uint64_t h = RACEHUNT_FNV_OFFSET;
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return h;
    char buf[512];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) h = racehunt_fnv1a64(h, buf, (size_t)n);
    close(fd);
    return h;
}

/* Field 22 of /proc/self/stat: the process's start time in clock ticks. It survives exec
 * and differs for a later process that reuses the pid, so it tells the two apart. */
static uint64_t rh_start_ticks(void) {
    char buf[1024];
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p) return 0;
    /* After ") " comes field 3; skip to field 22. */
    int field = 2;
    for (p++; *p && field < 21; p++)
        if (*p == ' ') field++;
    uint64_t v = 0;
    while (*p >= '0' && *p <= '9') v = v * 10 + (uint64_t)(*p++ - '0');
    return v;
}

static void rh_fill_exe(char *out, size_t cap) {
    char path[512];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    if (n <= 0) return;
    path[n] = '\0';
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    memset(out, 0, cap);
    rh_append(out, 0, cap, base);
}

/* The executable's name starts with "python" (python3, python3.11, python3.13t...). */
static int rh_is_python(void) {
    char exe[64] = {0};
    rh_fill_exe(exe, sizeof exe);
    return strncmp(exe, "python", 6) == 0;
}

/* A Python interpreter, whatever its executable's name: some loaded object (the
 * executable, which exports the C API, or the libpython3.x.so it links) defines the C API.
 * Asked once by the constructor (dlsym may allocate and takes the loader's lock, so not
 * in a fork child's handler); an exec'd image asks again. */
static int rh_python_api;

static int rh_has_python_api(void) {
    return dlsym(RTLD_DEFAULT, "Py_IsInitialized") != NULL;
}

static size_t rh_run_file_path(char *buf, size_t cap, const char *suffix) {
    size_t pos = rh_append(buf, 0, cap, rh_run_dir);
    pos = rh_append(buf, pos, cap, "/" RACEHUNT_FILE_SHIM_PREFIX);
    pos = rh_append_u64(buf, pos, cap, (uint64_t)getpid());
    return rh_append(buf, pos, cap, suffix);
}

/* Maps $RACEHUNT_RUN_DIR/shim-<pid>.bin and fills its header; magic and version are
 * stored last, so a reader that sees the magic sees a whole header. A file left by this
 * same process before an exec (same pid, same start time) is kept and its counters go on
 * accumulating; anything else at that path is reset. */
/* Maps $RACEHUNT_RUN_DIR/shim-<pid><suffix> shared, `size` bytes. Its old content is kept
 * only when it has exactly that size and !fresh (*kept says which); otherwise the file is
 * emptied to zeros. NULL when it cannot be opened or mapped. */
static void *rh_map_run_file(const char *suffix, size_t size, int fresh, int *kept) {
    char path[4200];
    rh_run_file_path(path, sizeof path, suffix);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) return NULL;
    off_t end = lseek(fd, 0, SEEK_END);
    *kept = !fresh && end == (off_t)size;
    if (!*kept && (ftruncate(fd, 0) != 0 || ftruncate(fd, (off_t)size) != 0)) {
        close(fd);
        return NULL;
    }
    void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    return map == MAP_FAILED ? NULL : map;
}

static void rh_open_counters(uint32_t flags, int fresh) {
    size_t size = sizeof(struct racehunt_shim_counters);
    int kept;
    struct racehunt_shim_counters *c = rh_map_run_file(RACEHUNT_FILE_SHIM_COUNTERS_SUFFIX, size, fresh, &kept);
    if (!c) return;
    uint64_t ticks = rh_start_ticks();
    int keep = kept && c->magic == RACEHUNT_SHIM_MAGIC &&
               c->version == RACEHUNT_PROTOCOL_VERSION && c->pid == (int32_t)getpid() &&
               c->start_ticks == ticks;
    if (!keep) {
        memset(c, 0, size);
        c->pid = (int32_t)getpid();
        c->start_ticks = ticks;
    }
    c->ppid = (int32_t)getppid();
    c->process_key = rh_process_key;
    c->flags = flags;
    c->threads = __atomic_load_n(&rh_next_thread, __ATOMIC_RELAXED);
    c->images++;
    rh_fill_exe(c->exe, sizeof c->exe);
    __atomic_store_n(&c->version, RACEHUNT_PROTOCOL_VERSION, __ATOMIC_RELEASE);
    __atomic_store_n(&c->magic, RACEHUNT_SHIM_MAGIC, __ATOMIC_RELEASE);
    rh_counters = c;
}

/* The binary decision log: a fresh file in a new process (fresh=1: a fork child), kept and
 * appended to by an exec'd image of the same process. */
static void rh_open_dlog(int fresh) {
    if (rh_dlog) munmap(rh_dlog, RH_DLOG_BYTES);
    rh_dlog = NULL;
    if (!rh_opt.dlog || !rh_run_dir[0] || rh_counters == &rh_static_counters) return;
    int keep;
    struct racehunt_dlog_header *h =
        rh_map_run_file(RACEHUNT_FILE_SHIM_DLOG_SUFFIX, RH_DLOG_BYTES, fresh || rh_counters->images <= 1, &keep);
    if (!h) return;
    if (!keep || h->magic != RACEHUNT_DLOG_MAGIC) {
        h->version = RACEHUNT_PROTOCOL_VERSION;
        h->capacity = RACEHUNT_DLOG_CAPACITY;
        h->record_size = sizeof(struct racehunt_dlog_record);
        h->next = 0;
        h->pid = (int32_t)getpid();
        __atomic_store_n(&h->magic, RACEHUNT_DLOG_MAGIC, __ATOMIC_RELEASE);
    }
    rh_dlog = h;
}

/* Maps $RACEHUNT_RUN_DIR/shim-pins.bin read-only (pins=1). Returns 0 when it is missing or
 * malformed; then nothing is pinned, so nothing is perturbed. */
static int rh_open_pins(void) {
    char path[4200];
    size_t pos = rh_append(path, 0, sizeof path, rh_run_dir);
    rh_append(path, pos, sizeof path, "/" RACEHUNT_FILE_SHIM_PINS);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return 0;
    off_t size = lseek(fd, 0, SEEK_END);
    void *map = size >= (off_t)sizeof(struct racehunt_pins_header)
                    ? mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0)
                    : MAP_FAILED;
    close(fd);
    if (map == MAP_FAILED) return 0;
    const struct racehunt_pins_header *h = map;
    if (h->magic != RACEHUNT_PINS_MAGIC || h->version != RACEHUNT_PROTOCOL_VERSION ||
        h->record_size != sizeof(struct racehunt_pin_record) ||
        (off_t)(sizeof *h + (uint64_t)h->count * sizeof(struct racehunt_pin_record)) > size) {
        munmap(map, (size_t)size);
        return 0;
    }
    rh_pins = (const struct racehunt_pin_record *)(h + 1);
    rh_pin_count = h->count;
    return 1;
}

/* The decision log of this process image starts with a header line naming it. */
static void rh_open_log(void) {
    if (!rh_opt.log || !rh_run_dir[0]) {
        rh_log_path[0] = '\0';
        return;
    }
    rh_run_file_path(rh_log_path, sizeof rh_log_path, RACEHUNT_FILE_SHIM_LOG_SUFFIX);
    char line[256];
    size_t pos = rh_append(line, 0, sizeof line, "# racehunt-shim-log 1 pid=");
    pos = rh_append_u64(line, pos, sizeof line, (uint64_t)getpid());
    pos = rh_append(line, pos, sizeof line, " key=");
    pos = rh_append_hex64(line, pos, sizeof line, rh_process_key);
    pos = rh_append(line, pos, sizeof line, " exe=");
    pos = rh_append(line, pos, sizeof line, rh_counters->exe);
    pos = rh_append(line, pos, sizeof line, "\n");
    rh_log_write(line, pos);
}

/* ---------------------------------------------------------------------------------------
 * Fork. The prepare handler numbers the fork in the forking thread (fork numbers are the
 * parent's own sequence, so they are deterministic when the parent's forks are); the
 * child handler derives the child's key from it, restarts thread numbering (the forking
 * thread becomes thread 0 of the child) and switches to the child's own files. Until
 * then `forking` keeps this thread from counting, so the child never counts into the
 * parent's mapping. */

static void rh_atfork_prepare(void) {
    rh_tls.forking = 1;
    rh_tls.fork_seq = __atomic_fetch_add(&rh_fork_seq, 1, __ATOMIC_RELAXED);
}

static void rh_atfork_parent(void) {
    rh_tls.forking = 0;
}

static void rh_run_fork(void);
static int rh_sites_written;

static void rh_atfork_child(void) {
    int saved = errno;
    if (rh_server) {
        /* A fork server's fork is a run: it takes the run's options, not its parent's. */
        rh_run_fork();
        errno = saved;
        return;
    }
    struct racehunt_shim_counters *parent = rh_counters;
    uint32_t flags = parent->flags;
    rh_counters = &rh_static_counters;
    if (parent != &rh_static_counters) munmap(parent, sizeof *parent);
    memset(&rh_static_counters, 0, sizeof rh_static_counters);
    rh_static_counters.flags = flags; /* the child is armed as its parent was */
    rh_process_key = racehunt_derive(rh_process_key, rh_tls.fork_seq);
    rh_next_thread = 1;
    rh_fork_seq = 0;
    rh_starved_ns = 0;
    rh_sites_written = 0;
    rh_t0_ns = rh_now_ns();
    memset(rh_slots, 0, sizeof rh_slots);
    rh_thread_start(0);
    if (rh_run_dir[0]) rh_open_counters(flags, 1);
    rh_record_tid(0);
    rh_open_dlog(1);
    rh_open_log();
    rh_tls.forking = 0;
    errno = saved;
}

/* ---------------------------------------------------------------------------------------
 * Initialisation, once, at load. */

static int rh_protocol_ok(void) {
    const char *v = getenv(RACEHUNT_ENV_PROTOCOL);
    uint64_t n;
    /* Absent means a standalone use (a developer preloading the shim by hand). */
    if (!v) return 1;
    return rh_parse_u64(v, strlen(v), &n) && n == RACEHUNT_PROTOCOL_VERSION;
}

/* At exit, not in a hook: the call sites of this image's decisions as symbols,
 * shim-<pid>.sites, "<image>\t<site hex>\t<symbol>\t<offset hex>\t<object>\n" per distinct
 * site (at most RH_SITES_MAX). dladdr sees the dynamic symbol table only, so a static
 * function shows as the nearest exported one before it; the object and offset stay exact.
 * A process that dies by a signal or _exit() leaves no .sites: its decisions keep the raw
 * address. */
#define RH_SITES_MAX 512
static uint64_t rh_sites[RH_SITES_MAX];

__attribute__((destructor)) static void rh_write_sites(void) {
    struct racehunt_dlog_header *h = rh_dlog;
    if (!h || !rh_run_dir[0] || rh_sites_written) return;
    rh_sites_written = 1;
    int saved = errno;
    uint16_t image = (uint16_t)rh_counters->images;
    uint64_t n = __atomic_load_n(&h->next, __ATOMIC_ACQUIRE);
    if (n > RACEHUNT_DLOG_CAPACITY) n = RACEHUNT_DLOG_CAPACITY;
    const struct racehunt_dlog_record *recs = (const struct racehunt_dlog_record *)(h + 1);
    size_t count = 0;
    for (uint64_t i = 0; i < n && count < RH_SITES_MAX; ++i) {
        if (recs[i].image != image || recs[i].site == 0) continue;
        size_t j = 0;
        while (j < count && rh_sites[j] != recs[i].site) ++j;
        if (j == count) rh_sites[count++] = recs[i].site;
    }
    if (count == 0) {
        errno = saved;
        return;
    }
    char path[4200];
    rh_run_file_path(path, sizeof path, RACEHUNT_FILE_SHIM_SITES_SUFFIX);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        errno = saved;
        return;
    }
    for (size_t j = 0; j < count; ++j) {
        Dl_info info;
        memset(&info, 0, sizeof info);
        char line[1024];
        size_t pos = rh_append_u64(line, 0, sizeof line, image);
        pos = rh_append(line, pos, sizeof line, "\t");
        pos = rh_append_hex64(line, pos, sizeof line, rh_sites[j]);
        pos = rh_append(line, pos, sizeof line, "\t");
        /* The return address is one past the call; look up the call itself. */
        if (dladdr((void *)(uintptr_t)(rh_sites[j] - 1), &info) && info.dli_fname) {
            uintptr_t base = info.dli_saddr ? (uintptr_t)info.dli_saddr : (uintptr_t)info.dli_fbase;
            pos = rh_append(line, pos, sizeof line, info.dli_sname ? info.dli_sname : "?");
            pos = rh_append(line, pos, sizeof line, "\t");
            pos = rh_append_hex64(line, pos, sizeof line, rh_sites[j] - base);
            pos = rh_append(line, pos, sizeof line, "\t");
            pos = rh_append(line, pos, sizeof line, info.dli_fname);
        } else {
            pos = rh_append(line, pos, sizeof line, "?\t0\t?");
        }
        pos = rh_append(line, pos, sizeof line, "\n");
        ssize_t ignored = write(fd, line, pos);
        (void)ignored;
    }
    close(fd);
    errno = saved;
}

/* For a process that ends with _exit() (a fork server's run, after the interpreter's own
 * exit steps): what the destructor would do at exit(). Not for hooks or signal handlers
 * (dladdr takes the loader's lock). */
RH_EXPORT void racehunt_shim_finish(void) {
    int saved = errno;
    rh_write_sites();
    errno = saved;
}

/* Reads the options from the environment and sets the process up for a run: at load, and
 * in a run forked by a fork server (fresh=1, with the command line the run would have had
 * as a fresh start, `argv_hash`, standing for /proc/self/cmdline). */
static void rh_configure(int fresh, int have_hash, uint64_t argv_hash) {
    const char *spec = getenv(RACEHUNT_ENV_SHIM);
    if (!spec) return;
    int given[RH_OPTION_COUNT];
    uint32_t flags = 0;
    if (!rh_parse_options(spec, given)) flags |= RACEHUNT_SHIM_FLAG_BAD_OPTION;
    /* Dormant outside Python (python_only=1): nothing of this process exists for the
     * harness, not even a counters file. */
    if (rh_opt.python_only && !rh_python_api) return;
    const char *dir = getenv(RACEHUNT_ENV_RUN_DIR);
    rh_run_dir[0] = '\0';
    if (dir && dir[0] && strlen(dir) < sizeof rh_run_dir) rh_append(rh_run_dir, 0, sizeof rh_run_dir, dir);
    int protocol_ok = rh_protocol_ok();
    if (!protocol_ok) flags |= RACEHUNT_SHIM_FLAG_PROTOCOL_BAD;
    if (!rh_opt.enabled || !protocol_ok) {
        /* Inactive. A protocol mismatch is still recorded, so that the harness can say
         * why nothing was injected. */
        if (!protocol_ok && rh_run_dir[0]) rh_open_counters(flags, fresh);
        return;
    }
    flags |= RACEHUNT_SHIM_FLAG_ENABLED;

    if (!given[RH_OPTI_seed]) {
        const char *s = getenv(RACEHUNT_ENV_RUN_SEED);
        if (s && !rh_parse_hex64(s, strlen(s), &rh_opt.seed)) flags |= RACEHUNT_SHIM_FLAG_BAD_OPTION;
    }
    const double per_class[RACEHUNT_POINT_COUNT] = {
        [RACEHUNT_POINT_MUTEX] = rh_opt.p_mutex, [RACEHUNT_POINT_COND] = rh_opt.p_cond,
        [RACEHUNT_POINT_SEM] = rh_opt.p_sem,     [RACEHUNT_POINT_SLEEP] = rh_opt.p_sleep,
        [RACEHUNT_POINT_YIELD] = rh_opt.p_yield, [RACEHUNT_POINT_THREAD] = rh_opt.p_thread,
        [RACEHUNT_POINT_FORK] = rh_opt.p_fork,
    };
    for (int c = 0; c < RACEHUNT_POINT_COUNT; c++)
        rh_threshold[c] = rh_prob_threshold(per_class[c] >= 0 ? per_class[c] : rh_opt.p);
    rh_delay_threshold = rh_prob_threshold(rh_opt.delay_share);
    rh_wake_threshold = rh_prob_threshold(rh_opt.wake_p);
    rh_starve_threshold = rh_opt.starve ? rh_prob_threshold(rh_opt.starve_p) : 0;
    for (int c = 0; c < RACEHUNT_POINT_COUNT; c++)
        rh_draws[c] = rh_threshold[c] != 0 || rh_starve_threshold != 0;

    rh_process_key = racehunt_fmix64(rh_opt.seed ^ racehunt_fmix64(have_hash ? argv_hash : rh_cmdline_hash()));
    if (rh_opt.pins && !(rh_run_dir[0] && rh_open_pins())) flags |= RACEHUNT_SHIM_FLAG_PINS_BAD;
    rh_t0_ns = rh_now_ns();
    rh_next_thread = 1;
    rh_thread_start(0); /* the loading (or forking) thread is the main thread, index 0 */
    if (rh_opt.arm && !(rh_opt.arm_python && rh_is_python())) flags |= RACEHUNT_SHIM_FLAG_ARMED;
    rh_static_counters.flags = flags;
    if (rh_run_dir[0]) rh_open_counters(flags, fresh);
    rh_record_tid(0);
    rh_open_dlog(fresh);
    rh_open_log();
    if (!rh_fork_handlers &&
        pthread_atfork(rh_atfork_prepare, rh_atfork_parent, rh_atfork_child) == 0)
        rh_fork_handlers = 1;
    __atomic_store_n(&rh_active, 1, __ATOMIC_RELEASE);
}

/* In the child of a fork server's fork, from the pthread_atfork child handler, so before
 * any code of the child runs: the server set the run's environment before forking. The
 * child starts from nothing, as a freshly loaded shim would: the server's own state (it
 * is never armed and has no run) is dropped. */
static void rh_run_fork(void) {
    rh_server = 0;
    __atomic_store_n(&rh_active, 0, __ATOMIC_RELEASE);
    if (rh_counters != &rh_static_counters) munmap(rh_counters, sizeof *rh_counters);
    rh_counters = &rh_static_counters;
    memset(&rh_static_counters, 0, sizeof rh_static_counters);
    if (rh_dlog) munmap(rh_dlog, RH_DLOG_BYTES);
    rh_dlog = NULL;
    rh_pins = NULL;
    rh_pin_count = 0;
    rh_log_path[0] = '\0';
    rh_sites_written = 0;
    rh_fork_seq = 0;
    rh_starved_ns = 0;
    memset(rh_slots, 0, sizeof rh_slots);
    memset(&rh_tls, 0, sizeof rh_tls);
    /* The run's token over the placeholder the server was exec'd with, NUL-padded: racehunt
     * finds a run's processes by their exec-time environment. */
    const char *token = getenv(RACEHUNT_ENV_RUN_TOKEN);
    if (rh_token_area && token) {
        size_t n = strlen(token);
        if (n > rh_token_cap) n = rh_token_cap;
        memcpy(rh_token_area, token, n);
        memset(rh_token_area + n, 0, rh_token_cap - n);
    }
    uint64_t hash = 0;
    const char *h = getenv(RACEHUNT_ENV_FORK_ARGV_HASH);
    int have_hash = h && rh_parse_hex64(h, strlen(h), &hash);
    rh_configure(1, have_hash, hash);
}

__attribute__((constructor)) static void rh_init(void) {
    int saved = errno;
    rh_resolve_all();
    rh_python_api = rh_has_python_api();
    if (getenv(RACEHUNT_ENV_FORK_SERVER)) {
        /* A fork server: inactive itself; each fork it makes is a run (rh_run_fork). */
        static const char key[] = RACEHUNT_ENV_RUN_TOKEN "=";
        for (char **e = environ; e && *e; ++e)
            if (strncmp(*e, key, sizeof key - 1) == 0) {
                rh_token_area = *e + sizeof key - 1;
                rh_token_cap = strlen(rh_token_area);
            }
        rh_server = 1;
        if (!rh_fork_handlers &&
            pthread_atfork(rh_atfork_prepare, rh_atfork_parent, rh_atfork_child) == 0)
            rh_fork_handlers = 1;
        errno = saved;
        return;
    }
    rh_configure(0, 0, 0);
    errno = saved;
}
