// A view over a list of row shards (read-only but for writable_row_bytes), with TensorFlow's `mod` and
// `div` routing of global ids (SPEC §5).
//
// Design: a Shard is any 2-D array whose rows are contiguous (unit stride
// within a row, any stride between rows) or a 1-D array (cols == 1, the
// element stride as row stride). ShardedRows checks at construction that the
// shard sizes are the canonical layout for their strategy, so a lookup can
// never land on a wrong row (TF returns wrong rows silently, TF#19265).
#pragma once

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "prefetch.hpp"

namespace pysampled {

// Storage dtypes of rows. kBFloat16 is the upper half of an IEEE float32
// (ml_dtypes.bfloat16): rows are widened exactly to float32 when read.
enum class DType : int { kFloat32 = 0, kFloat64 = 1, kBFloat16 = 2 };

inline int64_t dtype_size(DType t) { return t == DType::kFloat64 ? 8 : t == DType::kBFloat16 ? 2 : 4; }

// bfloat16 bits -> float32 (exact).
inline float bf16_to_float(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
enum class Partition : int { kMod = 0, kDiv = 1 };

struct Shard {
  const void* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t row_stride = 0;  // in elements
  DType dtype = DType::kFloat32;
};

class ShardedRows {
 public:
  ShardedRows() = default;
  ShardedRows(std::vector<Shard> shards, Partition partition);

  int64_t total_rows() const { return total_; }
  int64_t cols() const { return cols_; }
  DType dtype() const { return dtype_; }
  Partition partition() const { return partition_; }
  int64_t num_shards() const { return static_cast<int64_t>(shards_.size()); }
  const Shard& shard(int64_t i) const { return shards_[i]; }

  // Shard index and local row of a global id already known to be in range.
  inline void locate(int64_t id, int64_t& shard, int64_t& row) const {
    const int64_t p = num_shards();
    if (p == 1) {
      shard = 0;
      row = id;
    } else if (partition_ == Partition::kMod) {
      shard = id % p;
      row = id / p;
    } else if (id < split_) {
      shard = id / (q_ + 1);
      row = id % (q_ + 1);
    } else {
      shard = (id - r_) / q_;
      row = (id - r_) % q_;
    }
  }

  // Element pointer of a row (typed by the caller after checking dtype()).
  inline const char* row_bytes(int64_t id) const {
    int64_t s, r;
    locate(id, s, r);
    const Shard& sh = shards_[s];
    return static_cast<const char*>(sh.data) + r * sh.row_stride * elem_size_;
  }

  // The same row, for writing. Only the in-place optimizers use it, on views
  // the caller built over arrays it checked to be writable (the view itself
  // promises nothing: it is read-only everywhere else).
  inline char* writable_row_bytes(int64_t id) const { return const_cast<char*>(row_bytes(id)); }

  // Asks the cache for row `id` (a hint: no effect on results).
  // (prefetch.hpp: a __builtin_prefetch here was deleted by the compiler.
  // The sampled losses' gather with fresh rows from a 10^6-row table, AMD
  // Zen 4, 1 thread, median: S = 64 bfloat16 0.99 -> 0.91 ms, S = 512
  // 3.59 -> 3.48 ms; into L2 only measured between the two.)
  inline void prefetch_row(int64_t id) const {
    const char* p = row_bytes(id);
    const int64_t bytes = cols_ * elem_size_;
    for (int64_t o = 0; o < bytes; o += 64) prefetch_l1(p + o);
  }

  // Copies row `id` into out[0..cols) converted to T.
  template <class T>
  void gather_row(int64_t id, T* out) const {
    const char* p = row_bytes(id);
    if (dtype_ == DType::kFloat32) {
      const float* src = reinterpret_cast<const float*>(p);
      for (int64_t c = 0; c < cols_; ++c) out[c] = static_cast<T>(src[c]);
    } else if (dtype_ == DType::kBFloat16) {
      const uint16_t* src = reinterpret_cast<const uint16_t*>(p);
      for (int64_t c = 0; c < cols_; ++c) out[c] = static_cast<T>(bf16_to_float(src[c]));
    } else {
      const double* src = reinterpret_cast<const double*>(p);
      for (int64_t c = 0; c < cols_; ++c) out[c] = static_cast<T>(src[c]);
    }
  }

  // The value of a 1-D (cols == 1) view at `id`, converted to T.
  template <class T>
  T value(int64_t id) const {
    int64_t s, r;
    locate(id, s, r);
    const Shard& sh = shards_[s];
    if (dtype_ == DType::kFloat32) return static_cast<T>(static_cast<const float*>(sh.data)[r * sh.row_stride]);
    if (dtype_ == DType::kBFloat16) {
      return static_cast<T>(bf16_to_float(static_cast<const uint16_t*>(sh.data)[r * sh.row_stride]));
    }
    return static_cast<T>(static_cast<const double*>(sh.data)[r * sh.row_stride]);
  }

  // True if any shard's memory may share a byte with [p, p + bytes) (spans
  // from first to last element of each shard, whatever the row stride's sign).
  bool overlaps(const void* p, int64_t bytes) const;

  // Throws std::out_of_range naming `what[position]` if id is outside [0, total_rows).
  void check_id(int64_t id, const char* what, int64_t position) const {
    if (id < 0 || id >= total_) {
      throw std::out_of_range(std::string(what) + "[" + std::to_string(position) + "] = " +
                              std::to_string(id) + " is not in [0, " + std::to_string(total_) + ")");
    }
  }

 private:
  std::vector<Shard> shards_;
  Partition partition_ = Partition::kMod;
  int64_t total_ = 0;
  int64_t cols_ = 0;
  DType dtype_ = DType::kFloat32;
  int64_t elem_size_ = 4;
  int64_t q_ = 0, r_ = 0, split_ = 0;  // div: q rows per shard, first r shards one more
};

// Canonical shard sizes for `total` rows over `num_shards` shards.
std::vector<int64_t> canonical_shard_rows(int64_t total, int64_t num_shards, Partition partition);

}  // namespace pysampled
