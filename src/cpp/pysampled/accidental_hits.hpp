// TF's compute_accidental_hits (SPEC §4): which sampled columns equal one of
// an example's true classes.
#pragma once

#include <cstdint>
#include <vector>

namespace pysampled {

struct AccidentalHits {
  std::vector<int32_t> indices;  // example (row) of each hit
  std::vector<int64_t> ids;      // position in `sampled`
  std::vector<float> weights;    // always -FLT_MAX
};

// For each example i and each of its num_true labels (row-major), emits one
// hit per sampled position holding that label: with `all_duplicates` false
// only the last such position (TF), otherwise every one in increasing order.
AccidentalHits compute_accidental_hits(const int64_t* true_classes, int64_t batch, int64_t num_true,
                                       const int64_t* sampled, int64_t num_sampled,
                                       bool all_duplicates);

}  // namespace pysampled
