// Fixed cost of one parallel_for on the library's thread pool: the time of a
// call whose tasks do a known amount of arithmetic, on 2 threads, minus half
// the time of the same call on 1 thread. The deterministic word2vec mode
// makes two (CBOW) or three (skip-gram) such calls per group of 64 windows;
// benchmarks/scaling_model.py leaves this cost out, and RESULTS.md uses this
// program to size it.
//
//   g++ -O2 -fopenmp -pthread -Isrc/cpp benchmarks/pool_barrier.cpp -o /tmp/pool_barrier
//   PYSAMPLED_ADAPTIVE_THREADS=0 /tmp/pool_barrier
#include <chrono>
#include <cstdio>

#include "pysampled/parallel.hpp"

namespace {

volatile double sink;

// About `units` microseconds of dependent arithmetic.
void work(int64_t units) {
  double x = 1.0;
  for (int64_t i = 0; i < units * 300; ++i) x = x * 1.0000001 + 1e-9;
  sink = x;
}

double seconds_per_call(int threads, int64_t tasks, int64_t units, int calls) {
  const auto t0 = std::chrono::steady_clock::now();
  for (int c = 0; c < calls; ++c) {
    pysampled::parallel_for(tasks, threads, [&](int64_t) { work(units); });
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / calls;
}

}  // namespace

int main() {
  std::printf("| tasks x work per task | 1 thread, us per call | 2 threads, us per call | "
              "fixed cost on 2 threads, us |\n|---|---:|---:|---:|\n");
  for (int64_t units : {0, 2, 8}) {
    const int64_t tasks = 4;
    const int calls = units == 0 ? 200000 : 20000;
    seconds_per_call(2, tasks, units, calls / 10);  // start the pool, warm up
    double best1 = 1e9, best2 = 1e9;
    for (int rep = 0; rep < 5; ++rep) {
      best1 = std::min(best1, seconds_per_call(1, tasks, units, calls));
      best2 = std::min(best2, seconds_per_call(2, tasks, units, calls));
    }
    std::printf("| %lld x ~%lld us | %.2f | %.2f | %.2f |\n", static_cast<long long>(tasks),
                static_cast<long long>(units), best1 * 1e6, best2 * 1e6, (best2 - best1 / 2) * 1e6);
  }
  return 0;
}
