// Implementation of the TF-exact samplers and the deterministic bulk path.
#include "samplers.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>

#include "kernels/bulk.hpp"
#include "parallel.hpp"

namespace pysampled {

namespace {

inline uint64_t mulhi64(uint64_t a, uint64_t b) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(a) * b) >> 64);
}

uint64_t os_random64() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

// Open-addressing set of non-negative int64 values, for unique sampling.
class IdSet {
 public:
  explicit IdSet(int64_t expected) {
    uint64_t cap = 16;
    while (cap < static_cast<uint64_t>(expected) * 2) cap <<= 1;
    slots_.assign(cap, -1);
    mask_ = cap - 1;
  }
  // Returns true if v was not present (and inserts it).
  bool insert(int64_t v) {
    uint64_t h = static_cast<uint64_t>(v) * 0x9E3779B97F4A7C15ull;
    h ^= h >> 29;
    for (uint64_t i = h & mask_;; i = (i + 1) & mask_) {
      if (slots_[i] == v) return false;
      if (slots_[i] < 0) {
        slots_[i] = v;
        return true;
      }
    }
  }

 private:
  std::vector<int64_t> slots_;
  uint64_t mask_;
};

}  // namespace

// ------------------------------------------------------------------- samplers

RangeSampler::RangeSampler(int64_t range) : range_(range) {
  if (range < 1) throw std::invalid_argument("range_max must be at least 1, got " + std::to_string(range));
}

void check_true_classes(const int64_t* values, int64_t n, int64_t range) {
  for (int64_t i = 0; i < n; ++i) {
    const int64_t v = values[i];
    if (v < 0 || v >= range) {
      throw std::out_of_range("`true_candidate` out of range [0, " + std::to_string(range) +
                              "), received " + std::to_string(v));
    }
  }
}

UniformSampler::UniformSampler(int64_t range)
    : RangeSampler(range), p_(static_cast<float>(1.0 / static_cast<double>(range))) {}

int64_t UniformSampler::sample(WordStream& rng) const {
  return static_cast<int64_t>(rng.uniform64(static_cast<uint64_t>(range_)));
}

float UniformSampler::probability(int64_t value) const {
  return value >= 0 && value < range_ ? p_ : 0.0f;
}

void UniformSampler::draw_from_words(const uint64_t* words, int64_t n, int64_t* out) const {
  bulk_kernels().uniform(words, n, static_cast<uint64_t>(range_), out);
}

std::unique_ptr<RangeSampler> UniformSampler::clone() const {
  return std::make_unique<UniformSampler>(*this);
}

LogUniformSampler::LogUniformSampler(int64_t range)
    : RangeSampler(range), log_range_(std::log1p(static_cast<double>(range))) {}

int64_t LogUniformSampler::sample(WordStream& rng) const {
  const int64_t v = static_cast<int64_t>(std::exp(rng.rand_double() * log_range_)) - 1;
  return v < range_ ? v : v % range_;  // TF's "mod range" safety net, without a division
}

float LogUniformSampler::probability(int64_t value) const {
  if (value < 0 || value >= range_) return 0.0f;
  const double k = static_cast<double>(value);
  return static_cast<float>(std::log((k + 2.0) / (k + 1.0)) / log_range_);
}

void LogUniformSampler::draw_from_words(const uint64_t* words, int64_t n, int64_t* out) const {
  bulk_kernels().log_uniform(words, n, log_range_, range_, out);
}

std::unique_ptr<RangeSampler> LogUniformSampler::clone() const {
  return std::make_unique<LogUniformSampler>(*this);
}


namespace {

// float(pow(double(u), double(d))): what TF stores (C++ std::pow(float, float)
// computes in double). For word2vec's d = 3/4 (and d = 1/2) a cheaper value
// x^(1/2) * x^(1/4) from correctly rounded square roots is within 4 double
// ulps of the exact power, and glibc's pow within 1; when that value is
// further than 2^-48 (relative) from the midpoint between two floats, both
// round to the same float, so the result is std::pow's bit for bit. Otherwise
// (about one entry in 2^23) and for every other exponent, std::pow decides.
float distort(float u, float d) {
  const double x = static_cast<double>(u);
  if ((d == 0.75f || d == 0.5f) && u > 0.0f && u <= std::numeric_limits<float>::max()) {
    const double s = std::sqrt(x);
    const double a = d == 0.5f ? s : s * std::sqrt(s);
    const float f = static_cast<float>(a);  // normal: u^d of a positive float is in
    uint32_t fb;                            // [2^-112, 2^96], so f +- 1 ulp are floats
    std::memcpy(&fb, &f, sizeof fb);
    const uint32_t lo_b = fb - 1, hi_b = fb + 1;
    float lo, hi;
    std::memcpy(&lo, &lo_b, sizeof lo);
    std::memcpy(&hi, &hi_b, sizeof hi);
    const double mid_lo = 0.5 * (static_cast<double>(lo) + static_cast<double>(f));  // exact
    const double mid_hi = 0.5 * (static_cast<double>(f) + static_cast<double>(hi));
    const double margin = a * 0x1p-48;
    if (a - mid_lo > margin && mid_hi - a > margin) return f;
  }
  return static_cast<float>(std::pow(x, static_cast<double>(d)));
}

}  // namespace

std::vector<float> make_fixed_unigram_weights(const float* unigrams, int64_t n, float distortion,
                                              int64_t num_reserved_ids, int64_t num_shards,
                                              int64_t shard, bool correct_reserved_ids) {
  if (num_shards < 1) throw std::invalid_argument("num_shards must be at least 1");
  if (shard < 0 || shard >= num_shards) {
    throw std::invalid_argument("shard must be in [0, num_shards)");
  }
  if (num_reserved_ids < 0) throw std::invalid_argument("num_reserved_ids must be >= 0");
  std::vector<float> w;
  // Reserved ids shard, shard + P, ... below num_reserved_ids, counted (not looped over).
  if (num_reserved_ids > shard) {
    w.assign(static_cast<size_t>((num_reserved_ids - shard - 1) / num_shards + 1), 0.0f);
  }
  // TF numbers the unigrams from len(weights) (the reserved ids kept by this
  // shard), not from num_reserved_ids.
  const int64_t id0 = correct_reserved_ids ? num_reserved_ids : static_cast<int64_t>(w.size());
  // Unigram k has id id0 + k; this shard keeps those with id % num_shards == shard
  // (stepped over, not tested one by one: a 64-bit modulo per entry is slow).
  const int64_t first = ((shard - id0 % num_shards) % num_shards + num_shards) % num_shards;
  const size_t base = w.size();
  const int64_t kept = first < n ? (n - first - 1) / num_shards + 1 : 0;
  w.resize(base + static_cast<size_t>(kept));
  if (kept == 0) return w;
  float* out = w.data() + base;
  const float* src = unigrams + first;
  if (distortion == 1.0f) {
    // pow(u, 1) == u exactly (NaN included).
    for (int64_t j = 0; j < kept; ++j) out[j] = src[j * num_shards];
  } else if (distortion == 0.0f) {
    for (int64_t j = 0; j < kept; ++j) out[j] = 1.0f;  // pow(u, 0) == 1, even for NaN
  } else {
    for (int64_t j = 0; j < kept; ++j) out[j] = distort(src[j * num_shards], distortion);
  }
  return w;
}

FixedUnigramSampler::FixedUnigramSampler(int64_t range, std::vector<float> weights)
    : RangeSampler(range), weights_(std::move(weights)) {
  if (static_cast<int64_t>(weights_.size()) != range) {
    throw std::invalid_argument("range is " + std::to_string(range) +
                                " must be equal to weights size  " +
                                std::to_string(weights_.size()));
  }
  bool valid = true;
  int64_t support = 0;
  for (const float w : weights_) {  // vectorises: no early exit
    valid &= (w >= 0.0f) & (w <= std::numeric_limits<float>::max());
    support += (w > 0.0f) ? 1 : 0;
  }
  if (!valid) throw std::invalid_argument("unigram weights must be finite and non-negative");
  support_ = support;
  float total = 0.0f;  // a local: a float member could alias the weights and stay in memory
  for (const float w : weights_) total += w;  // in order, as TF
  total_ = total;
  if (support_ == 0) throw std::invalid_argument("unigram weights sum to zero: nothing can be sampled");
  // TF accepts a float32 total that overflows to inf and then reports every
  // probability as 0 (log-Q subtraction turns that into -inf logits).
  if (!(total <= std::numeric_limits<float>::max())) {
    throw std::invalid_argument(
        "unigram weights sum to more than the largest float32 (3.4e38): every probability "
        "would be 0; scale the counts down");
  }
  table_ = AliasTable(weights_);
}

int64_t FixedUnigramSampler::sample(WordStream& rng) const { return table_.draw(rng); }

float FixedUnigramSampler::probability(int64_t value) const {
  if (value < 0 || value >= static_cast<int64_t>(weights_.size())) return 0.0f;
  return weights_[value] / total_;
}

void FixedUnigramSampler::draw_from_words(const uint64_t* words, int64_t n, int64_t* out) const {
  bulk_kernels().alias(words, n, table_.columns(), static_cast<uint32_t>(table_.size()), out);
}

std::unique_ptr<RangeSampler> FixedUnigramSampler::clone() const {
  return std::make_unique<FixedUnigramSampler>(*this);
}

LearnedUnigramSampler::LearnedUnigramSampler(int64_t range) : RangeSampler(range) {
  // One 64-bit count per class: a range beyond what can be allocated is a
  // MemoryError, not a length error.
  if (static_cast<uint64_t>(range) >= tree_.max_size()) throw std::bad_alloc();
  tree_.assign(static_cast<size_t>(range) + 1, 0);
  for (int64_t i = 1; i <= range; ++i) {  // all counts 1: node i covers lowbit(i) ones
    tree_[i] = i & (-i);
  }
  total_ = range;
  support_ = range;
  while (top_bit_ * 2 <= range) top_bit_ *= 2;
}

int64_t LearnedUnigramSampler::find(uint64_t target) const {
  int64_t pos = 0;
  uint64_t t = target;
  for (int64_t step = top_bit_; step > 0; step >>= 1) {
    const int64_t next = pos + step;
    if (next <= range_ && static_cast<uint64_t>(tree_[next]) <= t) {
      pos = next;
      t -= static_cast<uint64_t>(tree_[next]);
    }
  }
  return pos;  // 0-based index of the first element with prefix sum > target
}

int64_t LearnedUnigramSampler::sample(WordStream& rng) const {
  const uint64_t total = static_cast<uint64_t>(total_);
  const uint64_t t = total <= UINT32_MAX ? rng.uniform32(static_cast<uint32_t>(total))
                                         : rng.uniform64(total);
  return find(t);
}

int64_t LearnedUnigramSampler::count(int64_t value) const {
  // prefix(value + 1) - prefix(value), walking the tree.
  int64_t c = tree_[value + 1];
  const int64_t stop = (value + 1) - ((value + 1) & -(value + 1));
  for (int64_t i = value; i > stop; i -= i & (-i)) c -= tree_[i];
  return c;
}

float LearnedUnigramSampler::probability(int64_t value) const {
  if (value < 0 || value >= range_) return 0.0f;
  return static_cast<float>(count(value)) / static_cast<float>(total_);
}

void LearnedUnigramSampler::update(const int64_t* values, int64_t n) {
  for (int64_t k = 0; k < n; ++k) {
    if (total_ == std::numeric_limits<int64_t>::max()) return;  // saturated
    if (support_ < range_ && count(values[k]) == 0) ++support_;
    for (int64_t i = values[k] + 1; i <= range_; i += i & (-i)) tree_[i] += 1;
    ++total_;
  }
}

void LearnedUnigramSampler::draw_from_words(const uint64_t* words, int64_t n, int64_t* out) const {
  const uint64_t total = static_cast<uint64_t>(total_);
  for (int64_t i = 0; i < n; ++i) out[i] = find(mulhi64(words[i], total));
}

std::vector<int64_t> LearnedUnigramSampler::counts() const {
  // Undo the O(n) Fenwick build (see set_counts) in reverse order.
  std::vector<int64_t> t(tree_);
  for (int64_t i = range_; i >= 1; --i) {
    const int64_t parent = i + (i & -i);
    if (parent <= range_) t[parent] -= t[i];
  }
  return std::vector<int64_t>(t.begin() + 1, t.end());
}

void LearnedUnigramSampler::set_counts(const int64_t* counts, int64_t n) {
  if (n != range_) throw std::invalid_argument("counts must have range_max entries");
  int64_t total = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (counts[i] < 0) throw std::invalid_argument("counts must be non-negative");
    if (counts[i] > std::numeric_limits<int64_t>::max() - total) {
      throw std::invalid_argument("counts overflow int64");
    }
    total += counts[i];
  }
  if (total == 0) throw std::invalid_argument("counts sum to zero");
  int64_t support = 0;
  for (int64_t i = 0; i < n; ++i) support += counts[i] > 0 ? 1 : 0;
  support_ = support;
  for (int64_t i = 1; i <= range_; ++i) tree_[i] = counts[i - 1];
  for (int64_t i = 1; i <= range_; ++i) {  // O(n) Fenwick build
    const int64_t parent = i + (i & -i);
    if (parent <= range_) tree_[parent] += tree_[i];
  }
  total_ = total;
}

std::unique_ptr<RangeSampler> LearnedUnigramSampler::clone() const {
  return std::make_unique<LearnedUnigramSampler>(*this);
}

// ------------------------------------------------------------ candidate stream

float expected_count(float p, int64_t num_sampled, int64_t num_tries) {
  if (num_tries == num_sampled) return p * static_cast<float>(num_sampled);
  return -expm1f(static_cast<float>(num_tries) * log1pf(-p));
}

CandidateStream::CandidateStream(std::unique_ptr<RangeSampler> sampler, uint64_t seed, uint64_t seed2)
    : sampler_(std::move(sampler)) {
  if (!sampler_) throw std::invalid_argument("sampler must not be null");
  if (seed == 0 && seed2 == 0) {
    seed = os_random64();
    seed2 = os_random64();
  }
  gen_ = Philox4x32(seed, seed2);
}

CandidateStream::CandidateStream(std::unique_ptr<RangeSampler> sampler, const Philox4x32& gen)
    : sampler_(std::move(sampler)), gen_(gen) {
  if (!sampler_) throw std::invalid_argument("sampler must not be null");
}

int64_t CandidateStream::sample(const int64_t* true_classes, int64_t num_true_total,
                                int64_t num_sampled, bool unique, int64_t* sampled, float* true_ec,
                                float* sampled_ec) {
  const RangeSampler& s = *sampler_;
  if (num_sampled < 1) {
    throw std::invalid_argument("Value for attr 'num_sampled' of " + std::to_string(num_sampled) +
                                " must be at least minimum 1");
  }
  if (unique && num_sampled > s.range()) throw std::invalid_argument("Sampler's range is too small.");
  if (unique && num_sampled > s.support_size()) {
    throw std::invalid_argument(
        "num_sampled (" + std::to_string(num_sampled) + ") exceeds the number of values the sampler "
        "can draw (" + std::to_string(s.support_size()) + " with nonzero probability); unique=True "
        "would never finish");
  }
  check_true_classes(true_classes, num_true_total, s.range());

  std::lock_guard<std::mutex> lock(mu_);
  Philox4x32 local = gen_;
  gen_.skip(512 * static_cast<uint64_t>(num_sampled));  // TF reserves 2048*S words
  WordStream rng(local);
  int64_t num_tries = 0;
  if (!unique) {
    for (int64_t i = 0; i < num_sampled; ++i) sampled[i] = s.sample(rng);
    num_tries = num_sampled;
  } else {
    IdSet seen(num_sampled);
    constexpr int64_t kMaxTries = std::numeric_limits<int32_t>::max();  // TF's limit
    int64_t kept = 0;
    int64_t next_check = int64_t{1} << 20;
    while (kept < num_sampled) {
      if (num_tries >= next_check) {
        // Every time the draws double past 2^20: if the values not drawn yet
        // are so unlikely that even the expected number of draws needed
        // overshoots TF's limit, say so now instead of after 2^31 draws.
        double left = 1.0;
        for (int64_t i = 0; i < kept; ++i) left -= static_cast<double>(s.probability(sampled[i]));
        const double needed = static_cast<double>(num_sampled - kept) / std::max(left, 1e-300);
        if (num_tries + needed > static_cast<double>(kMaxTries)) {
          throw std::invalid_argument(
              "unique sampling cannot find " + std::to_string(num_sampled) + " distinct values: "
              "after " + std::to_string(num_tries) + " draws " + std::to_string(kept) +
              " were found and the rest have total probability " + std::to_string(left) +
              ", so about " + std::to_string(needed) + " more draws would be needed "
              "(TF gives up after 2^31-1)");
        }
        next_check *= 2;
      }
      if (num_tries >= kMaxTries) {
        throw std::invalid_argument("unique sampling made 2^31-1 draws without finding " +
                                    std::to_string(num_sampled) + " distinct values");
      }
      const int64_t v = s.sample(rng);
      ++num_tries;
      if (seen.insert(v)) sampled[kept++] = v;
    }
  }
  for (int64_t i = 0; i < num_sampled; ++i) {
    sampled_ec[i] = expected_count(s.probability(sampled[i]), num_sampled, num_tries);
  }
  for (int64_t i = 0; i < num_true_total; ++i) {
    true_ec[i] = expected_count(s.probability(true_classes[i]), num_sampled, num_tries);
  }
  if (s.needs_updates()) sampler_->update(true_classes, num_true_total);
  return num_tries;
}

void CandidateStream::sample_bulk(int64_t n, int64_t* out, int num_threads) {
  if (n < 0) throw std::invalid_argument("the number of draws must be non-negative");
  std::lock_guard<std::mutex> lock(mu_);
  if (n == 0) return;
  const Philox4x32 local = gen_;
  gen_.skip((static_cast<uint64_t>(n) + 1) / 2);
  constexpr int64_t kChunk = 1 << 14;  // draws per task; fixed, so results do not depend on threads
  const int64_t nchunks = (n + kChunk - 1) / kChunk;
  const RangeSampler& s = *sampler_;
  const BulkKernels& k = bulk_kernels();
  parallel_for(nchunks, num_threads, [&](int64_t c) {
    constexpr int64_t kInner = 512;  // even, so every sub-chunk starts on a block boundary
    uint64_t words[kInner + 1];
    const int64_t begin = c * kChunk;
    const int64_t end = std::min(n, begin + kChunk);
    for (int64_t i = begin; i < end; i += kInner) {
      const int64_t m = std::min(kInner, end - i);
      k.philox_words(local.key, local.counter, static_cast<uint64_t>(i / 2), (m + 1) / 2, words);
      s.draw_from_words(words, m, out + i);
    }
  });
}

void CandidateStream::probabilities(const int64_t* values, int64_t n, float* out) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int64_t i = 0; i < n; ++i) out[i] = sampler_->probability(values[i]);
}

LearnedUnigramSampler& CandidateStream::learned() {
  auto* l = dynamic_cast<LearnedUnigramSampler*>(sampler_.get());
  if (l == nullptr) throw std::invalid_argument("only learned-unigram samplers have counts");
  return *l;
}

void CandidateStream::update(const int64_t* values, int64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  check_true_classes(values, n, sampler_->range());
  if (sampler_->needs_updates()) sampler_->update(values, n);
}

std::vector<int64_t> CandidateStream::learned_counts() {
  std::lock_guard<std::mutex> lock(mu_);
  return learned().counts();
}

void CandidateStream::set_learned_counts(const int64_t* counts, int64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  learned().set_counts(counts, n);
}

GeneratorState CandidateStream::state() {
  std::lock_guard<std::mutex> lock(mu_);
  GeneratorState s;
  std::memcpy(s.key, gen_.key, sizeof s.key);
  std::memcpy(s.counter, gen_.counter, sizeof s.counter);
  return s;
}

void CandidateStream::set_state(const GeneratorState& s) {
  std::lock_guard<std::mutex> lock(mu_);
  std::memcpy(gen_.key, s.key, sizeof s.key);
  std::memcpy(gen_.counter, s.counter, sizeof s.counter);
}

std::unique_ptr<CandidateStream> CandidateStream::clone() {
  std::lock_guard<std::mutex> lock(mu_);
  return std::make_unique<CandidateStream>(sampler_->clone(), gen_);
}

}  // namespace pysampled
