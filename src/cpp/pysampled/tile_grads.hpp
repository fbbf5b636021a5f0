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
  parallel_for((S + stile - 1) / stile, threads, [&](int64_t t) {
    const int64_t j0 = t * stile;
    const int64_t ms = std::min(stile, S - j0);
    T* C = dW + j0 * Dp;
    if (B == 0) std::fill(C, C + ms * Dp, T(0));
    // Where the rows of G are a page or more apart (S >= 1024 in float32),
    // the tile's block of G (kb rows of ms columns) is first copied to a
    // contiguous buffer: the GEMM reads the block once per micro tile, and
    // read in place each k-step would be a new page (S = 4096: 4.5% faster
    // on a Xeon; for narrower G the copy costs more than it saves). Same
    // products in the same order: the copy changes no bit.
    const bool copy_block = ldg * static_cast<int64_t>(sizeof(T)) >= 4096;
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
      k.gemm(ms, Dp, kb, A, 1, lda, X + k0 * Dp, Dp, k.panel_width, C, Dp, k0 > 0);
    }
    if (db != nullptr) {
      T* d = db + j0;
      std::fill(d, d + ms, T(0));
      for (int64_t i = 0; i < B; ++i) {
        const T* g = G + i * ldg + j0;
        for (int64_t j = 0; j < ms; ++j) d[j] += g[j];
      }
    }
    after_tile(j0, ms);
  });
}

}  // namespace pysampled
