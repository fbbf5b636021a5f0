// Candidate samplers with TensorFlow's exact semantics (SPEC §3).
//
// Design: a RangeSampler is the distribution (what can be drawn, with which
// float32 probability, and how one draw consumes the word stream). It holds no
// random state. A CandidateStream pairs a sampler with its Philox generator
// and a mutex, and implements one call of TF's candidate-sampler kernel
// (per-call reservation of 512*S blocks, unique rejection loop, expected
// counts, learned updates) plus the bulk path used for per-example negatives.
// Everything here is plain C++17: it validates its own preconditions and
// throws std::invalid_argument / std::out_of_range, never aborts.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "alias_table.hpp"
#include "huge_array.hpp"
#include "kernels/bulk.hpp"
#include "philox.hpp"

namespace pysampled {

class RangeSampler {
 public:
  explicit RangeSampler(int64_t range);
  virtual ~RangeSampler() = default;

  int64_t range() const { return range_; }

  // One draw exactly as TF makes it, consuming words from `rng`.
  virtual int64_t sample(WordStream& rng) const = 0;
  // TF's single-draw probability of `value`, in float32.
  virtual float probability(int64_t value) const = 0;
  // Number of values that can be drawn (nonzero probability).
  virtual int64_t support_size() const { return range_; }

  virtual bool needs_updates() const { return false; }
  // Learns from true classes (all in [0, range)); only learned samplers.
  virtual void update(const int64_t* /*values*/, int64_t /*n*/) {}

  // Bulk path: out[i] is a deterministic function of words[i] (a uniform
  // 64-bit word). Read-only, safe to call from many threads at once.
  virtual void draw_from_words(const uint64_t* words, int64_t n, int64_t* out) const = 0;

  virtual std::unique_ptr<RangeSampler> clone() const = 0;

 protected:
  int64_t range_;
};

class UniformSampler final : public RangeSampler {
 public:
  explicit UniformSampler(int64_t range);
  int64_t sample(WordStream& rng) const override;
  float probability(int64_t value) const override;
  void draw_from_words(const uint64_t* words, int64_t n, int64_t* out) const override;
  std::unique_ptr<RangeSampler> clone() const override;

 private:
  float p_;
};

class LogUniformSampler final : public RangeSampler {
 public:
  explicit LogUniformSampler(int64_t range);
  int64_t sample(WordStream& rng) const override;
  float probability(int64_t value) const override;
  void draw_from_words(const uint64_t* words, int64_t n, int64_t* out) const override;
  std::unique_ptr<RangeSampler> clone() const override;

 private:
  double log_range_;
};

class FixedUnigramSampler final : public RangeSampler {
 public:
  // `weights` are the final per-id weights of this shard (after reserved ids,
  // sharding and distortion); see make_fixed_unigram_weights.
  FixedUnigramSampler(int64_t range, std::vector<float> weights);
  int64_t sample(WordStream& rng) const override;
  float probability(int64_t value) const override;
  int64_t support_size() const override { return support_; }
  void draw_from_words(const uint64_t* words, int64_t n, int64_t* out) const override;
  std::unique_ptr<RangeSampler> clone() const override;

  const std::vector<float>& weights() const { return weights_; }
  float total_weight() const { return total_; }

 private:
  std::vector<float> weights_;
  float total_ = 0.0f;  // float32 accumulation, as TF
  int64_t support_ = 0;
  AliasTable table_;
};

// TF's weight-vector construction for fixed_unigram_candidate_sampler,
// including its reserved-id/shard quirk (SPEC §3.4, §12.15) unless
// `correct_reserved_ids` asks for the corrected numbering.
std::vector<float> make_fixed_unigram_weights(const float* unigrams, int64_t n, float distortion,
                                              int64_t num_reserved_ids, int64_t num_shards,
                                              int64_t shard, bool correct_reserved_ids);

// Integer counts (all starting at 1) in a Fenwick tree; draws the first index
// whose inclusive prefix sum exceeds a uniform integer in [0, total).
class LearnedUnigramSampler final : public RangeSampler {
 public:
  explicit LearnedUnigramSampler(int64_t range);
  int64_t sample(WordStream& rng) const override;
  float probability(int64_t value) const override;
  bool needs_updates() const override { return true; }
  int64_t support_size() const override { return support_; }
  void update(const int64_t* values, int64_t n) override;
  void draw_from_words(const uint64_t* words, int64_t n, int64_t* out) const override;
  std::unique_ptr<RangeSampler> clone() const override;

  int64_t total() const { return total_; }
  int64_t count(int64_t value) const;
  std::vector<int64_t> counts() const;
  void set_counts(const int64_t* counts, int64_t n);

 private:
  int64_t find(uint64_t target) const;  // first index with prefix sum > target
  std::vector<int64_t> tree_;           // 1-based Fenwick tree, tree_[0] unused
  int64_t total_ = 0;
  int64_t support_ = 0;  // classes with a nonzero count
  int64_t top_bit_ = 1;
};

// TF's expected-count rule (SPEC §3.1), in single precision.
float expected_count(float p, int64_t num_sampled, int64_t num_tries);

struct GeneratorState {
  uint32_t key[2];
  uint32_t counter[4];
};

// A sampler with its own random stream. Every method takes the stream's
// mutex, so one CandidateStream may be shared by many threads; calls are
// then serialised (each one sees a consistent state).
class CandidateStream {
 public:
  // seed == seed2 == 0 draws fresh OS-random seeds, as TF's kernels do.
  CandidateStream(std::unique_ptr<RangeSampler> sampler, uint64_t seed, uint64_t seed2);
  CandidateStream(std::unique_ptr<RangeSampler> sampler, const Philox4x32& gen);

  // The distribution. Its mutable part (learned counts) must only be touched
  // through the locked methods below.
  const RangeSampler& sampler() const { return *sampler_; }

  // One call of TF's candidate-sampler kernel. true_classes holds
  // batch*num_true ids (row-major); outputs: sampled[S], true_ec[batch*num_true],
  // sampled_ec[S]. Returns the number of draws made.
  int64_t sample(const int64_t* true_classes, int64_t num_true_total, int64_t num_sampled,
                 bool unique, int64_t* sampled, float* true_ec, float* sampled_ec);

  // n independent draws (not TF's stream): draw i is made from the 64-bit
  // word pair i%2 of block (counter + i/2); the generator then advances by
  // ceil(n/2) blocks. Identical output for any thread count and ISA level.
  void sample_bulk(int64_t n, int64_t* out, int num_threads);

  // TF's single-draw probabilities of `values` (0 outside the range).
  void probabilities(const int64_t* values, int64_t n, float* out);

  // Learned samplers: count the given true classes (validated); no-op otherwise.
  void update(const int64_t* values, int64_t n);
  std::vector<int64_t> learned_counts();
  void set_learned_counts(const int64_t* counts, int64_t n);

  GeneratorState state();
  void set_state(const GeneratorState& s);
  std::unique_ptr<CandidateStream> clone();

 private:
  LearnedUnigramSampler& learned();
  std::unique_ptr<RangeSampler> sampler_;
  Philox4x32 gen_;
  std::mutex mu_;
};

void check_true_classes(const int64_t* values, int64_t n, int64_t range);

}  // namespace pysampled
