/* One-way latency of moving a written cache line between CPU 0 and CPU 1.
 *
 * Two threads, pinned to CPUs 0 and 1, take turns incrementing one atomic
 * counter; each turn moves the line to the other core. Used in RESULTS.md
 * to explain two-thread scaling of Hogwild-style training on a given VM.
 *
 *   gcc -O2 -pthread benchmarks/cacheline_pingpong.c -o /tmp/pingpong && /tmp/pingpong
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

enum { ROUNDS = 2000000 };
static _Alignas(64) _Atomic long turn;

static void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void* responder(void* arg) {
  (void)arg;
  pin(1);
  for (long i = 0; i < ROUNDS; i++) {
    while (atomic_load_explicit(&turn, memory_order_acquire) != 2 * i + 1) {
    }
    atomic_store_explicit(&turn, 2 * i + 2, memory_order_release);
  }
  return NULL;
}

int main(void) {
  pthread_t t;
  pin(0);
  pthread_create(&t, NULL, responder, NULL);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < ROUNDS; i++) {
    atomic_store_explicit(&turn, 2 * i + 1, memory_order_release);
    while (atomic_load_explicit(&turn, memory_order_acquire) != 2 * i + 2) {
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  pthread_join(t, NULL);
  double ns = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / ROUNDS / 2;
  printf("one-way cache-line transfer between CPU 0 and CPU 1: %.0f ns\n", ns);
  return 0;
}
