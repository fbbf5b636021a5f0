// The sparse row updates: SGD or Adagrad applied in place to the rows of a
// (possibly sharded) table, one row at a time, whatever the rows' storage
// dtype (float32, float64 or bfloat16). Used by SampledLoss::step through
// sampled_loss(); callable by any trainer that holds a summed gradient row.
// And PyTorch's SparseAdam step over a set of rows (sparse_adam_rows), for
// pysampled.torch.SparseAdam.
//
// Design: the arithmetic runs in the gradient's dtype T (float or double);
// a row stored in another dtype is widened, updated and narrowed back
// element by element. bfloat16 rows are narrowed with round-to-nearest-even
// (ties to even, NaN kept quiet, overflow to +-inf) or, on request, with
// stochastic rounding driven by a counter-based hash of (seed, step, row id,
// column): deterministic for a seed, independent of the thread count and of
// the order in which rows are updated. Adagrad accumulators are float32 or
// float64 (never bfloat16: sums of squares lose too much in 8 bits).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/convert.hpp"
#include "parallel.hpp"
#include "sharded.hpp"

namespace pysampled {

enum class Optimizer : int { kSgd = 0, kAdagrad = 1 };
enum class Rounding : int { kNearestEven = 0, kStochastic = 1 };

// Adagrad's defaults, the one home of both constants: every accumulator
// starts at kAdagradInitialAccumulator (TF's Adagrad), and a step divides by
// sqrt(acc) + kAdagradEpsilon. SampledLoss's defaults and the word2vec
// trainer's nce / sampled-softmax variants use them (pysampled._losses
// exports them as ADAGRAD_INITIAL_ACCUMULATOR and ADAGRAD_EPSILON).
inline constexpr double kAdagradInitialAccumulator = 0.1;
inline constexpr double kAdagradEpsilon = 1e-7;

// float32 -> bfloat16 bits, round to nearest, ties to even; a NaN becomes
// the quiet NaN of its sign (0x7fc0 | sign), as ml_dtypes' cast and the
// array conversions of kernels/convert.hpp do. Branch-free.
inline uint16_t float_to_bf16_rne(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  const uint32_t quiet_nan = ((u >> 16) & 0x8000u) | 0x7fc0u;
  return static_cast<uint16_t>((u & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded);
}

// float32 -> bfloat16 bits, rounded up with probability (dropped bits) / 2^16:
// `random16` is uniform in [0, 2^16). Finite values below the largest
// bfloat16 stay finite or round to its neighbour, as RNE would.
inline uint16_t float_to_bf16_stochastic(float f, uint32_t random16) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>(((u >> 16) & 0x8000u) | 0x7fc0u);
  if ((u & 0x7fffffffu) == 0x7f800000u) return static_cast<uint16_t>(u >> 16);  // +-inf
  u += random16 & 0xffffu;
  return static_cast<uint16_t>(u >> 16);
}

// float64 -> bfloat16 bits with one rounding (no double rounding through
// float32): round to odd into float32 first, which keeps the sticky bit.
inline uint16_t double_to_bf16_rne(double d) {
  float f = static_cast<float>(d);
  if (f == f && static_cast<double>(f) != d && (f - f) == 0.0f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    // Step toward zero if float rounding went away from it, then make it odd.
    if ((static_cast<double>(f) > d) == (f > 0.0f)) u -= 1;
    u |= 1u;
    std::memcpy(&f, &u, sizeof f);
  }
  return float_to_bf16_rne(f);
}

// Arrays of n values: bfloat16 bits -> float32 (exact), and float32 ->
// bfloat16 bits rounded to nearest, ties to even, a NaN becoming the quiet
// NaN of its sign (the bits of ml_dtypes' astype, so that results do not
// depend on which of the two converted them), at the active SIMD level
// (kernels/convert.hpp). The Python layer converts bfloat16 inputs and
// results with them (ml_dtypes' casts run at about 1-2 ns per value), on
// up to num_threads threads in chunks (the same bits for any count).
constexpr int64_t kConvertChunk = int64_t{1} << 15;

template <class S, class D>
void convert_in_chunks(void (*convert)(const S*, D*, int64_t), const S* src, D* dst, int64_t n,
                       int num_threads) {
  parallel_for((n + kConvertChunk - 1) / kConvertChunk, n > kConvertChunk ? num_threads : 1, [&](int64_t c) {
    const int64_t i = c * kConvertChunk;
    convert(src + i, dst + i, std::min(kConvertChunk, n - i));
  });
}

inline void bf16_to_float_array(const uint16_t* src, float* dst, int64_t n, int num_threads = 1) {
  convert_in_chunks(convert_kernels().bf16_to_f32, src, dst, n, num_threads);
}

inline void float_to_bf16_array(const float* src, uint16_t* dst, int64_t n, int num_threads = 1) {
  convert_in_chunks(convert_kernels().f32_to_bf16, src, dst, n, num_threads);
}

// One update of a sparse set of rows. The views must be writable arrays
// (checked by the caller): weights/biases of any DType; accumulators float32
// or float64.
template <class T>
struct SparseUpdate {
  Optimizer optimizer = Optimizer::kSgd;
  T learning_rate = T(0.1);
  T epsilon = T(kAdagradEpsilon);          // Adagrad: lr * g / (sqrt(acc) + epsilon)
  const ShardedRows* weights = nullptr;
  const ShardedRows* biases = nullptr;     // optional
  const ShardedRows* weight_accum = nullptr;  // Adagrad accumulators, same layout
  const ShardedRows* bias_accum = nullptr;
  // false: sum each class's contributions first (deterministic); true: every
  // contribution is applied as soon as it is computed, from many threads at
  // once, without locks ("Hogwild"): faster, but racing updates to the same
  // row can be lost and results depend on timing.
  bool hogwild = false;
  // Narrowing of bfloat16 rows (ignored for float32/float64 rows).
  Rounding rounding = Rounding::kNearestEven;
  uint64_t rounding_seed = 0;  // stochastic rounding: the stream is (seed, step, id, column)
  uint64_t rounding_step = 0;
};

// The random 16 bits stochastic rounding uses for (seed, step, row id, column).
uint32_t rounding_bits(uint64_t seed, uint64_t step, int64_t id, int64_t column);

// Updates one row in place: `row` (dim elements of dtype `row_dtype`) by the
// gradient g[0..dim): SGD row -= lr g; Adagrad acc += g*g, row -= lr g /
// (sqrt(acc) + eps), with `acc` of dtype acc_dtype (float32/float64; unused
// by SGD). `id` and `column0` only select stochastic-rounding streams.
template <class T>
void update_row(Optimizer optimizer, T lr, T eps, DType row_dtype, void* row, DType acc_dtype, void* acc,
                const T* g, int64_t dim, Rounding rounding, uint64_t seed, uint64_t step, int64_t id,
                int64_t column0 = 0);

// Applies class `id`'s summed gradient row g[0..D) (and bias gradient gb
// when has_gb) through `up`.
template <class T>
void apply_sparse_row(const SparseUpdate<T>& up, int64_t id, const T* g, T gb, int64_t D, bool has_gb);

// torch.optim.SparseAdam's step on the rows `ids` of a dense, row-major,
// contiguous table `param` (table_rows x row_len) and its moment tables
// `exp_avg`, `exp_avg_sq` (same shape), by the gradient rows `grad`
// (n_rows x row_len, row k belongs to ids[k]). `ids` must be strictly
// increasing and in [0, table_rows) (a coalesced sparse gradient); anything
// else throws std::invalid_argument before a row is written, as do
// overlapping buffers (the four must not share memory). Each element
// gets the same float operations, in the same order, as PyTorch's
// implementation (so the results are bit-identical to it), with g the
// gradient (negated when maximize), m, v the moments and p the parameter:
//   dm = (g - m) * one_minus_beta1;   m' = m + dm
//   dv = (g * g - v) * one_minus_beta2;   v' = v + dv
//   p' = p + ((dm + m) / (sqrt(dv + v) + eps)) * neg_step_size
// where the caller computes neg_step_size = -lr * sqrt(1 - beta2^t) /
// (1 - beta1^t) in double, as PyTorch does, and every scalar is rounded to T.
// Rows are independent: any thread count gives the same result.
template <class T>
struct SparseAdamStep {
  T one_minus_beta1, one_minus_beta2, eps, neg_step_size;
  bool maximize;
};

template <class T>
void sparse_adam_rows(T* param, T* exp_avg, T* exp_avg_sq, int64_t table_rows, int64_t row_len,
                      const int64_t* ids, const T* grad, int64_t n_rows, const SparseAdamStep<T>& step,
                      int threads);

extern template void update_row<float>(Optimizer, float, float, DType, void*, DType, void*, const float*,
                                       int64_t, Rounding, uint64_t, uint64_t, int64_t, int64_t);
extern template void update_row<double>(Optimizer, double, double, DType, void*, DType, void*,
                                        const double*, int64_t, Rounding, uint64_t, uint64_t, int64_t,
                                        int64_t);
extern template void apply_sparse_row<float>(const SparseUpdate<float>&, int64_t, const float*, float,
                                             int64_t, bool);
extern template void apply_sparse_row<double>(const SparseUpdate<double>&, int64_t, const double*, double,
                                              int64_t, bool);

extern template void sparse_adam_rows<float>(float*, float*, float*, int64_t, int64_t, const int64_t*,
                                             const float*, int64_t, const SparseAdamStep<float>&, int);
extern template void sparse_adam_rows<double>(double*, double*, double*, int64_t, int64_t, const int64_t*,
                                              const double*, int64_t, const SparseAdamStep<double>&, int);

}  // namespace pysampled
