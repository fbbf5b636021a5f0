// Parallel loops: one place that knows how work is spread over threads, and
// a parallel loop that never lets an exception escape a worker thread.
//
// Design: callers pass an explicit thread count (>= 1); Python resolves the
// user's `num_threads` (None / -1 / n) into that count. Work is split into
// fixed chunks whose boundaries do not depend on the thread count, so that
// every output element is produced by the same arithmetic whatever the number
// of threads.
//
// Chunks are handed out dynamically (an atomic counter), so a thread that
// shares its core with another process simply takes fewer chunks. The
// threads belong to a small persistent pool owned by this library (not
// OpenMP's): a thread that runs out of work spins for a few microseconds and
// then sleeps on a condition variable, never longer. This matters on a shared
// machine: a waiting thread that sleeps leaves its core idle, and the kernel
// then moves a preempted worker onto it at once, where a spinning one would
// keep the core busy until the preempted thread's time slice came round
// again (this is what OpenMP's default spin policy does, unless the user sets
// GOMP_SPINCOUNT / OMP_WAIT_POLICY). The thread count is also capped by the
// CPUs this process may run on (sched_getaffinity), since threads beyond
// them can only wait for each other, and, on Linux, by the CPUs other
// processes leave free: the pool reads /proc/stat and /proc/self/stat at
// most every 200 ms and counts the CPUs kept busy by anything but this
// process; a call asking for more threads than remain runs on fewer (at
// least one). A thread sharing a core with a busy process holds every join
// up by its time slices, so fewer threads are then faster. Results do not
// depend on the thread count, so this changes timings only. The environment
// variable PYSAMPLED_ADAPTIVE_THREADS=0 (read once) turns it off. A loop
// whose threads take each other's work and join only at its end (Hogwild's
// training) asks to keep its threads (OnLoad::kKeepThreads): a thread that
// shares its core then just does less of the work. A forked child starts a
// fresh pool.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__linux__)
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>
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
// omp_set_num_threads and so threadpoolctl): the default of `num_threads=None`.
inline int default_num_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

// CPUs this process may run on now (its affinity mask), at least 1.
inline int available_cores() {
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
#endif
  const unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? static_cast<int>(n) : 1;
}

namespace detail {

#if defined(__linux__)
// Reads a small /proc file into buf (NUL-terminated); false on failure.
inline bool read_proc(const char* path, char* buf, size_t size) {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const ssize_t n = ::read(fd, buf, size - 1);
  ::close(fd);
  if (n <= 0) return false;
  buf[n] = 0;
  return true;
}

// Clock ticks: (busy, total) over all CPUs, and this process's CPU time.
inline bool cpu_ticks(uint64_t& busy, uint64_t& total, uint64_t& self) {
  char buf[4096];
  if (!read_proc("/proc/stat", buf, sizeof buf) || std::strncmp(buf, "cpu ", 4) != 0) return false;
  uint64_t v[10] = {};
  char* p = buf + 4;
  for (int i = 0; i < 10; ++i) v[i] = std::strtoull(p, &p, 10);
  total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];  // guest time is inside user
  busy = total - v[3] - v[4];                                     // minus idle and iowait
  if (!read_proc("/proc/self/stat", buf, sizeof buf)) return false;
  const char* q = std::strrchr(buf, ')');  // the command name may hold spaces
  if (q == nullptr) return false;
  // Fields after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
  char* r = const_cast<char*>(q + 2);
  for (int field = 3; field < 14; ++field) {
    while (*r && *r != ' ') ++r;
    while (*r == ' ') ++r;
  }
  const uint64_t utime = std::strtoull(r, &r, 10);
  const uint64_t stime = std::strtoull(r, &r, 10);
  self = utime + stime;
  return true;
}
#endif

// CPUs kept busy by other processes, as last measured (0 when unknown).
class LoadProbe {
 public:
  int busy_by_others() {
#if defined(__linux__)
    if (!enabled_) return 0;
    const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now().time_since_epoch()).count();
    if (now - last_ms_.load(std::memory_order_relaxed) >= kWindowMs) {
      std::unique_lock<std::mutex> lock(mutex_, std::try_to_lock);
      if (lock.owns_lock() && now - last_ms_.load(std::memory_order_relaxed) >= kWindowMs) {
        uint64_t busy, total, self;
        if (cpu_ticks(busy, total, self)) {
          if (have_ && total > total_ && cpus_ > 0) {
            const double per_cpu = static_cast<double>(total - total_) / cpus_;
            const double others = (static_cast<double>(busy - busy_) - static_cast<double>(self - self_)) / per_cpu;
            others_.store(others > 0 ? static_cast<int>(others + 0.5) : 0, std::memory_order_relaxed);
          }
          busy_ = busy;
          total_ = total;
          self_ = self;
          have_ = true;
        }
        last_ms_.store(now, std::memory_order_relaxed);
      }
    }
    return others_.load(std::memory_order_relaxed);
#else
    return 0;
#endif
  }

  explicit LoadProbe(int cpus) : cpus_(cpus) {
    const char* env = std::getenv("PYSAMPLED_ADAPTIVE_THREADS");
    enabled_ = !(env != nullptr && std::strcmp(env, "0") == 0);
  }

 private:
  static constexpr int64_t kWindowMs = 200;
  std::mutex mutex_;
  std::atomic<int64_t> last_ms_{INT64_MIN / 2};
  std::atomic<int> others_{0};
  uint64_t busy_ = 0, total_ = 0, self_ = 0;
  bool have_ = false;
  bool enabled_ = true;
  int cpus_;
};

inline LoadProbe& load_probe() {
  static LoadProbe probe(static_cast<int>(std::thread::hardware_concurrency()));
  return probe;
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Iterations of the short spin before a thread sleeps (a pause is ~10-70
// cycles: a few tens of microseconds in all).
constexpr int kSpinIterations = 4000;

// True on a thread while it runs iterations of a pool loop: a loop started
// there runs inline (the pool is busy with the outer one).
inline bool& inside_pool_loop() {
  thread_local bool inside = false;
  return inside;
}

class ThreadPool {
 public:
  using Fn = void (*)(void* ctx, int64_t i);

  // Runs fn(ctx, i) for i in [0, n) on the caller and up to `helpers` pool
  // threads. Returns false (running nothing) if the pool is in use by another
  // caller, in which case the caller runs the loop itself.
  bool run(int64_t n, int helpers, Fn fn, void* ctx, std::exception_ptr& error) {
    std::unique_lock<std::mutex> busy(submit_, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    grow(helpers);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      fn_ = fn;
      ctx_ = ctx;
      n_ = n;
      next_.store(0, std::memory_order_relaxed);
      failed_.store(false, std::memory_order_relaxed);
      error_ = nullptr;
      wanted_ = helpers;
      pending_.store(helpers, std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);
    }
    work_cv_.notify_all();
    work();
    for (int spin = 0; pending_.load(std::memory_order_acquire) != 0; ++spin) {
      if (spin < kSpinIterations) {
        cpu_relax();
        continue;
      }
      std::unique_lock<std::mutex> lock(mutex_);
      done_cv_.wait(lock, [&] { return pending_.load(std::memory_order_acquire) == 0; });
      break;
    }
    error = error_;
    return true;
  }

 private:
  void grow(int helpers) {
    while (static_cast<int>(threads_.size()) < helpers) {
      const int index = static_cast<int>(threads_.size());
      threads_.emplace_back([this, index] { loop(index); });
    }
  }

  void work() {
    inside_pool_loop() = true;
    struct Reset {
      ~Reset() { inside_pool_loop() = false; }
    } reset;
    for (;;) {
      const int64_t i = next_.fetch_add(1, std::memory_order_relaxed);
      if (i >= n_) return;
      if (failed_.load(std::memory_order_relaxed)) continue;
      try {
        fn_(ctx_, i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!error_) error_ = std::current_exception();
        failed_.store(true, std::memory_order_relaxed);
      }
    }
  }

  void loop(int index) {
    uint64_t seen = 0;
    for (;;) {
      uint64_t gen = generation_.load(std::memory_order_acquire);
      for (int spin = 0; gen == seen && spin < kSpinIterations; ++spin) {
        cpu_relax();
        gen = generation_.load(std::memory_order_acquire);
      }
      if (gen == seen) {
        std::unique_lock<std::mutex> lock(mutex_);
        work_cv_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
        gen = generation_.load(std::memory_order_acquire);
      }
      seen = gen;
      if (index >= wanted_) continue;
      work();
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(mutex_);
        done_cv_.notify_all();
      }
    }
  }

  std::mutex submit_;  // one loop at a time
  std::mutex mutex_;
  std::condition_variable work_cv_, done_cv_;
  std::vector<std::thread> threads_;  // never joined: they live as long as the process
  std::atomic<uint64_t> generation_{0};
  std::atomic<int64_t> next_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> failed_{false};
  Fn fn_ = nullptr;
  void* ctx_ = nullptr;
  int64_t n_ = 0;
  int wanted_ = 0;
  std::exception_ptr error_;
};

// The process's pool. After fork() the child's copy has no threads (and
// perhaps a held mutex): a fresh pool replaces it, the old one is leaked.
inline ThreadPool*& pool_slot() {
  static ThreadPool* pool = nullptr;
  return pool;
}

inline void forget_pool_in_child() { pool_slot() = nullptr; }

inline ThreadPool& pool() {
  static std::once_flag once;
  std::call_once(once, [] {
#if defined(__linux__)
    pthread_atfork(nullptr, nullptr, &forget_pool_in_child);
#endif
  });
  static std::mutex create;
  std::lock_guard<std::mutex> lock(create);
  ThreadPool*& p = pool_slot();
  if (p == nullptr) p = new ThreadPool();
  return *p;
}

}  // namespace detail

// Whether a loop runs on fewer threads while other processes keep CPUs busy
// (the default), or keeps them (see the top of this file).
enum class OnLoad { kFewerThreads, kKeepThreads };

// Runs body(i) for i in [0, n) on up to min(num_threads, available_cores()
// minus, with OnLoad::kFewerThreads, the CPUs other processes keep busy)
// threads, the calling thread included; iterations are handed out one at a
// time in increasing order. The first exception thrown by any iteration is
// rethrown after the join; iterations that start after an exception has been
// seen are skipped. A loop started inside another one (or while another
// caller uses the pool) runs on the calling thread alone.
template <class Body>
void parallel_for(int64_t n, int num_threads, Body&& body, OnLoad on_load = OnLoad::kFewerThreads) {
  if (n <= 0) return;
#ifndef _OPENMP
  num_threads = 1;  // a build without threads (PYSAMPLED_OPENMP=OFF) stays serial
#endif
  int threads = num_threads;
  if (threads > 1) {
    const int cores = available_cores();
    const int others = on_load == OnLoad::kFewerThreads ? detail::load_probe().busy_by_others() : 0;
    threads = std::min(threads, std::max(1, cores - others));
  }
  if (threads <= 1 || n == 1) {
    for (int64_t i = 0; i < n; ++i) body(i);
    return;
  }
  if (n < threads) threads = static_cast<int>(n);
  if (detail::inside_pool_loop()) {
    for (int64_t i = 0; i < n; ++i) body(i);
    return;
  }
  using B = std::remove_reference_t<Body>;
  auto fn = [](void* ctx, int64_t i) { (*static_cast<B*>(ctx))(i); };
  std::exception_ptr error;
  void* ctx = const_cast<void*>(static_cast<const void*>(&body));
  if (!detail::pool().run(n, threads - 1, fn, ctx, error)) {
    for (int64_t i = 0; i < n; ++i) body(i);
    return;
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace pysampled
