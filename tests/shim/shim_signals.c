/* Signals delivered to threads blocked in interposed calls. A SIGUSR1 handler installed
 * without SA_RESTART interrupts threads blocked in sem_wait, nanosleep, poll (as a sleep)
 * and pthread_cond_timedwait while the main thread keeps posting work. Checked:
 *  - sem_wait and sem_timedwait fail only with errno EINTR (or ETIMEDOUT), never lose a post;
 *  - nanosleep fails only with EINTR and then reports a remaining time <= the request
 *    (plus the kernel's timer slack);
 *  - poll(NULL, 0, ms) returns 0 or fails with EINTR;
 *  - pthread_cond_timedwait returns 0 or ETIMEDOUT, never EINTR;
 *  - the handler itself calls sem_post (async-signal-safe) and does NOT save errno, so a
 *    hook that clobbered errno inside a handler would show up as a wrong errno above.
 * Prints a summary line and exits 0 when every check held.
 * usage: shim_signals [MILLISECONDS] */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WAITERS 3

static sem_t work, in_handler;
static atomic_long handled, taken, posted, eintr_sem, eintr_sleep, eintr_poll, bad;
static atomic_int stop;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;

static void on_usr1(int sig) {
    (void)sig;
    atomic_fetch_add(&handled, 1);
    sem_post(&in_handler);
}

static void report_bad(const char *what, int err) {
    atomic_fetch_add(&bad, 1);
    fprintf(stderr, "bad: %s: %s\n", what, strerror(err));
}

static void *waiter(void *arg) {
    int timed = (int)(long)arg;
    for (;;) {
        int r;
        if (timed) {
            struct timespec dl;
            clock_gettime(CLOCK_REALTIME, &dl);
            dl.tv_nsec += 20000000;
            if (dl.tv_nsec >= 1000000000) dl.tv_sec++, dl.tv_nsec -= 1000000000;
            r = sem_timedwait(&work, &dl);
        } else {
            r = sem_wait(&work);
        }
        if (r == 0) {
            if (atomic_fetch_add(&taken, 1) < 0) report_bad("taken", 0);
            continue;
        }
        int e = errno;
        if (e == EINTR)
            atomic_fetch_add(&eintr_sem, 1);
        else if (!(timed && e == ETIMEDOUT))
            report_bad("sem_wait", e);
        if (atomic_load(&stop) && atomic_load(&taken) == atomic_load(&posted)) return NULL;
    }
}

static void *sleeper(void *arg) {
    (void)arg;
    while (!atomic_load(&stop)) {
        struct timespec req = {0, 30000000}, rem = {-1, -1};
        if (nanosleep(&req, &rem) != 0) {
            int e = errno;
            if (e != EINTR) report_bad("nanosleep", e);
            /* The kernel computes the remainder against the timer's hard expiry, which
             * includes the timer slack (50 us by default), so allow 1 ms above. */
            else if (rem.tv_sec != 0 || rem.tv_nsec < 0 || rem.tv_nsec > req.tv_nsec + 1000000)
                report_bad("nanosleep rem", 0);
            else atomic_fetch_add(&eintr_sleep, 1);
        }
        int r = poll(NULL, 0, 30);
        if (r != 0) {
            int e = errno;
            if (r == -1 && e == EINTR) atomic_fetch_add(&eintr_poll, 1);
            else report_bad("poll", e);
        }
        pthread_mutex_lock(&lock);
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_nsec += 10000000;
        if (dl.tv_nsec >= 1000000000) dl.tv_sec++, dl.tv_nsec -= 1000000000;
        int c = pthread_cond_timedwait(&never, &lock, &dl);
        if (c != 0 && c != ETIMEDOUT) report_bad("pthread_cond_timedwait", c);
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

int main(int argc, char **argv) {
    int ms = argc > 1 ? atoi(argv[1]) : 1000;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1; /* no SA_RESTART: blocked calls must see EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    sem_init(&work, 0, 0);
    sem_init(&in_handler, 0, 0);

    pthread_t th[WAITERS + 1];
    for (int i = 0; i < WAITERS; i++) pthread_create(&th[i], NULL, waiter, (void *)(long)(i % 2));
    pthread_create(&th[WAITERS], NULL, sleeper, NULL);

    struct timespec start, now, tick = {0, 500000};
    clock_gettime(CLOCK_MONOTONIC, &start);
    long sent = 0;
    for (long i = 0;; i++) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 >= ms) break;
        pthread_kill(th[i % (WAITERS + 1)], SIGUSR1);
        sent++;
        if (i % 3 == 0) {
            atomic_fetch_add(&posted, 1);
            sem_post(&work);
        }
        nanosleep(&tick, NULL);
    }
    atomic_store(&stop, 1);
    /* Wake every waiter so that it sees the stop flag once all posts are taken. */
    for (int i = 0; i < WAITERS; i++) {
        atomic_fetch_add(&posted, 1);
        sem_post(&work);
    }
    for (int i = 0; i <= WAITERS; i++) {
        /* Waiters blocked with nothing left to take need a nudge to re-check. */
        while (pthread_tryjoin_np(th[i], NULL) != 0) {
            if (i < WAITERS && atomic_load(&taken) == atomic_load(&posted)) {
                pthread_kill(th[i], SIGUSR1);
                sent++;
            }
            nanosleep(&tick, NULL);
        }
    }
    /* Every handler run posted in_handler once. Signals may merge, so handled <= sent. */
    int sval = -1;
    sem_getvalue(&in_handler, &sval);
    long h = atomic_load(&handled);
    if (sval != h) report_bad("handler posts", 0);
    if (atomic_load(&taken) != atomic_load(&posted)) report_bad("lost post", 0);
    printf("sent %ld handled %ld posted %ld taken %ld eintr_sem %ld eintr_sleep %ld eintr_poll %ld bad %ld\n",
           sent, h, atomic_load(&posted), atomic_load(&taken), atomic_load(&eintr_sem),
           atomic_load(&eintr_sleep), atomic_load(&eintr_poll), atomic_load(&bad));
    return atomic_load(&bad) == 0 ? 0 : 1;
}
