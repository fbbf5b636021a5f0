#include "sparse_update.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "parallel.hpp"

namespace pysampled {

namespace {

inline uint64_t mix64(uint64_t z) {  // a splitmix64 finaliser
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Storage types: float, double, and uint16_t standing for bfloat16 bits.
template <class T, class R>
inline T widen(R v) {
  if constexpr (std::is_same_v<R, uint16_t>) {
    return static_cast<T>(bf16_to_float(v));
  } else {
    return static_cast<T>(v);
  }
}

// Narrowing of one updated value to the row's storage R.
template <class T, class R>
struct Plain {
  R operator()(T v, int64_t) const { return static_cast<R>(v); }
};
template <class T>
struct NearestEven {
  uint16_t operator()(T v, int64_t) const {
    if constexpr (sizeof(T) == 8) {
      return double_to_bf16_rne(v);
    } else {
      return float_to_bf16_rne(v);
    }
  }
};
struct Stochastic {
  uint64_t seed, step;
  int64_t id, column0;
  template <class T>
  uint16_t operator()(T v, int64_t d) const {
    return float_to_bf16_stochastic(static_cast<float>(v), rounding_bits(seed, step, id, column0 + d));
  }
};

// The update with the row's storage R, the accumulators' A and the
// narrowing known (one tight loop each, which the compiler vectorises).
// float32 computing into bfloat16 rows, nearest even: the updated values
// of a block of columns go through a float32 buffer and the array
// conversion of the active SIMD level (kernels/convert.hpp): the same bits
// as narrowing each value (float_to_bf16_rne), which this translation unit,
// built for the baseline ISA, does one value at a time (SSE2 has no
// unsigned 32 -> 16 bit pack). SGD at S = 64 on bfloat16 tables: 7% of a
// step on a Xeon before.
template <class A>
void update_bf16_rne(Optimizer optimizer, float lr, float eps, uint16_t* w, A* acc, const float* g,
                     int64_t dim) {
  constexpr int64_t kBlock = 128;
  float v[kBlock];
  const ConvertKernels& cv = convert_kernels();
  for (int64_t d0 = 0; d0 < dim; d0 += kBlock) {
    const int64_t n = std::min(kBlock, dim - d0);
    uint16_t* wb = w + d0;
    const float* gb = g + d0;
    cv.bf16_to_f32(wb, v, n);
    if (optimizer == Optimizer::kSgd) {
      for (int64_t d = 0; d < n; ++d) v[d] = v[d] - lr * gb[d];
    } else {
      A* ab = acc + d0;
      for (int64_t d = 0; d < n; ++d) {
        ab[d] = static_cast<A>(static_cast<float>(ab[d]) + gb[d] * gb[d]);
        const float a = static_cast<float>(ab[d]);
        v[d] = v[d] - lr * gb[d] / (std::sqrt(a) + eps);
      }
    }
    cv.f32_to_bf16(v, wb, n);
  }
}

template <class T, class R, class A, class Narrow>
void update_typed(Optimizer optimizer, T lr, T eps, R* w, A* acc, const T* g, int64_t dim,
                  const Narrow& narrow) {
  if constexpr (std::is_same_v<T, float> && std::is_same_v<Narrow, NearestEven<float>>) {
    update_bf16_rne(optimizer, lr, eps, w, acc, g, dim);
    return;
  }
  if (optimizer == Optimizer::kSgd) {
    for (int64_t d = 0; d < dim; ++d) w[d] = narrow(widen<T>(w[d]) - lr * g[d], d);
    return;
  }
  for (int64_t d = 0; d < dim; ++d) {
    // The step divides by the accumulator as stored (as when both are T).
    acc[d] = static_cast<A>(static_cast<T>(acc[d]) + g[d] * g[d]);
    const T a = static_cast<T>(acc[d]);
    w[d] = narrow(widen<T>(w[d]) - lr * g[d] / (std::sqrt(a) + eps), d);
  }
}

template <class T, class R, class A>
void update_narrowing(Optimizer optimizer, T lr, T eps, R* w, A* acc, const T* g, int64_t dim,
                      Rounding rounding, uint64_t seed, uint64_t step, int64_t id, int64_t column0) {
  if constexpr (std::is_same_v<R, uint16_t>) {
    if (rounding == Rounding::kStochastic) {
      update_typed(optimizer, lr, eps, w, acc, g, dim, Stochastic{seed, step, id, column0});
    } else {
      update_typed(optimizer, lr, eps, w, acc, g, dim, NearestEven<T>{});
    }
  } else {
    update_typed(optimizer, lr, eps, w, acc, g, dim, Plain<T, R>{});
  }
}

template <class T, class R>
void update_acc(Optimizer optimizer, T lr, T eps, R* w, DType acc_dtype, void* acc, const T* g,
                int64_t dim, Rounding rounding, uint64_t seed, uint64_t step, int64_t id, int64_t column0) {
  if (optimizer == Optimizer::kAdagrad && acc_dtype == DType::kFloat64) {
    update_narrowing<T, R, double>(optimizer, lr, eps, w, static_cast<double*>(acc), g, dim, rounding,
                                   seed, step, id, column0);
  } else {
    update_narrowing<T, R, float>(optimizer, lr, eps, w, static_cast<float*>(acc), g, dim, rounding,
                                  seed, step, id, column0);
  }
}

}  // namespace

uint32_t rounding_bits(uint64_t seed, uint64_t step, int64_t id, int64_t column) {
  uint64_t z = mix64(seed + 0x9e3779b97f4a7c15ull);
  z = mix64(z ^ (step * 0xd1b54a32d192ed03ull));
  z = mix64(z ^ (static_cast<uint64_t>(id) * 0xaef17502108ef2d9ull));
  z = mix64(z ^ static_cast<uint64_t>(column));
  return static_cast<uint32_t>(z >> 48);
}

template <class T>
void update_row(Optimizer optimizer, T lr, T eps, DType row_dtype, void* row, DType acc_dtype, void* acc,
                const T* g, int64_t dim, Rounding rounding, uint64_t seed, uint64_t step, int64_t id,
                int64_t column0) {
  switch (row_dtype) {
    case DType::kFloat32:
      update_acc<T, float>(optimizer, lr, eps, static_cast<float*>(row), acc_dtype, acc, g, dim, rounding,
                           seed, step, id, column0);
      break;
    case DType::kFloat64:
      update_acc<T, double>(optimizer, lr, eps, static_cast<double*>(row), acc_dtype, acc, g, dim,
                            rounding, seed, step, id, column0);
      break;
    default:
      update_acc<T, uint16_t>(optimizer, lr, eps, static_cast<uint16_t*>(row), acc_dtype, acc, g, dim,
                              rounding, seed, step, id, column0);
      break;
  }
}

template <class T>
void apply_sparse_row(const SparseUpdate<T>& up, int64_t id, const T* g, T gb, int64_t D, bool has_gb) {
  const bool adagrad = up.optimizer == Optimizer::kAdagrad;
  update_row<T>(up.optimizer, up.learning_rate, up.epsilon, up.weights->dtype(),
                up.weights->writable_row_bytes(id), adagrad ? up.weight_accum->dtype() : DType::kFloat32,
                adagrad ? up.weight_accum->writable_row_bytes(id) : nullptr, g, D, up.rounding,
                up.rounding_seed, up.rounding_step, id, 0);
  if (has_gb) {
    // The bias of class id draws its rounding stream from column D (after the row's).
    update_row<T>(up.optimizer, up.learning_rate, up.epsilon, up.biases->dtype(),
                  up.biases->writable_row_bytes(id), adagrad ? up.bias_accum->dtype() : DType::kFloat32,
                  adagrad ? up.bias_accum->writable_row_bytes(id) : nullptr, &gb, 1, up.rounding,
                  up.rounding_seed, up.rounding_step, id, D);
  }
}

template <class T>
void sparse_adam_rows(T* param, T* exp_avg, T* exp_avg_sq, int64_t table_rows, int64_t row_len,
                      const int64_t* ids, const T* grad, int64_t n_rows, const SparseAdamStep<T>& step,
                      int threads) {
  if (table_rows < 0 || row_len < 0 || n_rows < 0) throw std::invalid_argument("invalid problem sizes");
  for (int64_t k = 0; k < n_rows; ++k) {
    if (ids[k] < 0 || ids[k] >= table_rows || (k > 0 && ids[k] <= ids[k - 1])) {
      throw std::invalid_argument("gradient row ids must be strictly increasing and in [0, " +
                                  std::to_string(table_rows) + "): row " + std::to_string(k) +
                                  " has id " + std::to_string(ids[k]));
    }
  }
  if (row_len == 0) return;
  {  // the row loop reads and writes the four buffers as restrict pointers
    const T* base[4] = {param, exp_avg, exp_avg_sq, grad};
    const int64_t len[4] = {table_rows * row_len, table_rows * row_len, table_rows * row_len,
                            n_rows * row_len};
    for (int a = 0; a < 4; ++a) {
      for (int b = a + 1; b < 4; ++b) {
        const auto lo_a = reinterpret_cast<uintptr_t>(base[a]), lo_b = reinterpret_cast<uintptr_t>(base[b]);
        const auto hi_a = lo_a + sizeof(T) * static_cast<uint64_t>(len[a]);
        const auto hi_b = lo_b + sizeof(T) * static_cast<uint64_t>(len[b]);
        if (len[a] > 0 && len[b] > 0 && lo_a < hi_b && lo_b < hi_a) {
          throw std::invalid_argument(
              "the parameter, its two moment tables and the gradient rows must not share memory");
        }
      }
    }
  }
  const T c1 = step.one_minus_beta1, c2 = step.one_minus_beta2, eps = step.eps;
  const T scale = step.neg_step_size;
  const T sign = step.maximize ? T(-1) : T(1);
  constexpr int64_t kChunk = 64;  // rows per task
  constexpr int64_t kAhead = 8;   // rows prefetched ahead
  constexpr int64_t kLine = 64 / static_cast<int64_t>(sizeof(T));  // elements per cache line
  parallel_for((n_rows + kChunk - 1) / kChunk, threads, [&](int64_t ch) {
    // Scalars copied into the task, and restrict rows: otherwise every store
    // to a row might change them (they are captured by reference), and the
    // element loop below stays scalar.
    const T c1_ = c1, c2_ = c2, eps_ = eps, scale_ = scale, sign_ = sign;
    const int64_t end = std::min(n_rows, (ch + 1) * kChunk);
    for (int64_t k = ch * kChunk; k < end; ++k) {
      if (k + kAhead < n_rows) {  // the rows are scattered over the tables: fetch ahead
        const int64_t ahead = ids[k + kAhead] * row_len;
        for (int64_t j = 0; j < row_len; j += kLine) {
          __builtin_prefetch(param + ahead + j, 1);
          __builtin_prefetch(exp_avg + ahead + j, 1);
          __builtin_prefetch(exp_avg_sq + ahead + j, 1);
        }
      }
      const int64_t off = ids[k] * row_len;
      T* __restrict p = param + off;
      T* __restrict m = exp_avg + off;
      T* __restrict v = exp_avg_sq + off;
      const T* __restrict gr = grad + k * row_len;
      for (int64_t j = 0; j < row_len; ++j) {  // no FMA contraction in this file (CMake)
        const T g = sign_ * gr[j];
        const T m0 = m[j], v0 = v[j];
        const T dm = (g - m0) * c1_;
        const T dv = (g * g - v0) * c2_;
        m[j] = m0 + dm;
        v[j] = v0 + dv;
        p[j] = p[j] + ((dm + m0) / (std::sqrt(dv + v0) + eps_)) * scale_;
      }
    }
  });
}

template void sparse_adam_rows<float>(float*, float*, float*, int64_t, int64_t, const int64_t*, const float*,
                                      int64_t, const SparseAdamStep<float>&, int);
template void sparse_adam_rows<double>(double*, double*, double*, int64_t, int64_t, const int64_t*,
                                       const double*, int64_t, const SparseAdamStep<double>&, int);

template void update_row<float>(Optimizer, float, float, DType, void*, DType, void*, const float*, int64_t,
                                Rounding, uint64_t, uint64_t, int64_t, int64_t);
template void update_row<double>(Optimizer, double, double, DType, void*, DType, void*, const double*,
                                 int64_t, Rounding, uint64_t, uint64_t, int64_t, int64_t);
template void apply_sparse_row<float>(const SparseUpdate<float>&, int64_t, const float*, float, int64_t,
                                      bool);
template void apply_sparse_row<double>(const SparseUpdate<double>&, int64_t, const double*, double,
                                       int64_t, bool);

}  // namespace pysampled
