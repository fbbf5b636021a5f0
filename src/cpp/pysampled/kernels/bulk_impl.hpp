// Bulk-sampling kernels in portable C++ that GCC vectorises. Included once per
// ISA translation unit with PYSAMPLED_ISA_NS set to that unit's namespace.
//
// Only +, *, compares, selects and bit operations on IEEE doubles and
// integers are used, and these units are built with -ffp-contract=off, so
// every ISA level returns the same bits for the same words.
#include <cstring>

#include "../philox.hpp"
#include "bulk.hpp"

namespace pysampled {
namespace PYSAMPLED_ISA_NS {
namespace {

inline double bits_to_double(uint64_t b) {
  double d;
  std::memcpy(&d, &b, sizeof d);
  return d;
}

inline uint64_t double_to_bits(double d) {
  uint64_t b;
  std::memcpy(&b, &d, sizeof b);
  return b;
}

constexpr double kTwo52 = 4503599627370496.0;

// floor(x) for 0 <= x < 2^52, exactly, without a libm call.
inline double floor_small(double x) {
  const double r = (x + kTwo52) - kTwo52;  // x rounded to nearest
  return r > x ? r - 1.0 : r;
}

// exp(x) for 0 <= x <= 700: 2^k * P(r), r = x - k ln2 in [-0.35, 0.35],
// P the degree-13 Taylor polynomial (truncation error < 1e-17).
inline double exp_nonneg(double x) {
  constexpr double kLog2e = 1.4426950408889634;
  constexpr double kLn2Hi = 6.93147180369123816490e-01;
  constexpr double kLn2Lo = 1.90821492927058770002e-10;
  const double k = floor_small(x * kLog2e + 0.5);
  const double r = (x - k * kLn2Hi) - k * kLn2Lo;
  double p = 1.0 / 6227020800.0;
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  // 2^k from the bits of k + 2^52 + 1023 (an exact small integer).
  const uint64_t scale_bits = double_to_bits(k + (kTwo52 + 1023.0)) << 52;
  return p * bits_to_double(scale_bits);
}

void philox_words(const uint32_t key[2], const uint32_t counter[4], uint64_t first_block,
                  int64_t nblocks, uint64_t* words) {
  constexpr int L = 16;
  uint32_t base[4] = {counter[0], counter[1], counter[2], counter[3]};
  Philox4x32::add_to_counter(base, first_block);
  const uint64_t low = (static_cast<uint64_t>(base[1]) << 32) | base[0];
  for (int64_t b0 = 0; b0 < nblocks; b0 += L) {
    uint32_t c0[L], c1[L], c2[L], c3[L];
    for (int l = 0; l < L; ++l) {
      const uint64_t v = low + static_cast<uint64_t>(b0 + l);
      const uint32_t carry = v < low ? 1u : 0u;
      c0[l] = static_cast<uint32_t>(v);
      c1[l] = static_cast<uint32_t>(v >> 32);
      const uint32_t c2v = base[2] + carry;
      c2[l] = c2v;
      c3[l] = base[3] + ((carry & (c2v == 0 ? 1u : 0u)));
    }
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; ++round) {
      for (int l = 0; l < L; ++l) {
        const uint64_t p0 = static_cast<uint64_t>(Philox4x32::kM0) * c0[l];
        const uint64_t p1 = static_cast<uint64_t>(Philox4x32::kM1) * c2[l];
        const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1[l] ^ k0;
        const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3[l] ^ k1;
        c1[l] = static_cast<uint32_t>(p1);
        c3[l] = static_cast<uint32_t>(p0);
        c0[l] = n0;
        c2[l] = n2;
      }
      k0 += Philox4x32::kW0;
      k1 += Philox4x32::kW1;
    }
    const int64_t m = nblocks - b0 < L ? nblocks - b0 : L;
    for (int l = 0; l < m; ++l) {
      words[2 * (b0 + l)] = static_cast<uint64_t>(c0[l]) | (static_cast<uint64_t>(c1[l]) << 32);
      words[2 * (b0 + l) + 1] = static_cast<uint64_t>(c2[l]) | (static_cast<uint64_t>(c3[l]) << 32);
    }
  }
}

// High and low 64-bit halves of w * r for r < 2^32 from 32x32->64 products.
inline void mul_small(uint64_t w, uint64_t r, uint64_t& hi, uint64_t& lo) {
  const uint64_t a = (w >> 32) * r;
  const uint64_t b = (w & 0xFFFFFFFFu) * r;
  hi = (a + (b >> 32)) >> 32;
  lo = (a << 32) + b;
}

void uniform(const uint64_t* words, int64_t n, uint64_t range, int64_t* out) {
  if (range <= 0xFFFFFFFFu) {
    for (int64_t i = 0; i < n; ++i) {
      uint64_t hi, lo;
      mul_small(words[i], range, hi, lo);
      out[i] = static_cast<int64_t>(hi);
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      out[i] = static_cast<int64_t>(
          (static_cast<unsigned __int128>(words[i]) * range) >> 64);
    }
  }
}

void log_uniform(const uint64_t* words, int64_t n, double log_range, int64_t range, int64_t* out) {
  const int64_t last = range - 1;
  if (range < (int64_t{1} << 51)) {
    const double last_d = static_cast<double>(last);
    for (int64_t i = 0; i < n; ++i) {
      const double u = bits_to_double((words[i] >> 12) | 0x3FF0000000000000ull) - 1.0;
      double v = floor_small(exp_nonneg(u * log_range)) - 1.0;
      v = v < 0.0 ? 0.0 : (v > last_d ? last_d : v);
      out[i] = static_cast<int64_t>(double_to_bits(v + kTwo52) - double_to_bits(kTwo52));
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      const double u = bits_to_double((words[i] >> 12) | 0x3FF0000000000000ull) - 1.0;
      int64_t v = static_cast<int64_t>(exp_nonneg(u * log_range)) - 1;
      out[i] = v < 0 ? 0 : (v > last ? last : v);
    }
  }
}

void alias(const uint64_t* words, int64_t n, const uint64_t* table, uint32_t size, int64_t* out) {
  // Two passes per block: compute the columns and prefetch them, then read
  // them. Large tables live in DRAM, and this keeps many misses in flight.
  constexpr int64_t B = 64;
  int64_t column[B];
  uint64_t coin[B];
  for (int64_t b0 = 0; b0 < n; b0 += B) {
    const int64_t m = n - b0 < B ? n - b0 : B;
    for (int64_t j = 0; j < m; ++j) {
      uint64_t hi, lo;
      mul_small(words[b0 + j], size, hi, lo);
      column[j] = static_cast<int64_t>(hi);
      coin[j] = lo >> 40;
    }
    for (int64_t j = 0; j < m; ++j) __builtin_prefetch(table + column[j]);
    for (int64_t j = 0; j < m; ++j) {
      const uint64_t e = table[column[j]];
      const uint64_t keep = coin[j] < alias_threshold(e) ? ~uint64_t{0} : 0;  // branch-free
      out[b0 + j] = static_cast<int64_t>((static_cast<uint64_t>(column[j]) & keep) |
                                         (static_cast<uint64_t>(alias_index(e)) & ~keep));
    }
  }
}

}  // namespace

extern const BulkKernels kBulk = {philox_words, uniform, log_uniform, alias};

}  // namespace PYSAMPLED_ISA_NS
}  // namespace pysampled
