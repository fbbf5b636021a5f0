// Walker alias table over float weights, built exactly as TF builds it
// (SPEC §3.4), stored as packed 64-bit columns (probability threshold and
// alias index) so that one draw reads one word.
#pragma once

#include <cstdint>
#include <vector>

#include "huge_array.hpp"
#include "philox.hpp"

namespace pysampled {

// Walker alias table over float weights, built exactly as TF builds it.
class AliasTable {
 public:
  AliasTable() = default;
  explicit AliasTable(const std::vector<float>& weights);
  int32_t size() const { return static_cast<int32_t>(columns_.size()); }
  int32_t draw(WordStream& rng) const;  // TF: RandFloat, then Uniform(n)
  const uint64_t* columns() const { return columns_.data(); }

 private:
  HugeArray<uint64_t> columns_;  // pack_alias(prob, alias)
};

}  // namespace pysampled
