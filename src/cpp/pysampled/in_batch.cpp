#include "in_batch.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <utility>
#include <vector>

#include "isa.hpp"
#include "kernels/loss.hpp"
#include "parallel.hpp"

namespace pysampled {

namespace {

inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

template <class T>
struct InBatchWorkspace {
  std::vector<T> q;     // [B, Dp] zero-padded query rows
  std::vector<T> ce;    // [B + S, Dp] candidate rows, then extra rows
  std::vector<T> pack;  // panels of ce^T for the logits GEMM
  std::vector<T> lg;    // [B, B + S]: logits, then dLoss/dlogits
  std::vector<T> dq;    // [B, Dp]
  std::vector<T> dce;   // [B + S, Dp]
  std::vector<int64_t> hit_start, hit_col;
  std::vector<std::pair<int64_t, int64_t>> order;
};

template <class T>
InBatchWorkspace<T>& in_batch_workspace() {
  thread_local InBatchWorkspace<T> ws;
  return ws;
}

template <class T>
void grow(std::vector<T>& v, size_t n) {
#ifdef PYSAMPLED_SANITIZE
  v.resize(n);
#else
  if (v.size() < n) v.resize(n);
#endif
}

// Per-row lists of masked columns (accidental hits), in increasing column order.
template <class T>
void build_hits(const InBatchInput<T>& in, std::vector<int64_t>& start, std::vector<int64_t>& col,
                std::vector<std::pair<int64_t, int64_t>>& order) {
  const int64_t B = in.batch, S = in.num_extra;
  start.assign(static_cast<size_t>(B + 1), 0);
  col.clear();
  if (!in.remove_accidental_hits || in.candidate_ids == nullptr) return;
  order.resize(static_cast<size_t>(B));
  for (int64_t j = 0; j < B; ++j) order[j] = {in.candidate_ids[j], j};
  std::sort(order.begin(), order.end());
  std::vector<std::pair<int64_t, int64_t>> extra;
  if (in.extra_ids != nullptr) {
    extra.resize(static_cast<size_t>(S));
    for (int64_t k = 0; k < S; ++k) extra[k] = {in.extra_ids[k], k};
    std::sort(extra.begin(), extra.end());
  }
  for (int64_t i = 0; i < B; ++i) {
    const int64_t id = in.candidate_ids[i];
    const std::pair<int64_t, int64_t> lo{id, INT64_MIN}, hi{id, INT64_MAX};
    auto a = std::lower_bound(order.begin(), order.end(), lo);
    auto b = std::upper_bound(a, order.end(), hi);
    for (auto it = a; it != b; ++it) {
      if (it->second != i) col.push_back(it->second);
    }
    if (!extra.empty()) {
      auto ea = std::lower_bound(extra.begin(), extra.end(), lo);
      auto eb = std::upper_bound(ea, extra.end(), hi);
      for (auto it = ea; it != eb; ++it) col.push_back(B + it->second);
    }
    start[i + 1] = static_cast<int64_t>(col.size());
  }
}

}  // namespace

template <class T>
void in_batch_softmax(const InBatchInput<T>& in, InBatchOutput<T>& out) {
  if (in.batch < 0 || in.dim < 0 || in.num_extra < 0) throw std::invalid_argument("invalid problem sizes");
  if (!(in.temperature > T(0)) || !std::isfinite(in.temperature)) {
    throw std::invalid_argument("temperature must be a positive finite number");
  }
  const LossKernels<T>& k = loss_kernels<T>(active_isa());
  InBatchWorkspace<T>& ws = in_batch_workspace<T>();
  const int threads = std::max(1, in.num_threads);
  const int64_t B = in.batch, D = in.dim, S = in.num_extra, N = B + S;
  if (B == 0) {
    if (in.want_grads && out.d_extra != nullptr && S > 0 && D > 0) {
      std::fill(out.d_extra, out.d_extra + S * D, T(0));
    }
    return;
  }
  const int64_t NR = k.panel_width;
  const int64_t Dp = round_up(std::max<int64_t>(D, 1), k.lanes);
  const int64_t Np = round_up(N, NR);
  // Row stride of the logits: a multiple of 16 elements plus 16, so that
  // consecutive rows never sit a power of two apart (rows 2^k bytes apart
  // share cache sets: the GEMMs reading down columns slowed 2x at B = 8192).
  const int64_t ldl = round_up(N, 16) + 16;
  const T tau = in.temperature;
  const bool scale = tau != T(1);

  grow(ws.q, static_cast<size_t>(B * Dp));
  grow(ws.ce, static_cast<size_t>(N * Dp));
  grow(ws.pack, static_cast<size_t>(Np * Dp));
  grow(ws.lg, static_cast<size_t>(B * ldl));

  // ---- copy rows into zero-padded buffers
  constexpr int64_t kCopyChunk = 256;
  const int64_t n_rows = B + N;
  parallel_for((n_rows + kCopyChunk - 1) / kCopyChunk, threads, [&](int64_t c) {
    const int64_t end = std::min(n_rows, (c + 1) * kCopyChunk);
    for (int64_t r = c * kCopyChunk; r < end; ++r) {
      const T* src;
      T* dst;
      if (r < B) {
        src = in.query + r * in.query_stride;
        dst = ws.q.data() + r * Dp;
      } else if (r < 2 * B) {
        src = in.candidates + (r - B) * in.candidates_stride;
        dst = ws.ce.data() + (r - B) * Dp;
      } else {
        src = in.extra + (r - 2 * B) * in.extra_stride;
        dst = ws.ce.data() + (r - B) * Dp;
      }
      if (D > 0) std::memcpy(dst, src, sizeof(T) * D);
      std::fill(dst + D, dst + Dp, T(0));
    }
  });
  parallel_for(Np / NR, threads, [&](int64_t p) {
    T* panel = ws.pack.data() + p * Dp * NR;
    for (int64_t c = 0; c < NR; ++c) {
      const int64_t j = p * NR + c;
      if (j < N) {
        const T* row = ws.ce.data() + j * Dp;
        for (int64_t d = 0; d < Dp; ++d) panel[d * NR + c] = row[d];
      } else {
        for (int64_t d = 0; d < Dp; ++d) panel[d * NR + c] = T(0);
      }
    }
  });
  build_hits(in, ws.hit_start, ws.hit_col, ws.order);
  const bool grads = in.want_grads;
  if (grads) grow(ws.dq, static_cast<size_t>(B * Dp));

  // ---- phase 1: row tiles: logits, softmax, dL/dlogits, dQ
  const int64_t tile = std::max<int64_t>(8, std::min<int64_t>(64, round_up(B / (4 * threads) + 1, 8)));
  constexpr int64_t kKc = 256;
  const T mask_value = static_cast<T>(-FLT_MAX);
  parallel_for((B + tile - 1) / tile, threads, [&](int64_t t) {
    const int64_t r0 = t * tile;
    const int64_t mb = std::min(tile, B - r0);
    T* L = ws.lg.data() + r0 * ldl;
    k.gemm(mb, N, Dp, ws.q.data() + r0 * Dp, Dp, 1, ws.pack.data(), NR, Dp * NR, L, ldl, false);
    std::vector<T> raw;
    for (int64_t i = r0; i < r0 + mb; ++i) {
      T* row = ws.lg.data() + i * ldl;
      const int64_t h0 = ws.hit_start[i], h1 = ws.hit_start[i + 1];
      raw.resize(static_cast<size_t>(h1 - h0));
      for (int64_t h = h0; h < h1; ++h) raw[h - h0] = row[ws.hit_col[h]];
      if (scale) {
        for (int64_t j = 0; j < N; ++j) row[j] = row[j] / tau;
      }
      if (in.log_q != nullptr) {
        for (int64_t j = 0; j < B; ++j) row[j] = row[j] - in.log_q[j];
      }
      if (in.extra_log_q != nullptr) {
        T* e = row + B;
        for (int64_t j = 0; j < S; ++j) e[j] = e[j] - in.extra_log_q[j];
      }
      for (int64_t h = h0; h < h1; ++h) {
        const int64_t j = ws.hit_col[h];
        T v = (scale ? raw[h - h0] / tau : raw[h - h0]) + mask_value;
        if (j < B) {
          if (in.log_q != nullptr) v = v - in.log_q[j];
        } else if (in.extra_log_q != nullptr) {
          v = v - in.extra_log_q[j - B];
        }
        row[j] = v;
      }
      if (out.logits != nullptr) std::memcpy(out.logits + i * N, row, sizeof(T) * N);
      const T u = in.upstream != nullptr ? in.upstream[i] : T(1);
      // The target is column i: move it to the front for the row kernel.
      std::swap(row[0], row[i]);
      out.loss[i] = k.softmax_row(row, N, 1, u);
      std::swap(row[0], row[i]);
      if (grads && scale) {
        for (int64_t j = 0; j < N; ++j) row[j] = row[j] / tau;
      }
    }
    if (!grads) return;
    T* dq = ws.dq.data() + r0 * Dp;
    for (int64_t k0 = 0; k0 < N; k0 += kKc) {
      const int64_t kc = std::min(kKc, N - k0);
      k.gemm(mb, Dp, kc, L + k0, ldl, 1, ws.ce.data() + k0 * Dp, Dp, NR, dq, Dp, k0 > 0);
    }
  });
  if (!grads) return;
  if (out.d_query != nullptr && D > 0) {
    for (int64_t i = 0; i < B; ++i) std::memcpy(out.d_query + i * D, ws.dq.data() + i * Dp, sizeof(T) * D);
  }

  // ---- phase 2: column tiles: dC' = G^T Q
  grow(ws.dce, static_cast<size_t>(N * Dp));
  const int64_t ctile = std::max<int64_t>(12, std::min<int64_t>(48, round_up(N / (4 * threads) + 1, 12)));
  parallel_for((N + ctile - 1) / ctile, threads, [&](int64_t t) {
    const int64_t j0 = t * ctile;
    const int64_t ms = std::min(ctile, N - j0);
    T* C = ws.dce.data() + j0 * Dp;
    for (int64_t k0 = 0; k0 < B; k0 += kKc) {
      const int64_t kb = std::min(kKc, B - k0);
      k.gemm(ms, Dp, kb, ws.lg.data() + k0 * ldl + j0, 1, ldl, ws.q.data() + k0 * Dp, Dp, NR, C, Dp,
             k0 > 0);
    }
    if (D == 0) return;
    for (int64_t j = j0; j < j0 + ms; ++j) {
      T* base = j < B ? out.d_candidates : out.d_extra;
      if (base != nullptr) std::memcpy(base + (j < B ? j : j - B) * D, ws.dce.data() + j * Dp, sizeof(T) * D);
    }
  });
}

template void in_batch_softmax<float>(const InBatchInput<float>&, InBatchOutput<float>&);
template void in_batch_softmax<double>(const InBatchInput<double>&, InBatchOutput<double>&);

}  // namespace pysampled
