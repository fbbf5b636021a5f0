// Loss kernels in portable C++ with GCC vector extensions. Included once per
// ISA translation unit with PYSAMPLED_ISA_NS (namespace), PYSAMPLED_VBYTES
// (vector width in bytes) and PYSAMPLED_MR (GEMM micro-tile rows) defined.
// These units are compiled with -ffp-contract=fast so that `acc += a * b`
// becomes one fused multiply-add wherever the ISA has FMA.
#include <cmath>
#include <cstring>
#include <limits>

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "loss.hpp"

namespace pysampled {
namespace PYSAMPLED_ISA_NS {
namespace {

#include "vmath.hpp"

constexpr int kMR = PYSAMPLED_MR;

// ------------------------------------------------------------------- GEMM

template <class T, int MR, int NV>
inline void micro(int64_t k, const T* A, int64_t rsa, int64_t csa, const T* B, int64_t ldb, T* C,
                  int64_t ldc, int64_t n_valid, bool accumulate) {
  using V = Vec<T>;
  constexpr int L = lanes<T>();
  V acc[MR][NV];
  const bool full = n_valid == NV * L;
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      if (!accumulate) {
        acc[r][v] = V{};
      } else if (full) {
        acc[r][v] = load<T>(C + r * ldc + v * L);
      } else {
        T tmp[L] = {};
        for (int c = 0; c < L; ++c) {
          if (v * L + c < n_valid) tmp[c] = C[r * ldc + v * L + c];
        }
        acc[r][v] = load<T>(tmp);
      }
    }
  }
  for (int64_t kk = 0; kk < k; ++kk) {
    V b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) b[v] = load<T>(B + kk * ldb + v * L);
    const T* a = A + kk * csa;
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const T ar = a[r * rsa];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] += ar * b[v];
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    if (full) {
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) store<T>(C + r * ldc + v * L, acc[r][v]);
    } else {
      T tmp[NV * L];
      std::memcpy(tmp, acc[r], sizeof tmp);
      for (int64_t c = 0; c < n_valid; ++c) C[r * ldc + c] = tmp[c];
    }
  }
}

template <class T, int NV, int M = 1>
inline void micro_rows(int m, int64_t k, const T* A, int64_t rsa, int64_t csa, const T* B,
                       int64_t ldb, T* C, int64_t ldc, int64_t n_valid, bool accumulate) {
  if constexpr (M < kMR) {
    if (m == M) {
      micro<T, M, NV>(k, A, rsa, csa, B, ldb, C, ldc, n_valid, accumulate);
    } else {
      micro_rows<T, NV, M + 1>(m, k, A, rsa, csa, B, ldb, C, ldc, n_valid, accumulate);
    }
  }
}

template <class T, int NV>
inline void gemm_panel(int64_t m, int64_t n_valid, int64_t k, const T* A, int64_t rsa, int64_t csa,
                       const T* B, int64_t ldb, T* C, int64_t ldc, bool accumulate) {
  int64_t r0 = 0;
  for (; r0 + kMR <= m; r0 += kMR) {
    micro<T, kMR, NV>(k, A + r0 * rsa, rsa, csa, B, ldb, C + r0 * ldc, ldc, n_valid, accumulate);
  }
  if (r0 < m) {
    micro_rows<T, NV>(static_cast<int>(m - r0), k, A + r0 * rsa, rsa, csa, B, ldb, C + r0 * ldc,
                      ldc, n_valid, accumulate);
  }
}

template <class T>
void gemm(int64_t m, int64_t n, int64_t k, const T* A, int64_t rsa, int64_t csa, const T* B,
          int64_t ldb, int64_t panel_stride, T* C, int64_t ldc, bool accumulate) {
  constexpr int L = lanes<T>();
  constexpr int NR = 2 * L;
  for (int64_t c0 = 0; c0 < n; c0 += NR) {
    const T* Bp = B + (c0 / NR) * panel_stride;
    const int64_t nv = n - c0 < NR ? n - c0 : NR;
    if (nv > L) {
      gemm_panel<T, 2>(m, nv, k, A, rsa, csa, Bp, ldb, C + c0, ldc, accumulate);
    } else {
      gemm_panel<T, 1>(m, nv, k, A, rsa, csa, Bp, ldb, C + c0, ldc, accumulate);
    }
  }
}

// ---------------------------------------------------------------- vectors

template <class T>
void add_bias_sub_logq(T* row, const T* src, const T* bias, const T* log_q, int64_t n) {
  constexpr int L = lanes<T>();
  int64_t i = 0;
  if (log_q != nullptr) {
    for (; i + L <= n; i += L) {
      store<T>(row + i, (load<T>(src + i) + load<T>(bias + i)) - load<T>(log_q + i));
    }
    for (; i < n; ++i) row[i] = (src[i] + bias[i]) - log_q[i];
  } else {
    for (; i + L <= n; i += L) store<T>(row + i, load<T>(src + i) + load<T>(bias + i));
    for (; i < n; ++i) row[i] = src[i] + bias[i];
  }
}

// ------------------------------------------------------------------- rows

// Masks of the first cnt lanes (0 < cnt < lanes), for the tails below.
#if defined(__AVX512F__)
inline uint32_t avx512_tail_mask(int cnt) { return (1u << cnt) - 1u; }
#endif
#if defined(__AVX2__)
template <class T>
inline __m256i avx2_tail_mask(int cnt) {
  if constexpr (sizeof(T) == 4) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(cnt), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  } else {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(cnt), _mm256_setr_epi64x(0, 1, 2, 3));
  }
}
#endif

// Loads lanes [i, i+L) of row, padding past n with `fill` (i < n < i + L).
// Where the ISA has masked loads and stores (AVX2, AVX-512) the tail is one
// masked instruction that reads and writes only the lanes below n (masked
// lanes never fault and never touch memory); elsewhere it goes through a
// scalar copy. A row whose width is not a multiple of the lanes (S = 64
// with one true class: 65 columns) pays this once per pass.
template <class T>
inline Vec<T> load_tail(const T* row, int64_t i, int64_t n, T fill) {
  const int cnt = static_cast<int>(n - i);
#if defined(__AVX512F__)
  if constexpr (kVBytes == 64) {
    const uint32_t m = avx512_tail_mask(cnt);
    if constexpr (sizeof(T) == 4) {
      return reinterpret_cast<Vec<T>>(_mm512_mask_loadu_ps(_mm512_set1_ps(fill), static_cast<__mmask16>(m), row + i));
    } else {
      return reinterpret_cast<Vec<T>>(_mm512_mask_loadu_pd(_mm512_set1_pd(fill), static_cast<__mmask8>(m), row + i));
    }
  }
#endif
#if defined(__AVX2__)
  if constexpr (kVBytes == 32) {
    const __m256i m = avx2_tail_mask<T>(cnt);
    if constexpr (sizeof(T) == 4) {
      return reinterpret_cast<Vec<T>>(
          _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(row + i, m), _mm256_castsi256_ps(m)));
    } else {
      return reinterpret_cast<Vec<T>>(
          _mm256_blendv_pd(_mm256_set1_pd(fill), _mm256_maskload_pd(row + i, m), _mm256_castsi256_pd(m)));
    }
  }
#endif
  T tmp[lanes<T>()];
  for (int c = 0; c < lanes<T>(); ++c) tmp[c] = c < cnt ? row[i + c] : fill;
  return load<T>(tmp);
}

// Stores lanes [i, n) of v into row (i < n < i + L); see load_tail.
template <class T>
inline void store_tail(T* row, int64_t i, int64_t n, Vec<T> v) {
  const int cnt = static_cast<int>(n - i);
#if defined(__AVX512F__)
  if constexpr (kVBytes == 64) {
    const uint32_t m = avx512_tail_mask(cnt);
    if constexpr (sizeof(T) == 4) {
      _mm512_mask_storeu_ps(row + i, static_cast<__mmask16>(m), reinterpret_cast<__m512>(v));
    } else {
      _mm512_mask_storeu_pd(row + i, static_cast<__mmask8>(m), reinterpret_cast<__m512d>(v));
    }
    return;
  }
#endif
#if defined(__AVX2__)
  if constexpr (kVBytes == 32) {
    const __m256i m = avx2_tail_mask<T>(cnt);
    if constexpr (sizeof(T) == 4) {
      _mm256_maskstore_ps(row + i, m, reinterpret_cast<__m256>(v));
    } else {
      _mm256_maskstore_pd(row + i, m, reinterpret_cast<__m256d>(v));
    }
    return;
  }
#endif
  T tmp[lanes<T>()];
  std::memcpy(tmp, &v, sizeof v);
  for (int c = 0; c < cnt; ++c) row[i + c] = tmp[c];
}

template <class T>
inline Vec<T> iota() {
  T tmp[lanes<T>()];
  for (int c = 0; c < lanes<T>(); ++c) tmp[c] = T(c);
  return load<T>(tmp);
}

template <class T>
T softmax_row(T* row, int64_t n, int64_t num_true, T upstream) {
  using V = Vec<T>;
  constexpr int L = lanes<T>();
  const T neg_inf = -std::numeric_limits<T>::infinity();
  V vmax = splat<T>(neg_inf);
  V vneg = splat<T>(neg_inf);  // max of -x: +inf iff some logit is -inf
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    const V x = load<T>(row + i);
    vmax = x > vmax ? x : vmax;
    vneg = -x > vneg ? -x : vneg;
  }
  if (i < n) {
    const V x = load_tail<T>(row, i, n, neg_inf);
    vmax = x > vmax ? x : vmax;
    const V nx = -load_tail<T>(row, i, n, T(0));
    vneg = nx > vneg ? nx : vneg;
  }
  const T m = hmax<T>(vmax);
  // TF sums z_j (log s - (L_j - m)) over *all* columns, so a sampled column
  // (z_j = 0) whose logit is -inf contributes 0 * inf = NaN to the loss
  // (its gradient stays 0). Only such a row needs the scan.
  bool sampled_neg_inf = false;
  if (hmax<T>(vneg) == -neg_inf) {
    for (int64_t j = num_true; j < n; ++j) sampled_neg_inf |= row[j] == neg_inf;
  }
  T true_shifted = 0;  // sum of (L_k - m) over the true columns, as TF shifts first
  for (int64_t k = 0; k < num_true; ++k) true_shifted += row[k] - m;
  V vsum{};
  for (i = 0; i + L <= n; i += L) {
    const V e = vexp_nonpos<T>(load<T>(row + i) - m);
    store<T>(row + i, e);
    vsum += e;
  }
  if (i < n) {
    const V e = vexp_nonpos<T>(load_tail<T>(row, i, n, neg_inf) - m);
    store_tail<T>(row, i, n, e);
    vsum += e;
  }
  const T s = hsum<T>(vsum);
  const T log_s = std::log(s);
  const T inv_nt = T(1) / static_cast<T>(num_true);
  // TF: sum_j z_j (log s - (L_j - m)), z = 1/num_true on the true columns.
  const T loss = sampled_neg_inf ? std::numeric_limits<T>::quiet_NaN()
                                 : log_s - inv_nt * true_shifted;
  const T scale = upstream / s;
  const V vt = splat<T>(upstream * inv_nt);
  const V nt = splat<T>(static_cast<T>(num_true));
  for (i = 0; i + L <= n; i += L) {
    V g = load<T>(row + i) * scale;
    if (i < num_true) g -= (iota<T>() + static_cast<T>(i)) < nt ? vt : V{};
    store<T>(row + i, g);
  }
  if (i < n) {
    V g = load_tail<T>(row, i, n, T(0)) * scale;
    if (i < num_true) g -= (iota<T>() + static_cast<T>(i)) < nt ? vt : V{};
    store_tail<T>(row, i, n, g);
  }
  return loss;
}

template <class T>
inline Vec<T> nce_block(Vec<T> x, Vec<T> z, T upstream, Vec<T>& loss) {
  using V = Vec<T>;
  V sig;
  loss += logistic_xent<T>(x, z, sig);
  return upstream * (sig - z);
}

template <class T>
T nce_row(T* row, int64_t n, int64_t num_true, T true_target, T upstream) {
  using V = Vec<T>;
  constexpr int L = lanes<T>();
  const V nt = splat<T>(static_cast<T>(num_true));
  const V zt = splat<T>(true_target);
  V loss{};
  int64_t i = 0;
  for (; i + L <= n; i += L) {
    const V z = i < num_true ? ((iota<T>() + static_cast<T>(i)) < nt ? zt : V{}) : V{};
    store<T>(row + i, nce_block<T>(load<T>(row + i), z, upstream, loss));
  }
  if (i < n) {
    const V z = i < num_true ? ((iota<T>() + static_cast<T>(i)) < nt ? zt : V{}) : V{};
    V tail_loss{};
    const V g = nce_block<T>(load_tail<T>(row, i, n, T(0)), z, upstream, tail_loss);
    store_tail<T>(row, i, n, g);
    const V valid = (iota<T>() + static_cast<T>(i)) < static_cast<T>(n) ? splat<T>(T(1)) : V{};
    loss += valid == T(1) ? tail_loss : V{};
  }
  return hsum<T>(loss);
}

template <class T>
constexpr LossKernels<T> make_table() {
  return LossKernels<T>{lanes<T>(),     2 * lanes<T>(), gemm<T>,     dot<T>,
                        axpy<T>,         add_bias_sub_logq<T>,         softmax_row<T>,
                        nce_row<T>};
}

}  // namespace

extern const LossKernels<float> kLossF32 = make_table<float>();
extern const LossKernels<double> kLossF64 = make_table<double>();

}  // namespace PYSAMPLED_ISA_NS
}  // namespace pysampled
