// Row-wise sampled logits, NCE and sampled softmax: a variable number of
// true labels per example (ragged, tf.RaggedTensor row splits) and either
// one set of sampled candidates shared by the batch or one row of
// candidates per example.
//
// Definition (see pysampled.losses, `label_row_splits=` and per-example
// `sampled_values`): example i owns labels[row_splits[i] : row_splits[i+1]]
// (n_i >= 1 of them) and candidates c_ik (k < S): sampled[k] (shared) or
// sampled[i*S + k] (per example). Its logits are
//   true column t:    (x_i . w_t + b_t) - log(true_expected[t])
//   sampled column k: ((x_i . w_c + b_c) + m_ik) - log(sampled_expected[.])
// with m_ik = -FLT_MAX when remove_accidental_hits and c_ik equals any of
// example i's labels (every such column), else 0; the log terms only with
// subtract_log_q. Targets: 1/n_i on each true column (NCE: true_target
// if > 0), 0 on the sampled ones; softmax cross-entropy or summed sigmoid
// cross-entropy per row, as TF does for a fixed num_true.
//
// Design: phase 1 runs over fixed row tiles: shared candidates are gathered
// once and scored with the blocked GEMM of the loss kernels; per-example
// candidates are gathered row by row (prefetched: the kernel is bound by
// random row reads) into a per-thread buffer and scored with SIMD dots; the
// row kernels give the loss and dL/dlogits, and dX follows in the same tile.
// Phase 2 (shared only) forms dW for the sampled rows with one GEMM per
// sampled tile. Phase 3 sums every contribution to the same class in
// (class id, source position) order into deduplicated sparse rows. Every
// output is produced by one thread with a fixed summation order: results are
// bit-identical for any thread count.
#pragma once

#include <cstdint>

#include "sharded.hpp"

namespace pysampled {

enum class RowLossKind : int { kLogits = 0, kNce = 1, kSoftmax = 2 };

template <class T>
struct RowLossInput {
  RowLossKind kind = RowLossKind::kSoftmax;
  int64_t batch = 0, dim = 0, num_sampled = 0;
  const T* inputs = nullptr;  // [batch, dim], row stride inputs_stride
  int64_t inputs_stride = 0;
  const int64_t* labels = nullptr;      // [row_splits[batch]]
  const int64_t* row_splits = nullptr;  // [batch + 1]: 0 = s_0 <= s_1 <= ... (n_i = s_{i+1} - s_i >= 1)
  const int64_t* sampled = nullptr;     // [num_sampled] shared, or [batch, num_sampled]
  bool per_example = false;
  const T* true_expected = nullptr;     // [row_splits[batch]], used if subtract_log_q
  const T* sampled_expected = nullptr;  // like sampled, used if subtract_log_q
  const ShardedRows* weights = nullptr;
  const ShardedRows* biases = nullptr;  // optional
  bool subtract_log_q = true;
  bool remove_accidental_hits = false;
  T true_target = 0;  // 0: 1/n_i
  // Losses: per-example weights [batch] (null: ones). Logits: the cotangent
  // in the flat logits layout (required for gradients).
  const T* upstream = nullptr;
  bool want_grads = false;
  int num_threads = 1;
};

// Logits are flat: example i's n_i + S values start at row_splits[i] + i * S
// (true columns, then sampled). The sparse gradient buffers need room for
// row_splits[batch] + S (shared) or row_splits[batch] + batch * S rows.
template <class T>
struct RowLossOutput {
  T* loss = nullptr;      // [batch]; losses only
  T* logits = nullptr;    // optional
  T* d_inputs = nullptr;  // [batch, dim]; with want_grads
  int64_t* grad_ids = nullptr;
  T* grad_weights = nullptr;
  T* grad_biases = nullptr;
  int64_t grad_rows = 0;  // set by row_loss
};

template <class T>
void row_loss(const RowLossInput<T>& in, RowLossOutput<T>& out);

extern template void row_loss<float>(const RowLossInput<float>&, RowLossOutput<float>&);
extern template void row_loss<double>(const RowLossInput<double>&, RowLossOutput<double>&);

}  // namespace pysampled
