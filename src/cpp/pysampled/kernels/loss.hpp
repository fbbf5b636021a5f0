// Compute kernels of the sampled losses, one table per ISA level and dtype.
//
// Design: the orchestration (gathering rows, masks, parallel loops, sparse
// gradient reduction) lives in sampled_loss.cpp and calls these kernels on
// blocks small enough for the caches. Every kernel computes each output
// element with the same sequence of operations whatever the blocking, so
// results do not depend on the thread count. Different SIMD levels sum in
// different lane groupings (and only AVX2/AVX-512 fuse multiply-adds), so
// they agree to rounding, not bit for bit.
#pragma once

#include <cstdint>

#include "../isa.hpp"

namespace pysampled {

template <class T>
struct LossKernels {
  int lanes;         // SIMD lanes of T
  int panel_width;   // columns of one GEMM panel (a multiple of lanes)

  // C[m, n] = A B (accumulate=false) or C += A B, where
  //   A(r, kk) = A[r * rsa + kk * csa]
  //   B(kk, c) = B[(c / panel_width) * panel_stride + kk * ldb + c % panel_width].
  // B must be readable up to the next multiple of `lanes` columns (callers
  // pad with zeros); only the n valid columns of C are written.
  void (*gemm)(int64_t m, int64_t n, int64_t k, const T* A, int64_t rsa, int64_t csa, const T* B,
               int64_t ldb, int64_t panel_stride, T* C, int64_t ldc, bool accumulate);

  T (*dot)(const T* x, const T* y, int64_t n);
  void (*axpy)(T a, const T* x, T* y, int64_t n);  // y += a x
  // row[j] = (src[j] + bias[j]) - log_q[j] (log_q may be null: src[j] +
  // bias[j]); src may be row itself.
  void (*add_bias_sub_logq)(T* row, const T* src, const T* bias, const T* log_q, int64_t n);

  // Softmax cross-entropy of one row of logits (first num_true columns are
  // the true classes, each with target 1/num_true). Returns the loss and
  // overwrites the row with upstream * (softmax - target).
  T (*softmax_row)(T* row, int64_t n, int64_t num_true, T upstream);

  // Sigmoid cross-entropy summed over one row: targets true_target for the
  // first num_true columns, 0 after. Returns the loss and overwrites the row
  // with upstream * (sigmoid - target).
  T (*nce_row)(T* row, int64_t n, int64_t num_true, T true_target, T upstream);
};

namespace isa_generic {
extern const LossKernels<float> kLossF32;
extern const LossKernels<double> kLossF64;
}  // namespace isa_generic
namespace isa_avx2 {
extern const LossKernels<float> kLossF32;
extern const LossKernels<double> kLossF64;
}  // namespace isa_avx2
namespace isa_avx512 {
extern const LossKernels<float> kLossF32;
extern const LossKernels<double> kLossF64;
}  // namespace isa_avx512

template <class T>
const LossKernels<T>& loss_kernels(Isa isa);

template <>
inline const LossKernels<float>& loss_kernels<float>(Isa isa) {
  switch (isa) {
    case Isa::kAvx512: return isa_avx512::kLossF32;
    case Isa::kAvx2: return isa_avx2::kLossF32;
    default: return isa_generic::kLossF32;
  }
}

template <>
inline const LossKernels<double>& loss_kernels<double>(Isa isa) {
  switch (isa) {
    case Isa::kAvx512: return isa_avx512::kLossF64;
    case Isa::kAvx2: return isa_avx2::kLossF64;
    default: return isa_generic::kLossF64;
  }
}

}  // namespace pysampled
