/* A deterministic program for the shim's tests: the main thread and N worker threads
 * (created one after another, so creation indices are fixed) each call the interposed
 * functions in one fixed pattern on objects of their own, so every thread's sequence of
 * sync points, and hence of shim decisions, is the same in every run.
 *
 * usage: shim_pattern THREADS ITERATIONS [arm-wait]
 * With arm-wait the main thread runs its pattern, prints "phase1" and waits for a line on
 * stdin, then calls racehunt_shim_arm(1) (looked up with dlsym, so the program also runs
 * without the shim) and runs the pattern again. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int iterations;

static void pattern(void) {
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    sem_t s;
    sem_init(&s, 0, 0);
    for (int i = 0; i < iterations; i++) {
        pthread_mutex_lock(&m);
        pthread_cond_signal(&c);
        pthread_mutex_unlock(&m);
        if (pthread_mutex_trylock(&m) == 0) pthread_mutex_unlock(&m);
        sem_post(&s);
        sem_wait(&s);
        if (i % 8 == 0) sched_yield();
        if (i % 16 == 0) {
            struct timespec ts = {0, 1000};
            nanosleep(&ts, NULL);
        }
    }
    sem_destroy(&s);
}

static void *worker(void *arg) {
    (void)arg;
    pattern();
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: shim_pattern THREADS ITERATIONS [arm-wait]\n");
        return 2;
    }
    int threads = atoi(argv[1]);
    iterations = atoi(argv[2]);
    int arm_wait = argc > 3 && strcmp(argv[3], "arm-wait") == 0;
    pattern();
    if (arm_wait) {
        printf("phase1\n");
        fflush(stdout);
        char line[16];
        if (!fgets(line, sizeof line, stdin)) return 3;
        void *sym = dlsym(RTLD_DEFAULT, "racehunt_shim_arm");
        void (*arm)(int) = NULL;
        memcpy(&arm, &sym, sizeof arm); /* object to function pointer, as POSIX allows */
        if (arm) arm(1);
        pattern();
    }
    for (int t = 0; t < threads; t++) {
        /* One at a time: the creation order, and each thread's work, stay fixed. */
        pthread_t th;
        if (pthread_create(&th, NULL, worker, NULL) != 0) return 4;
        pthread_join(th, NULL);
    }
    printf("done\n");
    return 0;
}
