// TensorFlow's sampled logits, NCE and sampled-softmax losses with their
// gradients, in one pass over a batch (SPEC §6-§9).
//
// Design: rows of the (possibly sharded, possibly other-dtype) weights and
// biases are gathered once into padded contiguous buffers; three blocked
// GEMMs (logits = X Ws^T, dX = G Ws, dWs = G^T X) and one row pass (bias,
// accidental-hit mask, log-Q, loss and dL/dlogits) do the rest. Phase 1 runs
// over batch-row tiles and phase 2 over sampled-row tiles, each output row
// written by one thread with a fixed summation order, then contributions to
// the same class are summed in (id, source position) order into deduplicated
// sparse rows. Results are therefore bit-identical for any thread count.
// Extra memory: O((B*num_true + S) * D + B * (num_true + S)), kept in a
// per-thread workspace that is reused across calls.
#pragma once

#include <cstdint>
#include <vector>

#include "sharded.hpp"

namespace pysampled {

enum class LossKind : int { kLogits = 0, kNce = 1, kSoftmax = 2 };

template <class T>
struct SampledLossInput {
  LossKind kind = LossKind::kSoftmax;
  int64_t batch = 0, dim = 0, num_true = 1, num_sampled = 0;
  const T* inputs = nullptr;  // [batch, dim], row stride inputs_stride
  int64_t inputs_stride = 0;
  const int64_t* labels = nullptr;      // [batch * num_true], row-major
  const int64_t* sampled = nullptr;     // [num_sampled]
  const T* true_expected = nullptr;     // [batch * num_true], used if subtract_log_q
  const T* sampled_expected = nullptr;  // [num_sampled], used if subtract_log_q
  const ShardedRows* weights = nullptr;
  const ShardedRows* biases = nullptr;  // optional: no bias when null
  bool subtract_log_q = true;
  bool remove_accidental_hits = false;
  bool mask_all_duplicates = false;  // TF masks only the last occurrence of a sampled id
  T nce_true_target = 0;             // target of each true column in NCE; 0 means 1/num_true (TF)
  // Losses: per-example weights [batch] (null: ones). Logits: the cotangent
  // [batch, num_true + num_sampled] (required for gradients).
  const T* upstream = nullptr;
  bool want_grads = false;
  int num_threads = 1;
};

// Output buffers, all provided by the caller. The sparse gradient buffers
// need room for batch * num_true + num_sampled rows (the most distinct
// classes a batch can touch); grad_rows tells how many were used.
template <class T>
struct SampledLossOutput {
  T* loss = nullptr;      // [batch]; losses only
  T* logits = nullptr;    // [batch, num_true + num_sampled]; optional
  T* d_inputs = nullptr;  // [batch, dim]; with want_grads
  int64_t* grad_ids = nullptr;  // sorted unique class ids that received gradient
  T* grad_weights = nullptr;    // [rows, dim]
  T* grad_biases = nullptr;     // [rows]; optional
  int64_t grad_rows = 0;        // set by sampled_loss
};

enum class Optimizer : int { kSgd = 0, kAdagrad = 1 };

// An in-place update of the weights and biases by the batch's gradient.
// The views must be writable arrays of dtype T (checked by the caller).
template <class T>
struct SparseUpdate {
  Optimizer optimizer = Optimizer::kSgd;
  T learning_rate = T(0.1);
  T epsilon = T(1e-7);                     // Adagrad: lr * g / (sqrt(acc) + epsilon)
  const ShardedRows* weights = nullptr;
  const ShardedRows* biases = nullptr;     // optional
  const ShardedRows* weight_accum = nullptr;  // Adagrad accumulators, same layout
  const ShardedRows* bias_accum = nullptr;
  // false: sum each class's contributions first (deterministic); true: every
  // contribution is applied as soon as it is computed, from many threads at
  // once, without locks ("Hogwild"): faster, but racing updates to the same
  // row can be lost and results depend on timing.
  bool hogwild = false;
};

// Computes the loss (and, with in.want_grads, the gradients). With an
// update, the sparse gradient is applied to the weights and biases in
// place (out.grad_* may then be null).
template <class T>
void sampled_loss(const SampledLossInput<T>& in, SampledLossOutput<T>& out,
                  const SparseUpdate<T>* update = nullptr);

extern template void sampled_loss<float>(const SampledLossInput<float>&, SampledLossOutput<float>&,
                                         const SparseUpdate<float>*);
extern template void sampled_loss<double>(const SampledLossInput<double>&, SampledLossOutput<double>&,
                                          const SparseUpdate<double>*);

}  // namespace pysampled
