// The streaming item-frequency estimator of Yi et al. 2019 ("Sampling-bias-
// corrected neural modeling for large corpus item recommendations", Alg. 1),
// used to estimate the log sampling probability (log-Q) of items that appear
// in a stream of training batches.
//
// State (owned by the caller, so it can be pickled and saved as plain arrays):
// for each hash function h and bucket b,
//   last[h, b]  : the step at which the bucket was last seen (-1: never),
//   acc[h, b]   : exponential moving average of the gaps between sightings,
//                 started at 0,
//   count[h, b] : how many gaps were folded into acc.
// update(ids, step): for every id in order and every h, with b = bucket_h(id):
//   if last >= 0: acc <- (1 - alpha) * acc + alpha * (step - last); count += 1
//   last <- step
// (an id seen k times in one step folds one gap and k - 1 zero gaps, so the
// average gap tends to 1 / (expected occurrences per step)).
// estimate: gap_h = acc / (1 - (1 - alpha)^count) (the moving average with its
// zero start divided out, as Adam corrects its moments); buckets with count 0
// or acc 0 (all sightings in one step) have no estimate. The id's gap is the
// largest gap over its hashes with an estimate (collisions only shrink gaps),
// or `default_gap` if none has one; log_q = -log(gap).
#pragma once

#include <cstdint>

namespace pysampled {

struct FrequencyTables {
  int64_t num_buckets = 0;
  int64_t num_hashes = 0;
  uint64_t seed = 0;
  double alpha = 0.01;
  int64_t* last = nullptr;   // [num_hashes * num_buckets]
  double* acc = nullptr;     // [num_hashes * num_buckets]
  int64_t* count = nullptr;  // [num_hashes * num_buckets]
};

// bucket_h(id) = mix64(uint64(id) ^ mix64(seed + (h + 1) * 0x9E3779B97F4A7C15)) mod num_buckets,
// with mix64 the splitmix64 finaliser.
int64_t frequency_bucket(uint64_t seed, int64_t hash, int64_t num_buckets, int64_t id);

void frequency_update(const FrequencyTables& t, const int64_t* ids, int64_t n, int64_t step);

void frequency_log_q(const FrequencyTables& t, const int64_t* ids, int64_t n, double default_gap,
                     double* out, int num_threads);

}  // namespace pysampled
