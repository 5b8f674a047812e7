// Microbenchmark of the preload shim's cost per interposed call.
//
// The binary links nothing of the shim: it is run twice or more, once plain and once with
// the shim in LD_PRELOAD, and the difference per iteration is the shim's cost:
//
//   build/bench/shim_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//   LD_PRELOAD=build/libracehunt_shim.so RACEHUNT_SHIM=enabled=0 build/bench/shim_bench ...
//   LD_PRELOAD=build/libracehunt_shim.so RACEHUNT_SHIM=enabled=1:p=0 build/bench/shim_bench ...
//
// enabled=0 is the idle cost (target: under 25 ns more per call); enabled=1:p=0 adds the
// counting (one relaxed atomic add per call, plus a decision draw) without injecting.
// Every benchmark here is uncontended and single-threaded so that it measures the hook,
// not scheduling.

#include <benchmark/benchmark.h>

#include <pthread.h>
#include <semaphore.h>

namespace {

// Two interposed calls per iteration: lock and unlock.
void BM_MutexLockUnlock(benchmark::State& state) {
    pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
    for (auto _ : state) {
        pthread_mutex_lock(&mutex);
        pthread_mutex_unlock(&mutex);
    }
    pthread_mutex_destroy(&mutex);
}
BENCHMARK(BM_MutexLockUnlock);

// Two interposed calls per iteration: trylock (always succeeds) and unlock.
void BM_MutexTrylockUnlock(benchmark::State& state) {
    pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
    for (auto _ : state) {
        if (pthread_mutex_trylock(&mutex) == 0) pthread_mutex_unlock(&mutex);
    }
    pthread_mutex_destroy(&mutex);
}
BENCHMARK(BM_MutexTrylockUnlock);

// Two interposed calls per iteration: sem_post, then sem_trywait takes the token back.
void BM_SemPostTrywait(benchmark::State& state) {
    sem_t sem;
    sem_init(&sem, 0, 0);
    for (auto _ : state) {
        sem_post(&sem);
        benchmark::DoNotOptimize(sem_trywait(&sem));
    }
    sem_destroy(&sem);
}
BENCHMARK(BM_SemPostTrywait);

// One interposed call per iteration: signalling a condition variable nobody waits on.
void BM_CondSignalNoWaiter(benchmark::State& state) {
    pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
    for (auto _ : state) {
        pthread_cond_signal(&cond);
    }
    pthread_cond_destroy(&cond);
}
BENCHMARK(BM_CondSignalNoWaiter);

}  // namespace

BENCHMARK_MAIN();
