/* Forks CHILDREN children one after another; each child (and the parent) runs a few
 * mutex and semaphore operations, and the first child forks a grandchild. Prints
 * "child PID" for every process it forked. Exits 0 when every child exited 0.
 * usage: shim_forker [CHILDREN] */
#define _GNU_SOURCE
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void work(void) {
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    sem_t s;
    sem_init(&s, 0, 0);
    for (int i = 0; i < 50; i++) {
        pthread_mutex_lock(&m);
        pthread_mutex_unlock(&m);
        sem_post(&s);
        sem_wait(&s);
    }
}

static int spawn(int depth) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return 1;
    if (pid == 0) {
        work();
        int rc = 0;
        if (depth > 0) rc = spawn(depth - 1);
        fflush(stdout);
        _exit(rc);
    }
    printf("child %d\n", (int)pid);
    fflush(stdout);
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return 1;
    return WEXITSTATUS(status);
}

int main(int argc, char **argv) {
    int children = argc > 1 ? atoi(argv[1]) : 2;
    work();
    int rc = 0;
    for (int i = 0; i < children; i++) rc |= spawn(i == 0 ? 1 : 0);
    work();
    printf("parent %d rc %d\n", (int)getpid(), rc);
    return rc;
}
