#include "sparse_update.hpp"

#include <cmath>

namespace pysampled {

namespace {

inline uint64_t mix64(uint64_t z) {  // a splitmix64 finaliser
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

template <class T>
inline T load_as(DType dt, const void* p, int64_t i) {
  switch (dt) {
    case DType::kFloat32: return static_cast<T>(static_cast<const float*>(p)[i]);
    case DType::kFloat64: return static_cast<T>(static_cast<const double*>(p)[i]);
    default: return static_cast<T>(bf16_to_float(static_cast<const uint16_t*>(p)[i]));
  }
}

template <class T>
inline uint16_t to_bf16(T v, Rounding r, uint64_t seed, uint64_t step, int64_t id, int64_t col) {
  if (r == Rounding::kStochastic) {
    return float_to_bf16_stochastic(static_cast<float>(v), rounding_bits(seed, step, id, col));
  }
  if constexpr (sizeof(T) == 8) {
    return double_to_bf16_rne(v);
  } else {
    return float_to_bf16_rne(v);
  }
}

template <class T>
inline void store_as(DType dt, void* p, int64_t i, T v, Rounding r, uint64_t seed, uint64_t step,
                     int64_t id, int64_t col) {
  switch (dt) {
    case DType::kFloat32: static_cast<float*>(p)[i] = static_cast<float>(v); break;
    case DType::kFloat64: static_cast<double*>(p)[i] = static_cast<double>(v); break;
    default: static_cast<uint16_t*>(p)[i] = to_bf16(v, r, seed, step, id, col); break;
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
  if (optimizer == Optimizer::kSgd) {
    if (row_dtype == DType::kFloat32 && sizeof(T) == 4) {  // the common case, kept simple for the compiler
      float* w = static_cast<float*>(row);
      for (int64_t d = 0; d < dim; ++d) w[d] -= static_cast<float>(lr * g[d]);
      return;
    }
    for (int64_t d = 0; d < dim; ++d) {
      const T w = load_as<T>(row_dtype, row, d) - lr * g[d];
      store_as<T>(row_dtype, row, d, w, rounding, seed, step, id, column0 + d);
    }
    return;
  }
  for (int64_t d = 0; d < dim; ++d) {
    const T a = load_as<T>(acc_dtype, acc, d) + g[d] * g[d];
    store_as<T>(acc_dtype, acc, d, a, Rounding::kNearestEven, 0, 0, 0, 0);
    // The step divides by the accumulator as stored (as when both are T).
    const T a_stored = load_as<T>(acc_dtype, acc, d);
    const T w = load_as<T>(row_dtype, row, d) - lr * g[d] / (std::sqrt(a_stored) + eps);
    store_as<T>(row_dtype, row, d, w, rounding, seed, step, id, column0 + d);
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

template void update_row<float>(Optimizer, float, float, DType, void*, DType, void*, const float*, int64_t,
                                Rounding, uint64_t, uint64_t, int64_t, int64_t);
template void update_row<double>(Optimizer, double, double, DType, void*, DType, void*, const double*,
                                 int64_t, Rounding, uint64_t, uint64_t, int64_t, int64_t);
template void apply_sparse_row<float>(const SparseUpdate<float>&, int64_t, const float*, float, int64_t,
                                      bool);
template void apply_sparse_row<double>(const SparseUpdate<double>&, int64_t, const double*, double,
                                       int64_t, bool);

}  // namespace pysampled
