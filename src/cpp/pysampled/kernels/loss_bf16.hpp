// The logits product with bfloat16 operands on CPUs with AVX512-BF16
// (vdpbf16ps), chosen at run time.
//
// Design: when the inputs and the weights both hold bfloat16 values (the
// inputs were bfloat16, the weight shards are bfloat16), every product of
// the logits GEMM X Ws^T is exact in float32, so vdpbf16ps (two exact
// products added into a float32 accumulator) computes the same sum as the
// float32 path in another order: the two agree to float32 rounding, as two
// SIMD levels do. The instruction treats bfloat16 subnormals as zero and
// flushes float32 subnormal results, so the caller uses it only when no
// operand is subnormal. The backward products keep the float32 path (their
// left operand, dLoss/dlogits, is not bfloat16) unless the caller asks for
// dLoss/dlogits rounded to bfloat16 (SampledLossInput::bf16_grads): then
// dX = G Ws and dWs^T = X^T G run on the bfloat16 kernel too (AMX, or
// vdpbf16ps where it is native: bf16_dot_grads_enabled below), from G
// rounded by bf16_grad_bits (narrow_grad_pair below).
//
// On CPUs with AMX-BF16 (Intel Sapphire Rapids and later) the same product
// runs on AMX tiles (tdpbf16ps) instead, from the same packed operands, when
// k is a multiple of 32: vdpbf16ps has no more multiply-adds per cycle than
// float32 FMAs there and measured slower than the float32 path
// (benchmarks/RESULTS.md), while a tile instruction does 16 x 16 x 32.
#pragma once

#include <cstdint>
#include <cstring>

namespace pysampled {

// The bfloat16 that a gradient value becomes with bf16_grads: float32
// subnormals become zero of their sign (the bfloat16 kernels read bfloat16
// subnormals as zero), a NaN keeps its upper half with the quiet bit set
// (as vcvtne2ps2bf16 does), any other value is rounded to nearest, ties to
// even (overflowing to infinity).
inline uint16_t bf16_grad_bits(float v) {
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  if ((u & 0x7f800000u) == 0) return static_cast<uint16_t>((u >> 16) & 0x8000u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

// True if the CPU and the build can run the kernel below.
bool bf16_dot_available();
// Tests and benchmarks switch the kernel off (on by default where available).
void set_bf16_dot_enabled(bool enabled);
bool bf16_dot_enabled();

// Whether, without AMX, the gradient products of bf16_grads run on
// vdpbf16ps (else on the float32 kernels, reading the same rounded G). On by
// default on AMD CPUs (Zen 4 and later), which run vdpbf16ps at twice the
// multiply-adds per cycle of float32 FMAs; off on Intel's, where it measured
// slower than the float32 kernels (benchmarks/RESULTS.md). Tests and
// benchmarks switch it.
void set_bf16_dot_grads_enabled(bool enabled);
bool bf16_dot_grads_enabled();

// True if the CPU, the OS (Linux grants the tile state on request) and the
// build can run the AMX kernel; tests and benchmarks switch it off.
bool amx_bf16_available();
void set_amx_bf16_enabled(bool enabled);
bool amx_bf16_enabled();

// Panel width (columns) of the packed B operand.
constexpr int kBf16PanelWidth = 32;

namespace isa_avx512bf16 {
// C[m, 0..n) = A B, A: m rows of k bfloat16 (k even, row stride lda), B:
// ceil(n / 32) panels, panel p at B + p * panel_stride laid out [k/2][32][2]
// (the pair (B(2i, c), B(2i+1, c)) adjacent). C float32, row stride ldc.
void gemm_bf16(int64_t m, int64_t n, int64_t k, const uint16_t* A, int64_t lda, const uint16_t* B,
               int64_t panel_stride, float* C, int64_t ldc);
// dst[i] = the upper half of src[i]'s bits; true if every src[i] is a
// bfloat16 value the kernels read as itself (lower half zero, not
// subnormal), else dst is not to be used. Vectorised at this level, where
// the float32 inputs of a call are checked and narrowed in one pass.
bool narrow_plain_bf16(const float* src, uint16_t* dst, int64_t n);
// Two rows of gradients g0, g1 (n floats each; a null row: zeros)
// rounded by bf16_grad_bits into (1) plain rows p0, p1 (null: not written)
// of round_up(n, 32) values, zero past n, and (2) their pair lines in
// panels of 32 columns: columns 32q.. of the pair at pairs + q *
// panel_stride, laid out [32][2] (g0's value first), zero past n.
void narrow_grad_pair(const float* g0, const float* g1, int64_t n, uint16_t* p0, uint16_t* p1,
                      uint16_t* pairs, int64_t panel_stride);
// out[c] = the float32 sum over i = 0 .. 2 npairs - 1, in that order, of
// row i's value in column c of one pair panel ([npairs][32][2]).
void pair_column_sums(const uint16_t* panel, int64_t npairs, float* out);
// dst[c * ldd + r] = src[r * lds + c] for r < rows, c < cols (32-bit values).
void transpose_32(const uint32_t* src, int64_t lds, int64_t rows, int64_t cols, uint32_t* dst, int64_t ldd);
// out[d * rows_padded + b] = x[b * ld + d] for b < rows, 0 for rows <= b <
// rows_padded (a multiple of 32), d < cols (a multiple of 16).
void transpose_bf16(const uint16_t* x, int64_t ld, int64_t rows, int64_t cols, int64_t rows_padded,
                    uint16_t* out);
// The logits product's panel of 32 rows (rows of `cols` floats holding
// bfloat16 values, `ld` apart; fewer than 32: zeros after them), laid out
// [cols/2][32][2]: the rows' upper halves, pairs of columns adjacent; true
// if a value is a bfloat16 subnormal. cols is a multiple of 32.
bool pack_rows_bf16(const float* rows, int64_t nrows, int64_t ld, int64_t cols, uint16_t* panel);
}  // namespace isa_avx512bf16

namespace isa_amxbf16 {
// The same product and operands as isa_avx512bf16::gemm_bf16; k % 32 == 0.
void gemm_bf16(int64_t m, int64_t n, int64_t k, const uint16_t* A, int64_t lda, const uint16_t* B,
               int64_t panel_stride, float* C, int64_t ldc);
}  // namespace isa_amxbf16

}  // namespace pysampled
