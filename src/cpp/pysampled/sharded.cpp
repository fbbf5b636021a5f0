#include "sharded.hpp"

#include <algorithm>
#include <cstdint>

namespace pysampled {

std::vector<int64_t> canonical_shard_rows(int64_t total, int64_t num_shards, Partition partition) {
  std::vector<int64_t> rows(static_cast<size_t>(num_shards));
  const int64_t q = total / num_shards, r = total % num_shards;
  for (int64_t p = 0; p < num_shards; ++p) {
    // mod: shard p holds ids p, p+P, ...; div: the first r shards hold q+1 rows.
    rows[p] = partition == Partition::kMod ? (total - p + num_shards - 1) / num_shards
                                           : q + (p < r ? 1 : 0);
  }
  return rows;
}

ShardedRows::ShardedRows(std::vector<Shard> shards, Partition partition)
    : shards_(std::move(shards)), partition_(partition) {
  if (shards_.empty()) throw std::invalid_argument("the list of shards is empty");
  cols_ = shards_[0].cols;
  dtype_ = shards_[0].dtype;
  elem_size_ = dtype_size(dtype_);
  for (size_t i = 0; i < shards_.size(); ++i) {
    const Shard& s = shards_[i];
    if (s.cols != cols_) {
      throw std::invalid_argument("all shards must have the same number of columns: shard 0 has " +
                                  std::to_string(cols_) + ", shard " + std::to_string(i) + " has " +
                                  std::to_string(s.cols));
    }
    if (s.dtype != dtype_) throw std::invalid_argument("all shards must have the same dtype");
    if (s.rows < 0) throw std::invalid_argument("negative shard size");
    total_ += s.rows;
  }
  const int64_t p = num_shards();
  if (p > 1) {
    if (partition_ == Partition::kDiv && total_ < p) {
      throw std::invalid_argument("partition_strategy='div' needs at least one row per shard: " +
                                  std::to_string(total_) + " rows over " + std::to_string(p) +
                                  " shards (TF fails with 'Integer division by zero')");
    }
    const std::vector<int64_t> expect = canonical_shard_rows(total_, p, partition_);
    for (int64_t i = 0; i < p; ++i) {
      if (shards_[i].rows != expect[i]) {
        std::string got, want;
        for (int64_t j = 0; j < p; ++j) {
          got += (j ? ", " : "") + std::to_string(shards_[j].rows);
          want += (j ? ", " : "") + std::to_string(expect[j]);
        }
        throw std::invalid_argument(
            std::string("shard sizes [") + got + "] are not the '" +
            (partition_ == Partition::kMod ? "mod" : "div") + "' layout of " +
            std::to_string(total_) + " rows, which is [" + want +
            "]; TF would look up wrong rows silently");
      }
    }
    q_ = total_ / p;
    r_ = total_ % p;
    split_ = r_ * (q_ + 1);
  }
}

bool ShardedRows::overlaps(const void* p, int64_t bytes) const {
  if (p == nullptr || bytes <= 0) return false;
  const uintptr_t lo = reinterpret_cast<uintptr_t>(p), hi = lo + static_cast<uintptr_t>(bytes);
  for (const Shard& s : shards_) {
    if (s.rows <= 0 || s.cols <= 0 || s.data == nullptr) continue;
    const intptr_t first = reinterpret_cast<intptr_t>(s.data);
    const intptr_t last = first + static_cast<intptr_t>((s.rows - 1) * s.row_stride * elem_size_);
    const uintptr_t a = static_cast<uintptr_t>(std::min(first, last));
    const uintptr_t b = static_cast<uintptr_t>(std::max(first, last)) + static_cast<uintptr_t>(s.cols * elem_size_);
    if (a < hi && lo < b) return true;
  }
  return false;
}

}  // namespace pysampled
