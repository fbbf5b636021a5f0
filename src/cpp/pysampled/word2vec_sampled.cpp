// The nce / sampled-softmax word2vec trainer (word2vec_sampled.hpp).
#include "word2vec_sampled.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>
#include <vector>

#include "sparse_update.hpp"
#include "word2vec_records.hpp"

namespace pysampled {

namespace {

// A float32 table of `rows` x `cols` (cols == 1: a vector) as ShardedRows.
ShardedRows table(float* data, int64_t rows, int64_t cols) {
  Shard s;
  s.data = data;
  s.rows = rows;
  s.cols = cols;
  s.row_stride = cols;
  s.dtype = DType::kFloat32;
  return ShardedRows({s}, Partition::kMod);
}

void check(const Word2VecSampledModel& m, const Word2VecSampledConfig& c,
           const CandidateStream& negatives) {
  if (m.syn0 == nullptr || m.syn1 == nullptr || m.bias == nullptr || m.accum0 == nullptr ||
      m.accum1 == nullptr || m.accum_bias == nullptr || m.keep_prob == nullptr || m.vocab < 1 ||
      m.stride < 1) {
    throw std::invalid_argument("incomplete word2vec model");
  }
  if (c.kind != LossKind::kNce && c.kind != LossKind::kSoftmax) {
    throw std::invalid_argument("the word2vec trainer's sampled loss must be nce or sampled softmax");
  }
  if (c.window < 1 || c.num_sampled < 1 || c.batch_size < 1) {
    throw std::invalid_argument("invalid word2vec configuration (window, num_sampled, batch_size >= 1)");
  }
  if (negatives.sampler().range() > m.vocab) {
    throw std::invalid_argument("the negatives' sampler draws beyond the vocabulary");
  }
}

// Scratch of one batch, reused from batch to batch.
struct Batch {
  std::vector<float> x, d_inputs, loss, upstream, true_ec, sampled_ec, grad;
  std::vector<int64_t> labels, sampled;
  std::vector<std::pair<int32_t, int64_t>> order;  // (input word, contribution) pairs
};

// Step 1: the batch's input rows (predictions b0..b0+B).
void gather_inputs(const Word2VecSampledModel& m, const Word2VecSampledConfig& c,
                   const Word2VecWindows& w, int64_t b0, int64_t B, float* x) {
  const int64_t D = m.stride;
  for (int64_t b = 0; b < B; ++b) {
    float* xb = x + b * D;
    if (!c.cbow) {
      const float* row = m.syn0 + static_cast<int64_t>(w.inputs[b0 + b]) * D;
      std::copy(row, row + D, xb);
      continue;
    }
    const int64_t lo = w.offsets[b0 + b], hi = w.offsets[b0 + b + 1];
    const float* first = m.syn0 + static_cast<int64_t>(w.inputs[lo]) * D;
    std::copy(first, first + D, xb);
    for (int64_t j = lo + 1; j < hi; ++j) {
      const float* row = m.syn0 + static_cast<int64_t>(w.inputs[j]) * D;
      for (int64_t d = 0; d < D; ++d) xb[d] += row[d];
    }
    if (c.cbow_mean) {
      const float n = static_cast<float>(hi - lo);
      for (int64_t d = 0; d < D; ++d) xb[d] /= n;
    }
  }
}

// Step 4: Adagrad on the input rows, by the gradient `g` ([B, D], the inputs'
// gradient of the batch's mean loss).
void update_inputs(const Word2VecSampledModel& m, const Word2VecSampledConfig& c,
                   const Word2VecWindows& w, int64_t b0, int64_t B, float* g,
                   const SparseUpdate<float>& up, Batch& s) {
  const int64_t D = m.stride;
  s.order.clear();
  if (!c.cbow) {
    for (int64_t b = 0; b < B; ++b) s.order.emplace_back(w.inputs[b0 + b], b);
  } else {
    for (int64_t b = 0; b < B; ++b) {
      const int64_t lo = w.offsets[b0 + b], hi = w.offsets[b0 + b + 1];
      if (c.cbow_mean) {
        const float n = static_cast<float>(hi - lo);
        for (int64_t d = 0; d < D; ++d) g[b * D + d] /= n;
      }
      // Every context word receives the prediction's gradient.
      for (int64_t j = lo; j < hi; ++j) s.order.emplace_back(w.inputs[j], b);
    }
  }
  // By word, then in the order the contributions were listed (batch order;
  // a word twice in one context contributes twice).
  std::stable_sort(s.order.begin(), s.order.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  s.grad.resize(static_cast<size_t>(D));
  float* sum = s.grad.data();
  for (size_t k = 0; k < s.order.size();) {
    const int32_t word = s.order[k].first;
    const float* first = g + s.order[k].second * D;
    std::copy(first, first + D, sum);
    for (++k; k < s.order.size() && s.order[k].first == word; ++k) {
      const float* row = g + s.order[k].second * D;
      for (int64_t d = 0; d < D; ++d) sum[d] += row[d];
    }
    apply_sparse_row<float>(up, word, sum, 0.0f, D, false);
  }
}

}  // namespace

Word2VecStats train_chunk_sampled(const Word2VecSampledModel& m, const Word2VecSampledConfig& c,
                                  const Word2VecChunk& chunk, CandidateStream& negatives,
                                  int num_threads) {
  check(m, c, negatives);
  check_chunk(chunk, m.vocab);
  W2VRecords rec;
  build_records(m.keep_prob, nullptr, 0, c.window, 0, c.shrink_windows, chunk, num_threads, rec);
  Word2VecWindows w;
  windows_from_records(rec, c.cbow, w);

  const int64_t D = m.stride, S = c.num_sampled;
  const int64_t n_pred = static_cast<int64_t>(w.targets.size());
  const ShardedRows out_rows = table(m.syn1, m.vocab, D), out_bias = table(m.bias, m.vocab, 1);
  const ShardedRows out_acc = table(m.accum1, m.vocab, D), bias_acc = table(m.accum_bias, m.vocab, 1);
  const ShardedRows in_rows = table(m.syn0, m.vocab, D), in_acc = table(m.accum0, m.vocab, D);
  SparseUpdate<float> out_update;  // step 3, inside sampled_loss
  out_update.optimizer = Optimizer::kAdagrad;
  out_update.learning_rate = chunk.alpha;
  out_update.epsilon = static_cast<float>(kAdagradEpsilon);
  out_update.weights = &out_rows;
  out_update.biases = &out_bias;
  out_update.weight_accum = &out_acc;
  out_update.bias_accum = &bias_acc;
  SparseUpdate<float> in_update = out_update;  // step 4
  in_update.weights = &in_rows;
  in_update.biases = nullptr;
  in_update.weight_accum = &in_acc;
  in_update.bias_accum = nullptr;

  if (n_pred == 0) {
    Word2VecStats st;
    st.words = chunk.num_tokens;
    st.kept = rec.count;
    return st;
  }
  // The sampler refuses these too, at its first draw; checked here before the
  // buffers for num_sampled draws are allocated.
  if (S > negatives.sampler().range()) throw std::invalid_argument("Sampler's range is too small.");
  const int64_t max_b = std::min(c.batch_size, n_pred);
  Batch s;
  s.x.resize(static_cast<size_t>(max_b * D));
  s.d_inputs.resize(static_cast<size_t>(max_b * D));
  s.loss.resize(static_cast<size_t>(max_b));
  s.upstream.resize(static_cast<size_t>(max_b));
  s.true_ec.resize(static_cast<size_t>(max_b));
  s.labels.resize(static_cast<size_t>(max_b));
  s.sampled.resize(static_cast<size_t>(S));
  s.sampled_ec.resize(static_cast<size_t>(S));

  Word2VecStats st;
  st.words = chunk.num_tokens;
  st.kept = rec.count;
  st.pairs = n_pred;
  for (int64_t b0 = 0, B = 0; b0 < n_pred; b0 += B) {
    B = std::min(c.batch_size, n_pred - b0);
    gather_inputs(m, c, w, b0, B, s.x.data());
    for (int64_t b = 0; b < B; ++b) s.labels[b] = w.targets[b0 + b];
    negatives.sample(s.labels.data(), B, S, true, s.sampled.data(), s.true_ec.data(),
                     s.sampled_ec.data());
    // The batch's mean loss: every prediction weighs 1/B.
    std::fill(s.upstream.begin(), s.upstream.begin() + B, static_cast<float>(1.0 / static_cast<double>(B)));
    SampledLossInput<float> in;
    in.kind = c.kind;
    in.batch = B;
    in.dim = D;
    in.num_true = 1;
    in.num_sampled = S;
    in.inputs = s.x.data();
    in.inputs_stride = D;
    in.labels = s.labels.data();
    in.sampled = s.sampled.data();
    in.true_expected = s.true_ec.data();
    in.sampled_expected = s.sampled_ec.data();
    in.weights = &out_rows;
    in.biases = &out_bias;
    in.subtract_log_q = true;
    in.remove_accidental_hits = c.kind == LossKind::kSoftmax;  // TF's defaults
    in.mask_all_duplicates = false;
    in.true_target = 0.0f;
    in.upstream = s.upstream.data();
    in.want_grads = true;
    in.num_threads = num_threads;
    SampledLossOutput<float> out;
    out.loss = s.loss.data();
    out.d_inputs = s.d_inputs.data();
    sampled_loss<float>(in, out, &out_update);
    for (int64_t b = 0; b < B; ++b) st.loss += static_cast<double>(s.loss[b]);
    update_inputs(m, c, w, b0, B, s.d_inputs.data(), in_update, s);
  }
  return st;
}

}  // namespace pysampled
