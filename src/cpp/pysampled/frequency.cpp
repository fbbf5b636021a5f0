#include "frequency.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "parallel.hpp"

namespace pysampled {

namespace {

inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

void check(const FrequencyTables& t) {
  if (t.num_buckets < 1 || t.num_hashes < 1) throw std::invalid_argument("invalid table sizes");
  if (!(t.alpha > 0.0 && t.alpha <= 1.0)) throw std::invalid_argument("alpha must be in (0, 1]");
}

}  // namespace

int64_t frequency_bucket(uint64_t seed, int64_t hash, int64_t num_buckets, int64_t id) {
  const uint64_t key = mix64(seed + static_cast<uint64_t>(hash + 1) * 0x9E3779B97F4A7C15ULL);
  return static_cast<int64_t>(mix64(static_cast<uint64_t>(id) ^ key) % static_cast<uint64_t>(num_buckets));
}

void frequency_update(const FrequencyTables& t, const int64_t* ids, int64_t n, int64_t step) {
  check(t);
  if (step < 0) throw std::invalid_argument("step must be non-negative");
  const double keep = 1.0 - t.alpha;
  for (int64_t h = 0; h < t.num_hashes; ++h) {
    const uint64_t key = mix64(t.seed + static_cast<uint64_t>(h + 1) * 0x9E3779B97F4A7C15ULL);
    const int64_t base = h * t.num_buckets;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t b =
          base + static_cast<int64_t>(mix64(static_cast<uint64_t>(ids[i]) ^ key) % static_cast<uint64_t>(t.num_buckets));
      const int64_t last = t.last[b];
      if (last > step) throw std::invalid_argument("step is before a step already seen");
      if (last >= 0) {
        t.acc[b] = keep * t.acc[b] + t.alpha * static_cast<double>(step - last);
        t.count[b] += 1;
      }
      t.last[b] = step;
    }
  }
}

void frequency_log_q(const FrequencyTables& t, const int64_t* ids, int64_t n, double default_gap,
                     double* out, int num_threads) {
  check(t);
  const double keep = 1.0 - t.alpha;
  constexpr int64_t kChunk = 4096;
  parallel_for((n + kChunk - 1) / kChunk, num_threads, [&](int64_t c) {
    const int64_t end = std::min(n, (c + 1) * kChunk);
    for (int64_t i = c * kChunk; i < end; ++i) {
      double best = -1.0;
      for (int64_t h = 0; h < t.num_hashes; ++h) {
        const int64_t b = h * t.num_buckets + frequency_bucket(t.seed, h, t.num_buckets, ids[i]);
        const int64_t cnt = t.count[b];
        const double a = t.acc[b];
        if (cnt <= 0 || !(a > 0.0)) continue;
        const double gap = a / (1.0 - std::pow(keep, static_cast<double>(cnt)));
        best = std::max(best, gap);
      }
      out[i] = -std::log(best > 0.0 ? best : default_gap);
    }
  });
}

}  // namespace pysampled
