/* THREADS threads each add 1 to two shared counters ITERATIONS times: one protected by a
 * mutex, one by a binary semaphore. A correct program must compute THREADS * ITERATIONS
 * for both whatever delays the shim injects.
 * usage: shim_counter [THREADS] [ITERATIONS] */
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static sem_t binary;
static long by_mutex, by_sem;
static int iterations;

static void *adder(void *arg) {
    (void)arg;
    for (int i = 0; i < iterations; i++) {
        pthread_mutex_lock(&lock);
        long v = by_mutex;
        by_mutex = v + 1;
        pthread_mutex_unlock(&lock);
        while (sem_wait(&binary) != 0) {
        }
        v = by_sem;
        by_sem = v + 1;
        sem_post(&binary);
    }
    return NULL;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 4;
    iterations = argc > 2 ? atoi(argv[2]) : 1000;
    sem_init(&binary, 0, 1);
    pthread_t th[64];
    if (threads > 64) threads = 64;
    for (int t = 0; t < threads; t++) pthread_create(&th[t], NULL, adder, NULL);
    for (int t = 0; t < threads; t++) pthread_join(th[t], NULL);
    long want = (long)threads * iterations;
    printf("mutex %ld sem %ld want %ld\n", by_mutex, by_sem, want);
    return by_mutex == want && by_sem == want ? 0 : 1;
}
