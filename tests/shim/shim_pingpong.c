/* Two threads hand a turn back and forth ROUNDS times with a mutex and a condition
 * variable. Under any timing the final count is exactly 2 * ROUNDS; the shim must only
 * change when things happen, never what happens.
 * usage: shim_pingpong [ROUNDS] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int turn, rounds;
static long moves;

static void *player(void *arg) {
    int me = (int)(long)arg;
    for (int i = 0; i < rounds; i++) {
        pthread_mutex_lock(&lock);
        while (turn != me) pthread_cond_wait(&changed, &lock);
        moves++;
        turn = 1 - me;
        pthread_cond_broadcast(&changed);
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

int main(int argc, char **argv) {
    rounds = argc > 1 ? atoi(argv[1]) : 1000;
    pthread_t a, b;
    pthread_create(&a, NULL, player, (void *)0L);
    pthread_create(&b, NULL, player, (void *)1L);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    printf("moves %ld\n", moves);
    return moves == 2L * rounds ? 0 : 1;
}
