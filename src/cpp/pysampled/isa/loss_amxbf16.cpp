// The bfloat16 logits GEMM on AMX tiles (tdpbf16ps), compiled with
// -mamx-tile -mamx-bf16 and run only where amx_bf16_available().
//
// It reads the operands of isa_avx512bf16::gemm_bf16 in the same layout:
// the packed panels [k/2][32][2] are, 16 columns at a time, exactly AMX's
// "VNNI" B tile (16 rows of 16 bfloat16 pairs, row stride 128 bytes), and
// the inputs are plain rows of k bfloat16. A 32 x 32 block of C is four
// 16 x 16 float32 tiles accumulated over k in steps of 32; blocks that
// C cannot hold whole (the last rows, the last panel's unused columns) go
// through a local buffer. The products are exact (bfloat16 x bfloat16 in
// float32) and bfloat16 subnormals are read as zero, as with vdpbf16ps: the
// caller uses the kernel under the same conditions.
#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#include "../kernels/loss_bf16.hpp"

namespace pysampled {

bool amx_bf16_available() {
#if defined(__x86_64__) && defined(__GNUC__) && defined(__AMX_BF16__) && defined(__AMX_TILE__) && \
    defined(__linux__)
  static const bool ok = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (__get_cpuid_max(0, nullptr) < 7) return false;
    __cpuid_count(7, 0, a, b, c, d);
    const bool tile = (d >> 24) & 1u, bf16 = (d >> 22) & 1u;
    if (!tile || !bf16) return false;
    __cpuid(1, a, b, c, d);
    if (!((c >> 27) & 1u)) return false;  // no OSXSAVE: no XCR0 to read
    uint32_t lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    const uint64_t xcr0 = (static_cast<uint64_t>(hi) << 32) | lo;
    if ((xcr0 & (uint64_t{3} << 17)) != (uint64_t{3} << 17)) return false;  // XTILECFG, XTILEDATA
    // Linux hands out the 8 KiB tile state only on request (per process,
    // inherited by threads and forked children): ARCH_REQ_XCOMP_PERM for
    // XFEATURE_XTILEDATA.
    constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
  }();
  return ok;
#else
  return false;
#endif
}

namespace {
std::atomic<bool> g_amx_enabled{true};
}

void set_amx_bf16_enabled(bool enabled) { g_amx_enabled.store(enabled, std::memory_order_relaxed); }
bool amx_bf16_enabled() { return g_amx_enabled.load(std::memory_order_relaxed); }

namespace isa_amxbf16 {

#if defined(__AMX_BF16__) && defined(__AMX_TILE__)
namespace {

struct alignas(64) TileConfig {
  uint8_t palette_id = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// Tiles 0-3: C (16 x 16 float32); 4, 5: A row blocks (16 x 32 bfloat16);
// 6, 7: B column halves (16 pair-rows x 16 columns).
void configure() {
  TileConfig cfg;
  for (int t = 0; t < 8; ++t) {
    cfg.rows[t] = 16;
    cfg.colsb[t] = 64;
  }
  _tile_loadconfig(&cfg);
}

// C block (32 x 32, row stride ldc floats) = A (32 rows, stride lda) x panel.
inline void block(int64_t k, const uint16_t* A, int64_t lda, const uint16_t* Bp, float* C, int64_t ldc) {
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  const int64_t a_stride = lda * static_cast<int64_t>(sizeof(uint16_t));
  for (int64_t k0 = 0; k0 < k; k0 += 32) {
    const uint16_t* b = Bp + (k0 / 2) * 2 * kBf16PanelWidth;
    _tile_loadd(4, A + k0, a_stride);
    _tile_loadd(5, A + 16 * lda + k0, a_stride);
    _tile_loadd(6, b, 2 * kBf16PanelWidth * sizeof(uint16_t));
    _tile_loadd(7, b + 32, 2 * kBf16PanelWidth * sizeof(uint16_t));
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  const int64_t c_stride = ldc * static_cast<int64_t>(sizeof(float));
  _tile_stored(0, C, c_stride);
  _tile_stored(1, C + 16, c_stride);
  _tile_stored(2, C + 16 * ldc, c_stride);
  _tile_stored(3, C + 16 * ldc + 16, c_stride);
}

}  // namespace

void gemm_bf16(int64_t m, int64_t n, int64_t k, const uint16_t* A, int64_t lda, const uint16_t* B,
               int64_t panel_stride, float* C, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  configure();
  // The last rows (fewer than 32), zero-padded, and a 32 x 32 result buffer.
  thread_local std::vector<uint16_t> a_tail;
  alignas(64) float buf[32 * 32];
  const int64_t full = m / 32 * 32, rest = m - full;
  if (rest > 0) {
    a_tail.assign(static_cast<size_t>(32 * k), 0);
    std::memcpy(a_tail.data(), A + full * lda, sizeof(uint16_t) * static_cast<size_t>(k));
    for (int64_t r = 1; r < rest; ++r) {
      std::memcpy(a_tail.data() + r * k, A + (full + r) * lda, sizeof(uint16_t) * static_cast<size_t>(k));
    }
  }
  for (int64_t c0 = 0; c0 < n; c0 += kBf16PanelWidth) {
    const uint16_t* Bp = B + (c0 / kBf16PanelWidth) * panel_stride;
    const int64_t nv = std::min<int64_t>(n - c0, kBf16PanelWidth);
    for (int64_t r0 = 0; r0 < m; r0 += 32) {
      const bool tail = r0 == full;
      const uint16_t* a = tail ? a_tail.data() : A + r0 * lda;
      const int64_t a_ld = tail ? k : lda;
      const int64_t rows = tail ? rest : 32;
      if (!tail && nv == kBf16PanelWidth) {
        block(k, a, a_ld, Bp, C + r0 * ldc + c0, ldc);
      } else {
        block(k, a, a_ld, Bp, buf, 32);
        for (int64_t r = 0; r < rows; ++r) {
          std::memcpy(C + (r0 + r) * ldc + c0, buf + r * 32, sizeof(float) * static_cast<size_t>(nv));
        }
      }
    }
  }
  _tile_release();
}
#else
void gemm_bf16(int64_t, int64_t, int64_t, const uint16_t*, int64_t, const uint16_t*, int64_t, float*,
               int64_t) {}
#endif

}  // namespace isa_amxbf16
}  // namespace pysampled
