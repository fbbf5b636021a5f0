// The tiling helpers shared by the loss orchestrations (sampled_loss.cpp,
// row_loss.cpp, in_batch.cpp): rounding of padded sizes, and the weight
// gradient of a set of shared columns, dW = G^T X (plus db = the column sums
// of G), computed over tiles of columns.
//
// Design: each column tile is one parallel task that owns its rows of dW and
// db, and sums over the batch in fixed blocks of 256 rows, in order, so every
// element comes from the same arithmetic whatever the thread count.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/loss.hpp"
#include "parallel.hpp"

namespace pysampled {

inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Copies rows [n, Dp] (row stride Dp) into column panels for a GEMM's B
// operand: panel p holds columns p*NR .. p*NR+NR-1 of every row, as
// dst[p * n * NR + i * NR + c] (the last panel may be partly filled, as
// LossKernels::gemm reads only the valid lanes). Read with ldb = NR and
// panel_stride = n * NR, a k-step of the GEMM then reads one contiguous
// line pair rather than the same columns of rows Dp apart (dX = G Ws at
// S = 4096: 16% faster on a Xeon). Packing moves values; it changes no
// product or sum.
// Row i of the n rows (Dp values) into its lines of those panels.
template <class T>
void pack_column_panels_row(const T* row, int64_t i, int64_t n, int64_t Dp, int64_t NR, T* dst) {
  for (int64_t p = 0; p * NR < Dp; ++p) {
    const int64_t w = std::min(NR, Dp - p * NR);
    std::copy(row + p * NR, row + p * NR + w, dst + (p * n + i) * NR);
  }
}

template <class T>
void pack_column_panels(const T* src, int64_t n, int64_t Dp, int64_t NR, T* dst, int threads) {
  constexpr int64_t kChunk = 128;
  parallel_for((n + kChunk - 1) / kChunk, threads, [&](int64_t ch) {
    const int64_t end = std::min(n, (ch + 1) * kChunk);
    for (int64_t i = ch * kChunk; i < end; ++i) pack_column_panels_row(src + i * Dp, i, n, Dp, NR, dst);
  });
}

inline int64_t column_panels_size(int64_t n, int64_t Dp, int64_t NR) {
  return (Dp + NR - 1) / NR * n * NR;
}

// dW[j, :] = sum_i G[i * ldg + j] * X[i * Dp : (i + 1) * Dp] for the S columns
// j of G (B rows), into dW (S x Dp, row stride Dp), and, when db is not null,
// db[j] = sum_i G[i * ldg + j]. X is row-major (B x Dp, Dp a multiple of the
// SIMD lanes). After a tile's rows are complete, after_tile(j0, ms) runs in
// the same task.
template <class T, class AfterTile>
void column_tile_grads(const LossKernels<T>& k, const T* G, int64_t ldg, const T* X, int64_t B,
                       int64_t S, int64_t Dp, int threads, T* dW, T* db,
                       AfterTile&& after_tile) {
  const int64_t stile = std::max<int64_t>(12, std::min<int64_t>(48, round_up(S / (4 * threads) + 1, 12)));
  constexpr int64_t kKb = 256;
  // Where the columns are many (S >= 1024), X as column panels (see
  // pack_column_panels), packed once for all tiles; with fewer tiles the
  // packing costs more than it saves (S = 64: 3-5% slower calls on a Xeon).
  const int64_t NR = k.panel_width;
  const bool pack_x = S >= 1024;
  thread_local std::vector<T> xp;
  if (pack_x) {
    const size_t xp_size = static_cast<size_t>(column_panels_size(B, Dp, NR));
#ifdef PYSAMPLED_SANITIZE
    xp.resize(xp_size);  // exact, so that ASan sees a read past this call's part
#else
    if (xp.size() < xp_size) xp.resize(xp_size);
#endif
    pack_column_panels(X, B, Dp, NR, xp.data(), threads);
  }
  const T* Xb = pack_x ? xp.data() : X;
  const int64_t ldx = pack_x ? NR : Dp, x_panel_stride = pack_x ? B * NR : NR;
  parallel_for((S + stile - 1) / stile, threads, [&](int64_t t) {
    const int64_t j0 = t * stile;
    const int64_t ms = std::min(stile, S - j0);
    T* C = dW + j0 * Dp;
    if (B == 0) std::fill(C, C + ms * Dp, T(0));
    // Where the rows of G are 2 KiB or more apart (S >= 512 in float32),
    // the tile's block of G (kb rows of ms columns) is first copied to a
    // contiguous buffer: the GEMM reads the block once per micro tile, and
    // read in place each k-step would be a new page or half page, and on
    // several threads a line the other core wrote (Xeon, this phase: S = 4096
    // 4.5% faster; S = 512 6% faster on 1 thread, 25% on 2; S = 256 4%
    // slower on 1 thread, 8% faster on 2; S = 64 8-10% slower). Same
    // products in the same order: the copy changes no bit.
    const bool copy_block = ldg * static_cast<int64_t>(sizeof(T)) >= 2048;
    thread_local std::vector<T> block;
    if (copy_block && block.size() < static_cast<size_t>(kKb * stile)) {
      block.resize(static_cast<size_t>(kKb * stile));
    }
    for (int64_t k0 = 0; k0 < B; k0 += kKb) {
      const int64_t kb = std::min(kKb, B - k0);
      const T* A = G + k0 * ldg + j0;
      int64_t lda = ldg;
      if (copy_block) {
        for (int64_t i = 0; i < kb; ++i) std::copy(A + i * ldg, A + i * ldg + ms, block.data() + i * ms);
        A = block.data();
        lda = ms;
      }
      k.gemm(ms, Dp, kb, A, 1, lda, Xb + k0 * ldx, ldx, x_panel_stride, C, Dp, k0 > 0);
      // db sums the block the product has just brought into the cache
      // (read again after the whole product, G's rows were cache misses).
      if (db != nullptr) {
        T* d = db + j0;
        if (k0 == 0) std::fill(d, d + ms, T(0));
        for (int64_t i = 0; i < kb; ++i) {
          const T* g = A + i * lda;
          for (int64_t j = 0; j < ms; ++j) d[j] += g[j];
        }
      }
    }
    if (db != nullptr && B == 0) std::fill(db + j0, db + j0 + ms, T(0));
    after_tile(j0, ms);
  });
}

}  // namespace pysampled
