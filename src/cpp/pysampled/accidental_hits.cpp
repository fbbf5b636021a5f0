#include "accidental_hits.hpp"

#include <algorithm>
#include <cfloat>
#include <limits>
#include <stdexcept>
#include <unordered_map>
#include <utility>

namespace pysampled {

AccidentalHits compute_accidental_hits(const int64_t* true_classes, int64_t batch, int64_t num_true,
                                       const int64_t* sampled, int64_t num_sampled,
                                       bool all_duplicates) {
  if (batch < 0 || num_true < 0 || num_sampled < 0) {
    throw std::invalid_argument("sizes must be non-negative");
  }
  if (batch > std::numeric_limits<int32_t>::max()) {
    throw std::invalid_argument("batch size exceeds the int32 range of the hit indices");
  }
  AccidentalHits hits;
  const auto emit = [&](int64_t row, int64_t pos) {
    hits.indices.push_back(static_cast<int32_t>(row));
    hits.ids.push_back(pos);
    hits.weights.push_back(-FLT_MAX);
  };
  if (!all_duplicates) {
    std::unordered_map<int64_t, int64_t> position;
    position.reserve(static_cast<size_t>(num_sampled));
    for (int64_t j = 0; j < num_sampled; ++j) position[sampled[j]] = j;  // last occurrence wins
    for (int64_t i = 0; i < batch; ++i) {
      for (int64_t k = 0; k < num_true; ++k) {
        const auto it = position.find(true_classes[i * num_true + k]);
        if (it != position.end()) emit(i, it->second);
      }
    }
    return hits;
  }
  std::vector<std::pair<int64_t, int64_t>> by_value(static_cast<size_t>(num_sampled));
  for (int64_t j = 0; j < num_sampled; ++j) by_value[j] = {sampled[j], j};
  std::sort(by_value.begin(), by_value.end());
  for (int64_t i = 0; i < batch; ++i) {
    for (int64_t k = 0; k < num_true; ++k) {
      const int64_t v = true_classes[i * num_true + k];
      auto it = std::lower_bound(by_value.begin(), by_value.end(),
                                 std::make_pair(v, std::numeric_limits<int64_t>::min()));
      for (; it != by_value.end() && it->first == v; ++it) emit(i, it->second);
    }
  }
  return hits;
}

}  // namespace pysampled
