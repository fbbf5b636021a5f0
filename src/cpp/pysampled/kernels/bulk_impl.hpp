// Bulk-sampling kernels. Included once per ISA translation unit with
// PYSAMPLED_ISA_NS set to that unit's namespace.
//
// Each kernel has a portable body (the generic level, and the tails of the
// vector levels) and, where the unit is built for AVX2 or AVX-512, a body
// written with intrinsics over the interface of bulk_x86.hpp: GCC does not
// vectorise these loops by itself at the AVX2 level (the 32x32->64 products,
// the floor and the clamps come out scalar), so the vector levels spell them.
//
// Every level gives the same bits for the same words: only +, -, *, floor,
// min/max, compares, selects and bit operations on IEEE doubles and integers
// are used, in the same order at every level, and these units are built with
// -ffp-contract=off (no fused multiply-add anywhere on this path).
#include <cstring>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "../philox.hpp"
#include "bulk.hpp"

namespace pysampled {
namespace PYSAMPLED_ISA_NS {
namespace {

#if defined(__AVX2__)
#include "bulk_x86.hpp"
#endif

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
constexpr uint64_t kOneBits = 0x3FF0000000000000ull;  // 1.0
constexpr uint64_t kTwo52Bits = 0x4330000000000000ull;  // 2^52

// The exp below: 2^k * P(r), k = floor(x log2(e) + 1/2), r = x - k ln2 in
// [-0.35, 0.35], P the degree-13 Taylor polynomial (truncation error < 1e-17),
// evaluated by Horner's rule from the highest coefficient.
constexpr double kLog2e = 1.4426950408889634;
constexpr double kLn2Hi = 6.93147180369123816490e-01;
constexpr double kLn2Lo = 1.90821492927058770002e-10;
constexpr double kExpCoef[14] = {
    1.0 / 6227020800.0, 1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0,
    1.0 / 40320.0,      1.0 / 5040.0,      1.0 / 720.0,      1.0 / 120.0,     1.0 / 24.0,
    1.0 / 6.0,          0.5,               1.0,              1.0};

// floor(x) for 0 <= x < 2^52, exactly, without a libm call (the vector levels
// use the floor instruction, which gives the same value on this range).
// Branch-free: r - 1 where r > x, r - 0 (= r, also for r = +0) elsewhere.
inline double floor_small(double x) {
  const double r = (x + kTwo52) - kTwo52;  // x rounded to nearest
  const uint64_t above = 0 - static_cast<uint64_t>(r > x);
  return r - bits_to_double(above & kOneBits);
}

// exp(x) for 0 <= x <= 700.
inline double exp_nonneg(double x) {
  const double k = floor_small(x * kLog2e + 0.5);
  const double r = (x - k * kLn2Hi) - k * kLn2Lo;
  double p = kExpCoef[0];
  for (int i = 1; i < 14; ++i) p = p * r + kExpCoef[i];
  // 2^k from the bits of k + 2^52 + 1023 (an exact small integer).
  const uint64_t scale_bits = double_to_bits(k + (kTwo52 + 1023.0)) << 52;
  return p * bits_to_double(scale_bits);
}

// u = (w >> 12) / 2^52 in [0, 1), exactly.
inline double unit_double(uint64_t w) { return bits_to_double((w >> 12) | kOneBits) - 1.0; }

// The log-uniform draw for range < 2^51: floor(exp(u log_range)) - 1 clamped
// to [0, last]; the double -> int64 conversion through the bits of v + 2^52.
// The clamp is done on the integer, which is exact: v is an integer in
// [-1, 2^51] here.
inline int64_t log_uniform_int(double v, int64_t last) {
  const int64_t iv = static_cast<int64_t>(double_to_bits(v + kTwo52) - kTwo52Bits);
  const int64_t lo = iv < 0 ? 0 : iv;
  return lo > last ? last : lo;
}

inline int64_t log_uniform_one(uint64_t w, double log_range, int64_t last) {
  return log_uniform_int(floor_small(exp_nonneg(unit_double(w) * log_range)) - 1.0, last);
}

// Same for range >= 2^51 (exp may exceed 2^52: truncating conversion).
inline int64_t log_uniform_big(double e, int64_t last) {
  const int64_t v = static_cast<int64_t>(e) - 1;
  return v < 0 ? 0 : (v > last ? last : v);
}

// High and low 64-bit halves of w * r for r < 2^32 from 32x32->64 products.
inline void mul_small(uint64_t w, uint64_t r, uint64_t& hi, uint64_t& lo) {
  const uint64_t a = (w >> 32) * r;
  const uint64_t b = (w & 0xFFFFFFFFu) * r;
  hi = (a + (b >> 32)) >> 32;
  lo = (a << 32) + b;
}

inline int64_t alias_select(int64_t column, uint64_t coin, uint64_t e) {
  const uint64_t keep = coin < alias_threshold(e) ? ~uint64_t{0} : 0;  // branch-free
  return static_cast<int64_t>((static_cast<uint64_t>(column) & keep) |
                              (static_cast<uint64_t>(alias_index(e)) & ~keep));
}

// Tables above this many entries (2 MiB) are read in two passes, columns and
// prefetches for a batch first, then the loads: they live beyond L2, and this
// keeps many misses in flight.
constexpr uint32_t kAliasPrefetchAbove = 1u << 18;
constexpr int64_t kAliasBatch = 64;

// ---------------------------------------------------------------- portable

// Two blocks at a time in scalar registers (two independent multiply chains).
void philox_words_portable(const uint32_t key[2], const uint32_t base[4], int64_t nblocks,
                           uint64_t* words) {
  uint32_t c[4] = {base[0], base[1], base[2], base[3]};
  int64_t b = 0;
  for (; b + 2 <= nblocks; b += 2) {
    uint32_t d[4] = {c[0], c[1], c[2], c[3]};
    Philox4x32::add_to_counter(d, 1);
    uint32_t a0 = c[0], a1 = c[1], a2 = c[2], a3 = c[3];
    uint32_t e0 = d[0], e1 = d[1], e2 = d[2], e3 = d[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; ++round) {
      const uint64_t p0 = uint64_t{Philox4x32::kM0} * a0, q0 = uint64_t{Philox4x32::kM0} * e0;
      const uint64_t p1 = uint64_t{Philox4x32::kM1} * a2, q1 = uint64_t{Philox4x32::kM1} * e2;
      a0 = static_cast<uint32_t>(p1 >> 32) ^ a1 ^ k0;
      e0 = static_cast<uint32_t>(q1 >> 32) ^ e1 ^ k0;
      a2 = static_cast<uint32_t>(p0 >> 32) ^ a3 ^ k1;
      e2 = static_cast<uint32_t>(q0 >> 32) ^ e3 ^ k1;
      a1 = static_cast<uint32_t>(p1);
      e1 = static_cast<uint32_t>(q1);
      a3 = static_cast<uint32_t>(p0);
      e3 = static_cast<uint32_t>(q0);
      k0 += Philox4x32::kW0;
      k1 += Philox4x32::kW1;
    }
    words[2 * b] = a0 | (uint64_t{a1} << 32);
    words[2 * b + 1] = a2 | (uint64_t{a3} << 32);
    words[2 * b + 2] = e0 | (uint64_t{e1} << 32);
    words[2 * b + 3] = e2 | (uint64_t{e3} << 32);
    std::memcpy(c, d, sizeof c);
    Philox4x32::add_to_counter(c, 1);
  }
  if (b < nblocks) {
    const Block r = Philox4x32::compute(key, c);
    words[2 * b] = r[0] | (uint64_t{r[1]} << 32);
    words[2 * b + 1] = r[2] | (uint64_t{r[3]} << 32);
  }
}

void uniform_portable(const uint64_t* words, int64_t n, uint64_t range, int64_t* out) {
  if (range <= 0xFFFFFFFFu) {
    for (int64_t i = 0; i < n; ++i) {
      uint64_t hi, lo;
      mul_small(words[i], range, hi, lo);
      out[i] = static_cast<int64_t>(hi);
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      out[i] = static_cast<int64_t>((static_cast<unsigned __int128>(words[i]) * range) >> 64);
    }
  }
}

void log_uniform_portable(const uint64_t* words, int64_t n, double log_range, int64_t range,
                          int64_t* out) {
  const int64_t last = range - 1;
  if (range < (int64_t{1} << 51)) {
    // U draws side by side, one step of all of them at a time: independent
    // Horner chains that the compiler may also pack into vector registers.
    constexpr int U = 8;
    int64_t i = 0;
    for (; i + U <= n; i += U) {
      double x[U], k[U], r[U], p[U];
      for (int u = 0; u < U; ++u) x[u] = unit_double(words[i + u]) * log_range;
      for (int u = 0; u < U; ++u) k[u] = floor_small(x[u] * kLog2e + 0.5);
      for (int u = 0; u < U; ++u) r[u] = (x[u] - k[u] * kLn2Hi) - k[u] * kLn2Lo;
      for (int u = 0; u < U; ++u) p[u] = kExpCoef[0];
      for (int c = 1; c < 14; ++c) {
        for (int u = 0; u < U; ++u) p[u] = p[u] * r[u] + kExpCoef[c];
      }
      for (int u = 0; u < U; ++u) {
        const double e = p[u] * bits_to_double(double_to_bits(k[u] + (kTwo52 + 1023.0)) << 52);
        out[i + u] = log_uniform_int(floor_small(e) - 1.0, last);
      }
    }
    for (; i < n; ++i) out[i] = log_uniform_one(words[i], log_range, last);
  } else {
    for (int64_t i = 0; i < n; ++i) {
      out[i] = log_uniform_big(exp_nonneg(unit_double(words[i]) * log_range), last);
    }
  }
}

void alias_portable(const uint64_t* words, int64_t n, const uint64_t* table, uint32_t size,
                    int64_t* out) {
  if (size <= kAliasPrefetchAbove) {
    for (int64_t i = 0; i < n; ++i) {
      uint64_t hi, lo;
      mul_small(words[i], size, hi, lo);
      out[i] = alias_select(static_cast<int64_t>(hi), lo >> 40, table[hi]);
    }
    return;
  }
  // Software pipeline: the columns of batch b + 1 are computed and
  // prefetched before the reads of batch b.
  constexpr int64_t B = kAliasBatch;
  int64_t column[2][B];
  uint64_t coin[2][B];
  auto prepare = [&](int64_t start, int64_t m, int buf) {
    for (int64_t j = 0; j < m; ++j) {
      uint64_t hi, lo;
      mul_small(words[start + j], size, hi, lo);
      column[buf][j] = static_cast<int64_t>(hi);
      coin[buf][j] = lo >> 40;
    }
    for (int64_t j = 0; j < m; ++j) __builtin_prefetch(table + column[buf][j]);
  };
  if (n > 0) prepare(0, n < B ? n : B, 0);
  int buf = 0;
  for (int64_t b0 = 0; b0 < n; b0 += B, buf ^= 1) {
    const int64_t m = n - b0 < B ? n - b0 : B;
    const int64_t next = n - b0 - m < B ? n - b0 - m : B;
    if (next > 0) prepare(b0 + B, next, buf ^ 1);
    for (int64_t j = 0; j < m; ++j) {
      out[b0 + j] = alias_select(column[buf][j], coin[buf][j], table[column[buf][j]]);
    }
  }
}

// ------------------------------------------------------------------ vector

#if defined(__AVX2__)

// An empty statement that "changes" v: steps pinned this way stay in program
// order relative to each other (the value is untouched, no instruction).
template <class T>
inline void pin(T& v) {
  asm volatile("" : "+v"(v));
}

// G groups of V::kLanes blocks per step, interleaved so that the multiplier
// latency of one group hides behind the others.
// ks: the 20 round keys (k0, k1 of each round).
template <class V, int G>
inline void philox_step(const uint64_t* ks, uint64_t low, uint32_t c2_, uint32_t c3_,
                        uint64_t* words) {
  using I = typename V::I;
  I c0[G], c1[G], c2[G], c3[G];
  for (int g = 0; g < G; ++g) {
    const I v = V::iota(low + static_cast<uint64_t>(g * V::kLanes));
    c0[g] = v;  // high halves are garbage from here on: mul32 ignores them
    c1[g] = V::template srl<32>(v);
    c2[g] = V::set1(c2_);
    c3[g] = V::set1(c3_);
  }
  const I m0 = V::set1(Philox4x32::kM0), m1 = V::set1(Philox4x32::kM1);
  // Fully unrolled: the exchange of the words between rounds is then free
  // (register renaming), not a round of moves and spills.
#pragma GCC unroll 10
  for (int round = 0; round < 10; ++round) {
    const I kv0 = V::set1(ks[2 * round]), kv1 = V::set1(ks[2 * round + 1]);
    for (int g = 0; g < G; ++g) {
      const I p0 = V::mul32(c0[g], m0);
      const I p1 = V::mul32(c2[g], m1);
      c0[g] = V::xor3(V::template srl<32>(p1), c1[g], kv0);
      c2[g] = V::xor3(V::template srl<32>(p0), c3[g], kv1);
      c1[g] = p1;
      c3[g] = p0;
    }
  }
  for (int g = 0; g < G; ++g) {
    V::store_interleaved(words + 2 * g * V::kLanes, V::pack_halves(c0[g], c1[g]),
                         V::pack_halves(c2[g], c3[g]));
  }
}

template <class V, int G>
void philox_words_vec(const uint32_t key[2], const uint32_t base[4], int64_t nblocks,
                      uint64_t* words) {
  constexpr int64_t kStep = G * V::kLanes;
  const uint64_t low = (static_cast<uint64_t>(base[1]) << 32) | base[0];
  if (nblocks <= 0) return;
  if (low + static_cast<uint64_t>(nblocks - 1) < low) {
    // the low 64 bits of the counter wrap inside this call: once in 2^64 blocks
    philox_words_portable(key, base, nblocks, words);
    return;
  }
  uint64_t ks[20];
  uint32_t k0 = key[0], k1 = key[1];
  for (int round = 0; round < 10; ++round) {
    ks[2 * round] = k0;
    ks[2 * round + 1] = k1;
    k0 += Philox4x32::kW0;
    k1 += Philox4x32::kW1;
  }
  int64_t b0 = 0;
  for (; b0 + kStep <= nblocks; b0 += kStep) {
    philox_step<V, G>(ks, low + static_cast<uint64_t>(b0), base[2], base[3], words + 2 * b0);
  }
  if (b0 < nblocks) {
    uint64_t tmp[2 * kStep];
    philox_step<V, G>(ks, low + static_cast<uint64_t>(b0), base[2], base[3], tmp);
    std::memcpy(words + 2 * b0, tmp, static_cast<size_t>(2 * (nblocks - b0)) * sizeof(uint64_t));
  }
}

template <class V>
void uniform_vec(const uint64_t* words, int64_t n, uint64_t range, int64_t* out) {
  using I = typename V::I;
  constexpr int W = V::kLanes;
  int64_t i = 0;
  if (range <= 0xFFFFFFFFu) {
    const I r = V::set1(range);
    for (; i + W <= n; i += W) {
      const I w = V::load(words + i);
      const I a = V::mul32(V::template srl<32>(w), r);
      const I b = V::mul32(w, r);
      V::store(out + i, V::template srl<32>(V::add(a, V::template srl<32>(b))));
    }
  } else {
    // high 64 bits of the 128-bit product from four 32x32->64 products
    const I rl = V::set1(range & 0xFFFFFFFFu), rh = V::set1(range >> 32);
    const I mask = V::set1(0xFFFFFFFFu);
    for (; i + W <= n; i += W) {
      const I w = V::load(words + i);
      const I wh = V::template srl<32>(w);
      const I t = V::mul32(w, rl);
      const I u = V::add(V::mul32(wh, rl), V::template srl<32>(t));
      const I v = V::add(V::mul32(w, rh), V::bit_and(u, mask));
      const I hi = V::add(V::add(V::mul32(wh, rh), V::template srl<32>(u)), V::template srl<32>(v));
      V::store(out + i, hi);
    }
  }
  uniform_portable(words + i, n - i, range, out + i);
}

// exp of U vectors at once, their steps interleaved: Horner's rule is one
// long chain of dependent multiplies and adds per vector, and only several
// chains side by side keep the floating-point units busy.
template <class V, int U>
inline void exp_vec(typename V::D (&x)[U]) {
  using D = typename V::D;
  D k[U], r[U], p[U];
  for (int u = 0; u < U; ++u) {
    k[u] = V::floord(V::addd(V::muld(x[u], V::set1d(kLog2e)), V::set1d(0.5)));
  }
  for (int u = 0; u < U; ++u) {
    r[u] = V::subd(V::subd(x[u], V::muld(k[u], V::set1d(kLn2Hi))), V::muld(k[u], V::set1d(kLn2Lo)));
  }
  for (int u = 0; u < U; ++u) p[u] = V::set1d(kExpCoef[0]);
  for (int i = 1; i < 14; ++i) {
    const D c = V::set1d(kExpCoef[i]);
    for (int u = 0; u < U; ++u) p[u] = V::addd(V::muld(p[u], r[u]), c);
    // GCC would emit the chains one after the other (and the out-of-order
    // window holds only two or three of them): pin the interleaved order.
    for (int u = 0; u < U; ++u) pin(p[u]);
  }
  for (int u = 0; u < U; ++u) {
    const D scale = V::as_double(
        V::template sll<52>(V::as_int(V::addd(k[u], V::set1d(kTwo52 + 1023.0)))));
    x[u] = V::muld(p[u], scale);
  }
}

template <class V>
inline typename V::D unit_double_vec(typename V::I w) {
  return V::subd(V::as_double(V::bit_or(V::template srl<12>(w), V::set1(kOneBits))),
                 V::set1d(1.0));
}

template <class V, int U>
void log_uniform_vec(const uint64_t* words, int64_t n, double log_range, int64_t range,
                     int64_t* out) {
  using I = typename V::I;
  using D = typename V::D;
  constexpr int W = V::kLanes;
  const int64_t last = range - 1;
  const D lr = V::set1d(log_range);
  int64_t i = 0;
  D x[U];
  if (range < (int64_t{1} << 51)) {
    const D last_d = V::set1d(static_cast<double>(last));
    const D zero = V::set1d(0.0), one = V::set1d(1.0), two52 = V::set1d(kTwo52);
    const I two52_bits = V::set1(kTwo52Bits);
    for (; i + U * W <= n; i += U * W) {
      for (int u = 0; u < U; ++u) x[u] = V::muld(unit_double_vec<V>(V::load(words + i + u * W)), lr);
      exp_vec<V, U>(x);
      for (int u = 0; u < U; ++u) {
        // floor, - 1, clamp to [0, last] (exact: integers below 2^52), to int64
        D v = V::subd(V::floord(x[u]), one);
        v = V::mind(V::maxd(v, zero), last_d);
        V::store(out + i + u * W, V::sub(V::as_int(V::addd(v, two52)), two52_bits));
      }
    }
  } else {
    // exp may exceed 2^52 here: the exps in vectors, the conversions scalar
    alignas(64) double e[U * W];
    for (; i + U * W <= n; i += U * W) {
      for (int u = 0; u < U; ++u) x[u] = V::muld(unit_double_vec<V>(V::load(words + i + u * W)), lr);
      exp_vec<V, U>(x);
      for (int u = 0; u < U; ++u) V::stored(e + u * W, x[u]);
      for (int j = 0; j < U * W; ++j) out[i + j] = log_uniform_big(e[j], last);
    }
  }
  log_uniform_portable(words + i, n - i, log_range, range, out + i);
}

template <class V>
inline void alias_columns(typename V::I w, typename V::I size, typename V::I& column,
                          typename V::I& coin) {
  using I = typename V::I;
  const I a = V::mul32(V::template srl<32>(w), size);
  const I b = V::mul32(w, size);
  column = V::template srl<32>(V::add(a, V::template srl<32>(b)));
  coin = V::template srl<40>(V::add(V::template sll<32>(a), b));
}

template <class V>
inline typename V::I alias_resolve(const uint64_t* table, typename V::I column,
                                   typename V::I coin) {
  const typename V::I e = V::gather(table, column);
  return V::select_lt(coin, V::bit_and(e, V::set1(0xFFFFFFFFu)), column, V::template srl<32>(e));
}

template <class V>
void alias_vec(const uint64_t* words, int64_t n, const uint64_t* table, uint32_t size,
               int64_t* out) {
  using I = typename V::I;
  constexpr int W = V::kLanes;
  const I sz = V::set1(size);
  int64_t i = 0;
  if (size <= kAliasPrefetchAbove) {
    for (; i + W <= n; i += W) {
      I column, coin;
      alias_columns<V>(V::load(words + i), sz, column, coin);
      V::store(out + i, alias_resolve<V>(table, column, coin));
    }
  } else {
    // Software pipeline: the columns of batch b + 1 are computed and
    // prefetched before the reads of batch b, so its misses overlap them.
    constexpr int64_t B = kAliasBatch;
    alignas(64) int64_t column[2][B];
    alignas(64) uint64_t coin[2][B];
    auto prepare = [&](int64_t start, int buf) {
      for (int64_t j = 0; j < B; j += W) {
        I c, k;
        alias_columns<V>(V::load(words + start + j), sz, c, k);
        V::store(column[buf] + j, c);
        V::store(coin[buf] + j, k);
      }
      for (int64_t j = 0; j < B; ++j) __builtin_prefetch(table + column[buf][j]);
    };
    if (n >= B) prepare(0, 0);
    int buf = 0;
    for (; i + B <= n; i += B, buf ^= 1) {
      if (i + 2 * B <= n) prepare(i + B, buf ^ 1);
      for (int64_t j = 0; j < B; j += W) {
        V::store(out + i + j,
                 alias_resolve<V>(table, V::load(column[buf] + j), V::load(coin[buf] + j)));
      }
    }
  }
  alias_portable(words + i, n - i, table, size, out + i);
}

#endif  // __AVX2__

// ------------------------------------------------------------- this level

#if defined(__AVX512F__) && defined(__AVX512DQ__)
using Level = Avx512;
constexpr int kPhiloxGroups = 4;
constexpr int kExpChains = 8;
#elif defined(__AVX2__)
using Level = Avx2;
constexpr int kPhiloxGroups = 4;
constexpr int kExpChains = 8;
#endif

void philox_words(const uint32_t key[2], const uint32_t counter[4], uint64_t first_block,
                  int64_t nblocks, uint64_t* words) {
  uint32_t base[4] = {counter[0], counter[1], counter[2], counter[3]};
  Philox4x32::add_to_counter(base, first_block);
#if defined(__AVX2__)
  philox_words_vec<Level, kPhiloxGroups>(key, base, nblocks, words);
#else
  philox_words_portable(key, base, nblocks, words);
#endif
}

void uniform(const uint64_t* words, int64_t n, uint64_t range, int64_t* out) {
#if defined(__AVX2__)
  uniform_vec<Level>(words, n, range, out);
#else
  uniform_portable(words, n, range, out);
#endif
}

void log_uniform(const uint64_t* words, int64_t n, double log_range, int64_t range, int64_t* out) {
#if defined(__AVX2__)
  log_uniform_vec<Level, kExpChains>(words, n, log_range, range, out);
#else
  log_uniform_portable(words, n, log_range, range, out);
#endif
}

void alias(const uint64_t* words, int64_t n, const uint64_t* table, uint32_t size, int64_t* out) {
#if defined(__AVX2__)
  alias_vec<Level>(words, n, table, size, out);
#else
  alias_portable(words, n, table, size, out);
#endif
}

}  // namespace

extern const BulkKernels kBulk = {philox_words, uniform, log_uniform, alias};

}  // namespace PYSAMPLED_ISA_NS
}  // namespace pysampled
