// OpenMP helpers: one place that knows whether the build has OpenMP, and a
// parallel loop that never lets an exception escape a parallel region.
//
// Design: callers pass an explicit thread count (>= 1); Python resolves the
// user's `num_threads` (None / -1 / n) into that count. Work is split into
// fixed chunks whose boundaries do not depend on the thread count, so that
// every output element is produced by the same arithmetic whatever the number
// of threads.
#pragma once

#include <cstdint>
#include <exception>
#include <mutex>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace pysampled {

inline bool openmp_enabled() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

// What OpenMP would use for a parallel region now (honours OMP_NUM_THREADS,
// omp_set_num_threads and so threadpoolctl).
inline int default_num_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

inline int available_cores() {
#ifdef _OPENMP
  return omp_get_num_procs();
#else
  return 1;
#endif
}

// Runs body(i) for i in [0, n) on up to `num_threads` threads (static schedule).
// The first exception thrown by any iteration is rethrown after the join;
// iterations that start after an exception has been seen are skipped.
template <class Body>
void parallel_for(int64_t n, int num_threads, Body&& body) {
  if (n <= 0) return;
  if (num_threads <= 1 || n == 1) {
    for (int64_t i = 0; i < n; ++i) body(i);
    return;
  }
#ifdef _OPENMP
  std::exception_ptr error;
  std::mutex error_mutex;
  bool failed = false;
  const int threads = static_cast<int>(n < num_threads ? n : num_threads);
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t i = 0; i < n; ++i) {
    bool skip;
#pragma omp atomic read
    skip = failed;
    if (skip) continue;
    try {
      body(i);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
#pragma omp atomic write
      failed = true;
    }
  }
  if (error) std::rethrow_exception(error);
#else
  for (int64_t i = 0; i < n; ++i) body(i);
#endif
}

}  // namespace pysampled
