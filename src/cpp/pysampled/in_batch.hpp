// In-batch (and mixed) softmax for two-tower retrieval models, with the
// sampling-bias correction of Yi et al. 2019 and the extra shared negatives
// of Yang et al. 2020.
//
// Definition (see pysampled.retrieval.in_batch_softmax_loss): with query
// rows q_i [B, D], candidate rows c_j [B, D] (row i is example i's positive)
// and extra negatives e_k [S, D], example i's logits are
//   l_ij     = ((q_i . c_j) / temperature + m_ij) - log_q[j]      (j < B)
//   l_i(B+k) = ((q_i . e_k) / temperature + m_ik) - extra_log_q[k]
// where the mask m is -FLT_MAX for an accidental hit (a column j != i with
// candidate_ids[j] == candidate_ids[i], an extra column with
// extra_ids[k] == candidate_ids[i]) and 0 otherwise, and
//   loss_i = logsumexp(l_i) - l_ii.
// Gradients are those of sum_i upstream_i * loss_i, dense.
//
// Design: query and candidate rows are copied once into zero-padded buffers
// (O((2B + S) D)); one blocked GEMM gives the [B, B + S] logits, a row pass
// does the scaling, log-Q, mask and softmax, and two more GEMMs give
// dQ = G C' / t and dC' = G^T Q / t. Every output element is computed by one
// thread with a fixed summation order whatever the tiling, so results are
// bit-identical for any thread count. Memory: B (B + S) elements of logits.
#pragma once

#include <cstdint>

namespace pysampled {

template <class T>
struct InBatchInput {
  int64_t batch = 0, dim = 0, num_extra = 0;
  const T* query = nullptr;       // [batch, dim], row stride query_stride (elements)
  int64_t query_stride = 0;
  const T* candidates = nullptr;  // [batch, dim]
  int64_t candidates_stride = 0;
  const T* extra = nullptr;       // [num_extra, dim]
  int64_t extra_stride = 0;
  const T* log_q = nullptr;        // [batch] or null (0)
  const T* extra_log_q = nullptr;  // [num_extra] or null (0)
  const int64_t* candidate_ids = nullptr;  // [batch] or null: no masking
  const int64_t* extra_ids = nullptr;      // [num_extra] or null: extra columns never masked
  bool remove_accidental_hits = true;
  T temperature = T(1);
  const T* upstream = nullptr;  // [batch] or null (ones)
  bool want_grads = false;
  int num_threads = 1;
};

template <class T>
struct InBatchOutput {
  T* loss = nullptr;          // [batch]
  T* logits = nullptr;        // [batch, batch + num_extra]; optional
  T* d_query = nullptr;       // [batch, dim]; with want_grads
  T* d_candidates = nullptr;  // [batch, dim]
  T* d_extra = nullptr;       // [num_extra, dim]
};

template <class T>
void in_batch_softmax(const InBatchInput<T>& in, InBatchOutput<T>& out);

extern template void in_batch_softmax<float>(const InBatchInput<float>&, InBatchOutput<float>&);
extern template void in_batch_softmax<double>(const InBatchInput<double>&, InBatchOutput<double>&);

}  // namespace pysampled
