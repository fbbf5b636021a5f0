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

// vdpbf16ps is native on AMD's CPUs that have it (Zen 4 and later: two
// products per float32 lane at the FMA rate); Intel's run it slower than
// two FMAs.
bool bf16_dot_native() {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  return __builtin_cpu_is("amd");
#else
  return false;
#endif
}

std::atomic<bool> g_grads_enabled{bf16_dot_native()};
}  // namespace

void set_bf16_dot_enabled(bool enabled) { g_enabled.store(enabled, std::memory_order_relaxed); }
bool bf16_dot_enabled() { return g_enabled.load(std::memory_order_relaxed); }
void set_bf16_dot_grads_enabled(bool enabled) { g_grads_enabled.store(enabled, std::memory_order_relaxed); }
bool bf16_dot_grads_enabled() { return g_grads_enabled.load(std::memory_order_relaxed); }

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
namespace {
// 16 gradients with float32 subnormals replaced by zero of their sign.
inline __m512 flush_subnormals(__m512 x) {
  const __m512i u = _mm512_castps_si512(x);
  const __mmask16 tiny = _mm512_testn_epi32_mask(u, _mm512_set1_epi32(0x7f800000));
  return _mm512_castsi512_ps(_mm512_mask_and_epi32(u, tiny, u, _mm512_set1_epi32(static_cast<int>(0x80000000u))));
}

// 32 values of a row from column c (n columns in all; zeros past n),
// rounded by bf16_grad_bits (loss_bf16.hpp): vcvtne2ps2bf16 rounds normal
// values to nearest even and quiets NaNs as that rule does, after the
// subnormals were flushed.
inline __m512i round_row32(const float* g, int64_t c, int64_t n) {
  if (g == nullptr) return _mm512_setzero_si512();
  const int64_t left = n - c;
  const __mmask16 m0 = left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1);
  const __mmask16 m1 = left >= 32 ? __mmask16(0xffff) : left <= 16 ? __mmask16(0) : __mmask16((1u << (left - 16)) - 1);
  const __m512 lo = flush_subnormals(_mm512_maskz_loadu_ps(m0, g + c));
  const __m512 hi = flush_subnormals(_mm512_maskz_loadu_ps(m1, g + c + 16));
  return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);  // (its second operand fills the low half)
}
}  // namespace

void narrow_grad_pair(const float* g0, const float* g1, int64_t n, uint16_t* p0, uint16_t* p1,
                      uint16_t* pairs, int64_t panel_stride) {
  // Output element j of the first half: g0[j/2] (j even) or g1[j/2] (j
  // odd); the second half continues from column 16.
  alignas(64) static const uint16_t kLo[32] = {0, 32, 1, 33, 2, 34, 3, 35, 4, 36, 5, 37, 6, 38, 7, 39,
                                              8, 40, 9, 41, 10, 42, 11, 43, 12, 44, 13, 45, 14, 46, 15, 47};
  alignas(64) static const uint16_t kHi[32] = {16, 48, 17, 49, 18, 50, 19, 51, 20, 52, 21, 53, 22, 54, 23, 55,
                                              24, 56, 25, 57, 26, 58, 27, 59, 28, 60, 29, 61, 30, 62, 31, 63};
  const __m512i lo_idx = _mm512_load_si512(kLo), hi_idx = _mm512_load_si512(kHi);
  for (int64_t c = 0, q = 0; c < n; c += 32, ++q) {
    const __m512i a = round_row32(g0, c, n), b = round_row32(g1, c, n);
    if (p0 != nullptr) _mm512_storeu_si512(p0 + c, a);
    if (p1 != nullptr) _mm512_storeu_si512(p1 + c, b);
    uint16_t* dst = pairs + q * panel_stride;
    _mm512_storeu_si512(dst, _mm512_permutex2var_epi16(a, lo_idx, b));
    _mm512_storeu_si512(dst + 32, _mm512_permutex2var_epi16(a, hi_idx, b));
  }
}

void pair_column_sums(const uint16_t* panel, int64_t npairs, float* out) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  const __m512i upper = _mm512_set1_epi32(static_cast<int>(0xffff0000u));
  for (int64_t i = 0; i < npairs; ++i) {
    // Each 32-bit lane holds one column's pair: the even row's value in its
    // low half, the odd row's in its high half.
    const __m512i v0 = _mm512_loadu_si512(panel + i * 64);
    const __m512i v1 = _mm512_loadu_si512(panel + i * 64 + 32);
    acc0 = _mm512_add_ps(acc0, _mm512_castsi512_ps(_mm512_slli_epi32(v0, 16)));
    acc1 = _mm512_add_ps(acc1, _mm512_castsi512_ps(_mm512_slli_epi32(v1, 16)));
    acc0 = _mm512_add_ps(acc0, _mm512_castsi512_ps(_mm512_and_si512(v0, upper)));
    acc1 = _mm512_add_ps(acc1, _mm512_castsi512_ps(_mm512_and_si512(v1, upper)));
  }
  _mm512_storeu_ps(out, acc0);
  _mm512_storeu_ps(out + 16, acc1);
}
namespace {
// Transposes 16 x 16 32-bit values in registers: r[i] holds row i; on
// return r[c] holds column c.
inline void transpose16(__m512i r[16]) {
  __m512i t[16], u[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);  // per 128-bit lane k: rows i, i+1 at 4k, 4k+1
    t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);  // ... at 4k+2, 4k+3
  }
  for (int g = 0; g < 4; ++g) {  // rows 4g .. 4g+3: u[4g + j] lane k = their column 4k + j
    u[4 * g + 0] = _mm512_unpacklo_epi64(t[4 * g], t[4 * g + 2]);
    u[4 * g + 1] = _mm512_unpackhi_epi64(t[4 * g], t[4 * g + 2]);
    u[4 * g + 2] = _mm512_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
    u[4 * g + 3] = _mm512_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
  }
  for (int j = 0; j < 4; ++j) {  // column 4k + j: lane m = u[4m + j] lane k
    const __m512i v0 = _mm512_shuffle_i32x4(u[j], u[4 + j], 0x88);
    const __m512i v1 = _mm512_shuffle_i32x4(u[j], u[4 + j], 0xDD);
    const __m512i v2 = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0x88);
    const __m512i v3 = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0xDD);
    r[j] = _mm512_shuffle_i32x4(v0, v2, 0x88);
    r[8 + j] = _mm512_shuffle_i32x4(v0, v2, 0xDD);
    r[4 + j] = _mm512_shuffle_i32x4(v1, v3, 0x88);
    r[12 + j] = _mm512_shuffle_i32x4(v1, v3, 0xDD);
  }
}
}  // namespace

void transpose_32(const uint32_t* src, int64_t lds, int64_t rows, int64_t cols, uint32_t* dst, int64_t ldd) {
  const int64_t r16 = rows / 16 * 16, c16 = cols / 16 * 16;
  __m512i r[16];
  for (int64_t r0 = 0; r0 < r16; r0 += 16) {
    for (int64_t c0 = 0; c0 < c16; c0 += 16) {
      for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_si512(src + (r0 + i) * lds + c0);
      transpose16(r);
      for (int i = 0; i < 16; ++i) _mm512_storeu_si512(dst + (c0 + i) * ldd + r0, r[i]);
    }
  }
  for (int64_t rr = 0; rr < rows; ++rr) {  // the edges
    for (int64_t c = rr < r16 ? c16 : 0; c < cols; ++c) dst[c * ldd + rr] = src[rr * lds + c];
  }
}

void transpose_bf16(const uint16_t* x, int64_t ld, int64_t rows, int64_t cols, int64_t rows_padded,
                    uint16_t* out) {
  // Pairs of rows (2i, 2i+1) as 32-bit words per column, 16 pairs x 16
  // columns transposed at a time: out's row d holds the words of pairs.
  __m512i r[16];
  uint32_t* o = reinterpret_cast<uint32_t*>(out);  // rows_padded / 2 words per row
  const int64_t wpr = rows_padded / 2;
  for (int64_t p0 = 0; p0 < wpr; p0 += 16) {
    for (int64_t d0 = 0; d0 < cols; d0 += 16) {
      for (int i = 0; i < 16; ++i) {
        const int64_t b = 2 * (p0 + i);
        const __m256i lo = b < rows ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + b * ld + d0))
                                    : _mm256_setzero_si256();
        const __m256i hi = b + 1 < rows
                               ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + (b + 1) * ld + d0))
                               : _mm256_setzero_si256();
        r[i] = _mm512_or_si512(_mm512_cvtepu16_epi32(lo), _mm512_slli_epi32(_mm512_cvtepu16_epi32(hi), 16));
      }
      transpose16(r);
      for (int i = 0; i < 16; ++i) _mm512_storeu_si512(o + (d0 + i) * wpr + p0, r[i]);
    }
  }
}

bool pack_rows_bf16(const float* rows, int64_t nrows, int64_t ld, int64_t cols, uint16_t* panel) {
  // Row j's words (upper halves of its values 2i, 2i+1) for 16 words at a
  // time, 16 rows x 16 words transposed: word i of rows 0..31 is panel line i.
  uint32_t* out = reinterpret_cast<uint32_t*>(panel);  // [cols/2][32] words
  const __m512i m7f80 = _mm512_set1_epi32(0x7f80), m007f = _mm512_set1_epi32(0x007f);
  __mmask16 sub = 0;
  __m512i r[16];
  for (int64_t j0 = 0; j0 < 32; j0 += 16) {
    for (int64_t w0 = 0; w0 < cols / 2; w0 += 16) {
      for (int i = 0; i < 16; ++i) {
        const int64_t j = j0 + i;
        if (j >= nrows) {
          r[i] = _mm512_setzero_si512();
          continue;
        }
        const float* f = rows + j * ld + 2 * w0;
        const __m512i e0 = _mm512_srli_epi32(_mm512_loadu_si512(f), 16);
        const __m512i e1 = _mm512_srli_epi32(_mm512_loadu_si512(f + 16), 16);
        sub |= _mm512_test_epi32_mask(e0, m007f) & _mm512_testn_epi32_mask(e0, m7f80);
        sub |= _mm512_test_epi32_mask(e1, m007f) & _mm512_testn_epi32_mask(e1, m7f80);
        // low 32 bits of each 64-bit lane: the even value's half, then the odd one's
        const __m256i w0v = _mm512_cvtepi64_epi32(_mm512_or_si512(e0, _mm512_srli_epi64(e0, 16)));
        const __m256i w1v = _mm512_cvtepi64_epi32(_mm512_or_si512(e1, _mm512_srli_epi64(e1, 16)));
        r[i] = _mm512_inserti64x4(_mm512_castsi256_si512(w0v), w1v, 1);
      }
      transpose16(r);
      for (int i = 0; i < 16; ++i) _mm512_storeu_si512(out + (w0 + i) * 32 + j0, r[i]);
    }
  }
  return sub != 0;
}
#else
void transpose_32(const uint32_t*, int64_t, int64_t, int64_t, uint32_t*, int64_t) {}
void transpose_bf16(const uint16_t*, int64_t, int64_t, int64_t, int64_t, uint16_t*) {}
bool pack_rows_bf16(const float*, int64_t, int64_t, int64_t, uint16_t*) { return false; }
void gemm_bf16(int64_t, int64_t, int64_t, const uint16_t*, int64_t, const uint16_t*, int64_t, float*,
               int64_t) {}
bool narrow_plain_bf16(const float*, uint16_t*, int64_t) { return false; }
void narrow_grad_pair(const float*, const float*, int64_t, uint16_t*, uint16_t*, uint16_t*, int64_t) {}
void pair_column_sums(const uint16_t*, int64_t, float*) {}
#endif

}  // namespace isa_avx512bf16
}  // namespace pysampled
