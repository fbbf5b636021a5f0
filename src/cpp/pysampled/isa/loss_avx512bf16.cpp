// The bfloat16 logits GEMM with vdpbf16ps (compiled with -mavx512bf16; run
// only where bf16_dot_available()).
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <atomic>
#include <cstring>

#include "../isa.hpp"
#include "../kernels/loss_bf16.hpp"

namespace pysampled {

bool bf16_dot_available() {
#if defined(__x86_64__) && defined(__GNUC__) && defined(__AVX512BF16__)
  static const bool ok = [] {
    __builtin_cpu_init();
    return detected_isa() == Isa::kAvx512 && __builtin_cpu_supports("avx512bf16");
  }();
  return ok;
#else
  return false;
#endif
}

namespace {
std::atomic<bool> g_enabled{true};
}

void set_bf16_dot_enabled(bool enabled) { g_enabled.store(enabled, std::memory_order_relaxed); }
bool bf16_dot_enabled() { return g_enabled.load(std::memory_order_relaxed); }

namespace isa_avx512bf16 {

#if defined(__AVX512BF16__)
namespace {

template <int MR>
inline void micro(int64_t k2, const uint16_t* A, int64_t lda, const uint16_t* Bp, float* C, int64_t ldc,
                  int64_t n_valid) {
  __m512 acc[MR][2];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    acc[r][0] = _mm512_setzero_ps();
    acc[r][1] = _mm512_setzero_ps();
  }
  for (int64_t kk = 0; kk < k2; ++kk) {
    const __m512bh b0 = (__m512bh)_mm512_loadu_si512(Bp + kk * 64);
    const __m512bh b1 = (__m512bh)_mm512_loadu_si512(Bp + kk * 64 + 32);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      int32_t pair;
      std::memcpy(&pair, A + r * lda + 2 * kk, sizeof pair);
      const __m512bh a = (__m512bh)_mm512_set1_epi32(pair);
      acc[r][0] = _mm512_dpbf16_ps(acc[r][0], a, b0);
      acc[r][1] = _mm512_dpbf16_ps(acc[r][1], a, b1);
    }
  }
  const __mmask16 m0 = n_valid >= 16 ? __mmask16(0xffff) : __mmask16((1u << n_valid) - 1);
  const __mmask16 m1 = n_valid >= 32 ? __mmask16(0xffff)
                                     : n_valid <= 16 ? __mmask16(0) : __mmask16((1u << (n_valid - 16)) - 1);
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    _mm512_mask_storeu_ps(C + r * ldc, m0, acc[r][0]);
    _mm512_mask_storeu_ps(C + r * ldc + 16, m1, acc[r][1]);
  }
}

constexpr int kMR = 12;

template <int M = 1>
inline void micro_rows(int m, int64_t k2, const uint16_t* A, int64_t lda, const uint16_t* Bp, float* C,
                       int64_t ldc, int64_t n_valid) {
  if constexpr (M < kMR) {
    if (m == M) {
      micro<M>(k2, A, lda, Bp, C, ldc, n_valid);
    } else {
      micro_rows<M + 1>(m, k2, A, lda, Bp, C, ldc, n_valid);
    }
  }
}

}  // namespace

void gemm_bf16(int64_t m, int64_t n, int64_t k, const uint16_t* A, int64_t lda, const uint16_t* B,
               int64_t panel_stride, float* C, int64_t ldc) {
  const int64_t k2 = k / 2;
  for (int64_t c0 = 0; c0 < n; c0 += kBf16PanelWidth) {
    const uint16_t* Bp = B + (c0 / kBf16PanelWidth) * panel_stride;
    const int64_t nv = n - c0 < kBf16PanelWidth ? n - c0 : kBf16PanelWidth;
    int64_t r0 = 0;
    for (; r0 + kMR <= m; r0 += kMR) micro<kMR>(k2, A + r0 * lda, lda, Bp, C + r0 * ldc + c0, ldc, nv);
    if (r0 < m) micro_rows(static_cast<int>(m - r0), k2, A + r0 * lda, lda, Bp, C + r0 * ldc + c0, ldc, nv);
  }
}

bool narrow_plain_bf16(const float* __restrict src, uint16_t* __restrict dst, int64_t n) {
  uint32_t bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, src + i, sizeof u);
    const uint32_t subnormal = ((u & 0x7f800000u) == 0) & ((u & 0x007fffffu) != 0);
    bad |= (u & 0xffffu) | subnormal;
    dst[i] = static_cast<uint16_t>(u >> 16);
  }
  return bad == 0;
}
#else
void gemm_bf16(int64_t, int64_t, int64_t, const uint16_t*, int64_t, const uint16_t*, int64_t, float*,
               int64_t) {}
bool narrow_plain_bf16(const float*, uint16_t*, int64_t) { return false; }
#endif

}  // namespace isa_avx512bf16
}  // namespace pysampled
