/* Calls every interposed sleep once and checks that none returned early: the shim may
 * lengthen sleeps, never shorten them. Also checks select/poll used with descriptors
 * still work. Prints "ok" and exits 0 when all is well. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int failures;

static void expect_at_least(const char *what, double start, double seconds) {
    double took = now() - start;
    if (took < seconds * 0.999) {
        printf("FAIL %s took %.6f < %.6f\n", what, took, seconds);
        failures++;
    }
}

int main(void) {
    double t = now();
    struct timespec ts = {0, 2000000};
    if (nanosleep(&ts, NULL) != 0) failures++;
    expect_at_least("nanosleep", t, 0.002);

    t = now();
    if (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL) != 0) failures++;
    expect_at_least("clock_nanosleep relative", t, 0.002);

    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    t = now();
    deadline.tv_nsec += 3000000;
    if (deadline.tv_nsec >= 1000000000) deadline.tv_sec++, deadline.tv_nsec -= 1000000000;
    if (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, NULL) != 0) failures++;
    expect_at_least("clock_nanosleep absolute", t, 0.003);

    t = now();
    if (usleep(2000) != 0) failures++;
    expect_at_least("usleep", t, 0.002);

    if (sleep(0) != 0) failures++;

    t = now();
    struct timeval tv = {0, 2000};
    if (select(0, NULL, NULL, NULL, &tv) != 0) failures++;
    expect_at_least("select as sleep", t, 0.002);

    t = now();
    if (poll(NULL, 0, 2) != 0) failures++;
    expect_at_least("poll as sleep", t, 0.002);

    if (sched_yield() != 0) failures++;

    /* With descriptors: a pipe with data is readable at once. */
    int p[2];
    if (pipe(p) != 0 || write(p[1], "x", 1) != 1) return 3;
    struct pollfd pfd = {p[0], POLLIN, 0};
    if (poll(&pfd, 1, 1000) != 1 || !(pfd.revents & POLLIN)) failures++, printf("FAIL poll fd\n");
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(p[0], &rd);
    struct timeval tv2 = {1, 0};
    if (select(p[0] + 1, &rd, NULL, NULL, &tv2) != 1) failures++, printf("FAIL select fd\n");

    printf(failures ? "failed %d\n" : "ok\n", failures);
    return failures ? 1 : 0;
}
