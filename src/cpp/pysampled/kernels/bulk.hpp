// Vectorised kernels of the bulk sampling path, one table per ISA level.
#pragma once

#include <cstdint>

#include "../isa.hpp"

namespace pysampled {

// One alias-table column packed in 64 bits: the low half holds
// T = ceil(prob * 2^24) (prob is a float, so this is exact and T <= 2^24),
// the high half the alias index. A 24-bit coin c keeps the column iff
// c < T, i.e. c / 2^24 < prob; TF's 23-bit RandFloat m / 2^23 < prob iff
// 2m < T. Integer-only, one 64-bit load per draw.
inline uint64_t pack_alias(float prob, int32_t alias) {
  const double scaled = static_cast<double>(prob) * 16777216.0;  // exact
  // prob >= 1 always keeps the column (TF: r < prob), T = 2^24 does too. An
  // infinite prob (float32 weight * n overflowed) must not reach the integer
  // conversion (undefined behaviour); a NaN never keeps it.
  if (!(scaled < 16777216.0)) {
    return (scaled == scaled ? uint64_t{16777216} : 0) |
           (static_cast<uint64_t>(static_cast<uint32_t>(alias)) << 32);
  }
  uint64_t t = static_cast<uint64_t>(scaled);
  if (static_cast<double>(t) < scaled) ++t;  // ceil
  return t | (static_cast<uint64_t>(static_cast<uint32_t>(alias)) << 32);
}
inline uint64_t alias_threshold(uint64_t packed) { return packed & 0xFFFFFFFFu; }
inline int32_t alias_index(uint64_t packed) { return static_cast<int32_t>(packed >> 32); }

// One alias draw from a uniform 64-bit word (the bulk path's rule): column
// floor(w * size / 2^64), kept when bits 40..63 of (w * size mod 2^64) fall
// below its threshold. Uses only 32x32->64 products (r < 2^32).
inline int64_t alias_pick(uint64_t w, const uint64_t* table, uint32_t size) {
  const uint64_t a = (w >> 32) * size;
  const uint64_t b = (w & 0xFFFFFFFFu) * size;
  const uint64_t hi = (a + (b >> 32)) >> 32;
  const uint64_t lo = (a << 32) + b;
  const uint64_t e = table[hi];
  return (lo >> 40) < alias_threshold(e) ? static_cast<int64_t>(hi) : alias_index(e);
}

struct BulkKernels {
  // words[2*b + h] = lo | hi << 32 from words (2h, 2h+1) of block (counter + first_block + b).
  void (*philox_words)(const uint32_t key[2], const uint32_t counter[4], uint64_t first_block,
                       int64_t nblocks, uint64_t* words);
  // floor(w * range / 2^64)
  void (*uniform)(const uint64_t* words, int64_t n, uint64_t range, int64_t* out);
  // floor(exp(u * log_range)) - 1 clamped to [0, range), u = (w >> 12) / 2^52
  void (*log_uniform)(const uint64_t* words, int64_t n, double log_range, int64_t range,
                      int64_t* out);
  // Alias draw from one word: column floor(w * size / 2^64), 24-bit coin from
  // bits 40..63 of the low half of w * size.
  void (*alias)(const uint64_t* words, int64_t n, const uint64_t* table, uint32_t size,
                int64_t* out);
};

namespace isa_generic { extern const BulkKernels kBulk; }
namespace isa_avx2 { extern const BulkKernels kBulk; }
namespace isa_avx512 { extern const BulkKernels kBulk; }

inline const BulkKernels& bulk_kernels(Isa isa) {
  return table_for(isa, isa_generic::kBulk, isa_avx2::kBulk, isa_avx512::kBulk);
}

inline const BulkKernels& bulk_kernels() { return bulk_kernels(active_isa()); }

}  // namespace pysampled
