// TensorFlow's sampled logits, NCE and sampled-softmax losses with their
// gradients, in one pass over a batch (SPEC §6-§9).
//
// Design: named phases (sampled_loss.cpp), each a parallel loop over fixed
// chunks: gather (rows of the possibly sharded weights and biases, of any
// storage dtype - float32, float64, bfloat16 - widened to T into padded
// contiguous buffers; one task meanwhile builds the accidental-hit lists),
// pack (panels of the sampled rows for the logits GEMM, and column panels of
// them for the input gradients), then per batch-row tile the logits and
// loss (logits = X Ws^T, bias, mask, log-Q, loss and dL/dlogits in one row
// pass) followed by the input gradients (dX = G Ws), then the weight
// gradients over sampled-row tiles (dWs = G^T X), and last the reduction
// (its order sorted by one task of the tile loop):
// contributions to the same class summed in (id, source position) order into
// deduplicated sparse rows, optionally applied at once by the sparse row
// update (sparse_update.hpp). Each output row is written by one chunk with a
// fixed summation order, so results are bit-identical for any thread count.
// Extra memory: O((B*num_true + S) * D + B * (num_true + S)), kept in a
// per-thread workspace that is reused across calls.
#pragma once

#include <cstdint>
#include <vector>

#include "sharded.hpp"
#include "sparse_update.hpp"

namespace pysampled {

enum class LossKind : int { kLogits = 0, kNce = 1, kSoftmax = 2 };

template <class T>
struct SampledLossInput {
  LossKind kind = LossKind::kSoftmax;
  int64_t batch = 0, dim = 0, num_true = 1, num_sampled = 0;
  const T* inputs = nullptr;  // [batch, dim], row stride inputs_stride
  int64_t inputs_stride = 0;
  // T = float: bfloat16 inputs (their bits, row stride inputs_stride) in
  // place of `inputs`, widened to float32 (exactly) while they are gathered.
  const uint16_t* inputs_bf16 = nullptr;
  const int64_t* labels = nullptr;      // [batch * num_true], row-major
  const int64_t* sampled = nullptr;     // [num_sampled]
  const T* true_expected = nullptr;     // [batch * num_true], used if subtract_log_q
  const T* sampled_expected = nullptr;  // [num_sampled], used if subtract_log_q
  const ShardedRows* weights = nullptr;
  const ShardedRows* biases = nullptr;  // optional: no bias when null
  bool subtract_log_q = true;
  bool remove_accidental_hits = false;
  bool mask_all_duplicates = false;  // TF masks only the last occurrence of a sampled id
  T true_target = 0;             // target of each true column in NCE; 0 means 1/num_true (TF)
  // Losses: per-example weights [batch] (null: ones). Logits: the cotangent
  // [batch, num_true + num_sampled] (required for gradients).
  const T* upstream = nullptr;
  bool want_grads = false;
  // float32 computing only: the sampled columns of dLoss/dlogits are rounded
  // to bfloat16 (bf16_grad_bits, kernels/loss_bf16.hpp) before both gradient
  // products and the bias gradient read them. With bfloat16 weights and
  // inputs on a CPU with AMX-BF16 the products then run on AMX tiles
  // (bfloat16 operands, float32 accumulation); elsewhere the float32 kernels
  // read the rounded values, so every machine computes the same sums.
  bool bf16_grads = false;
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
  // T = float: dX as bfloat16 bits instead (in place of d_inputs), each row
  // narrowed to nearest even (the bits of ml_dtypes' cast) by the task that
  // finished it.
  uint16_t* d_inputs16 = nullptr;
  int64_t* grad_ids = nullptr;  // sorted unique class ids that received gradient
  T* grad_weights = nullptr;    // [rows, dim]
  T* grad_biases = nullptr;     // [rows]; optional
  // T = float: the gradient rows as bfloat16 bits instead (in place of
  // grad_weights / grad_biases, for bfloat16 parameters): each float32 sum
  // rounded to nearest even, the bits of ml_dtypes' cast (kernels/convert.hpp),
  // narrowed while the row is in cache rather than in a pass of its own.
  uint16_t* grad_weights16 = nullptr;
  uint16_t* grad_biases16 = nullptr;
  int64_t grad_rows = 0;        // set by sampled_loss
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
