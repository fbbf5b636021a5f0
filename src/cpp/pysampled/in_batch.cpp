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
#include "tile_grads.hpp"

namespace pysampled {

namespace {


template <class T>
struct InBatchWorkspace {
  std::vector<T> q;     // [B, Dp] zero-padded query rows
  std::vector<T> ce;    // [B + S, Dp] candidate rows, then extra rows
  std::vector<T> pack;  // panels of ce^T for the logits GEMM
  std::vector<T> ce_dx;  // column panels of ce for dq = G ce (pack_column_panels)
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

namespace {

// One call's state, shared by the phases below.
template <class T>
struct InBatchCall {
  const InBatchInput<T>& in;
  InBatchOutput<T>& out;
  const LossKernels<T>& k;
  InBatchWorkspace<T>& ws;
  int threads;
  int64_t B, D, S, N, NR, Dp, Np;
  int64_t ldl;  // row stride of the logits
  T tau;
  bool scale, grads;

  InBatchCall(const InBatchInput<T>& i, InBatchOutput<T>& o, const LossKernels<T>& kk, InBatchWorkspace<T>& w)
      : in(i), out(o), k(kk), ws(w) {
    threads = std::max(1, in.num_threads);
    B = in.batch;
    D = in.dim;
    S = in.num_extra;
    N = B + S;
    NR = k.panel_width;
    Dp = round_up(std::max<int64_t>(D, 1), k.lanes);
    Np = round_up(N, NR);
    // A multiple of 16 elements plus 16, so that consecutive rows never sit
    // a power of two apart (rows 2^k bytes apart share cache sets: the GEMMs
    // reading down columns slowed 2x at B = 8192).
    ldl = round_up(N, 16) + 16;
    tau = in.temperature;
    scale = tau != T(1);
    grads = in.want_grads;
  }
};

// Queries, candidates and extra rows copied into zero-padded buffers; the
// candidate rows packed in panels for the logits GEMM; the hit lists.
template <class T>
void phase_rows(InBatchCall<T>& c) {
  InBatchWorkspace<T>& ws = c.ws;
  const InBatchInput<T>& in = c.in;
  const int64_t B = c.B, D = c.D, Dp = c.Dp, N = c.N, NR = c.NR;
  grow(ws.q, static_cast<size_t>(B * Dp));
  grow(ws.ce, static_cast<size_t>(N * Dp));
  grow(ws.pack, static_cast<size_t>(c.Np * Dp));
  grow(ws.lg, static_cast<size_t>(B * c.ldl));
  constexpr int64_t kCopyChunk = 256;
  const int64_t n_rows = B + N;
  parallel_for((n_rows + kCopyChunk - 1) / kCopyChunk, c.threads, [&](int64_t ch) {
    const int64_t end = std::min(n_rows, (ch + 1) * kCopyChunk);
    for (int64_t r = ch * kCopyChunk; r < end; ++r) {
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
  parallel_for(c.Np / NR, c.threads, [&](int64_t p) {
    T* panel = ws.pack.data() + p * Dp * NR;
    for (int64_t col = 0; col < NR; ++col) {
      const int64_t j = p * NR + col;
      if (j < N) {
        const T* row = ws.ce.data() + j * Dp;
        for (int64_t d = 0; d < Dp; ++d) panel[d * NR + col] = row[d];
      } else {
        for (int64_t d = 0; d < Dp; ++d) panel[d * NR + col] = T(0);
      }
    }
  });
  if (c.grads) {
    grow(ws.ce_dx, static_cast<size_t>(column_panels_size(N, Dp, NR)));
    pack_column_panels(ws.ce.data(), N, Dp, NR, ws.ce_dx.data(), c.threads);
  }
  build_hits(in, ws.hit_start, ws.hit_col, ws.order);
}

// Query i's logits q.c / tau - log Q with its accidental hits masked, then
// its loss and dL/dlogits in place (the target is column i). raw: scratch.
template <class T>
void row_softmax(InBatchCall<T>& c, int64_t i, std::vector<T>& raw) {
  const InBatchInput<T>& in = c.in;
  InBatchWorkspace<T>& ws = c.ws;
  const int64_t B = c.B, S = c.S, N = c.N;
  const T tau = c.tau;
  const T mask_value = static_cast<T>(-FLT_MAX);
  T* row = ws.lg.data() + i * c.ldl;
  const int64_t h0 = ws.hit_start[i], h1 = ws.hit_start[i + 1];
  raw.resize(static_cast<size_t>(h1 - h0));
  for (int64_t h = h0; h < h1; ++h) raw[h - h0] = row[ws.hit_col[h]];
  if (c.scale) {
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
    T v = (c.scale ? raw[h - h0] / tau : raw[h - h0]) + mask_value;
    if (j < B) {
      if (in.log_q != nullptr) v = v - in.log_q[j];
    } else if (in.extra_log_q != nullptr) {
      v = v - in.extra_log_q[j - B];
    }
    row[j] = v;
  }
  if (c.out.logits != nullptr) std::memcpy(c.out.logits + i * N, row, sizeof(T) * N);
  const T u = in.upstream != nullptr ? in.upstream[i] : T(1);
  // The target is column i: move it to the front for the row kernel.
  std::swap(row[0], row[i]);
  c.out.loss[i] = c.k.softmax_row(row, N, 1, u);
  std::swap(row[0], row[i]);
  if (c.grads && c.scale) {
    for (int64_t j = 0; j < N; ++j) row[j] = row[j] / tau;
  }
}

// Row tiles: logits (a GEMM), softmax and dL/dlogits per row, dQ (a GEMM).
template <class T>
void phase_row_tiles(InBatchCall<T>& c) {
  InBatchWorkspace<T>& ws = c.ws;
  const int64_t B = c.B, N = c.N, Dp = c.Dp, ldl = c.ldl;
  if (c.grads) grow(ws.dq, static_cast<size_t>(B * Dp));
  const int64_t tile = std::max<int64_t>(8, std::min<int64_t>(64, round_up(B / (4 * c.threads) + 1, 8)));
  constexpr int64_t kKc = 256;
  parallel_for((B + tile - 1) / tile, c.threads, [&](int64_t t) {
    const int64_t r0 = t * tile;
    const int64_t mb = std::min(tile, B - r0);
    T* L = ws.lg.data() + r0 * ldl;
    c.k.gemm(mb, N, Dp, ws.q.data() + r0 * Dp, Dp, 1, ws.pack.data(), c.NR, Dp * c.NR, L, ldl, false);
    std::vector<T> raw;
    for (int64_t i = r0; i < r0 + mb; ++i) row_softmax(c, i, raw);
    if (!c.grads) return;
    T* dq = ws.dq.data() + r0 * Dp;
    for (int64_t k0 = 0; k0 < N; k0 += kKc) {
      const int64_t kc = std::min(kKc, N - k0);
      c.k.gemm(mb, Dp, kc, L + k0, ldl, 1, ws.ce_dx.data() + k0 * c.NR, c.NR, N * c.NR, dq, Dp,
                k0 > 0);
    }
  });
  if (c.grads && c.out.d_query != nullptr && c.D > 0) {
    for (int64_t i = 0; i < B; ++i) std::memcpy(c.out.d_query + i * c.D, ws.dq.data() + i * Dp, sizeof(T) * c.D);
  }
}

// Column tiles: dC' = G^T Q, written out as the candidates' and the extra
// rows' gradients.
template <class T>
void phase_candidate_grads(InBatchCall<T>& c) {
  InBatchWorkspace<T>& ws = c.ws;
  const int64_t B = c.B, D = c.D, Dp = c.Dp;
  grow(ws.dce, static_cast<size_t>(c.N * Dp));
  column_tile_grads(c.k, ws.lg.data(), c.ldl, ws.q.data(), B, c.N, Dp, c.threads, ws.dce.data(),
                    static_cast<T*>(nullptr), [&](int64_t j0, int64_t ms) {
                      if (D == 0) return;
                      for (int64_t j = j0; j < j0 + ms; ++j) {
                        T* base = j < B ? c.out.d_candidates : c.out.d_extra;
                        if (base != nullptr) {
                          std::memcpy(base + (j < B ? j : j - B) * D, ws.dce.data() + j * Dp, sizeof(T) * D);
                        }
                      }
                    });
}

}  // namespace

template <class T>
void in_batch_softmax(const InBatchInput<T>& in, InBatchOutput<T>& out) {
  if (in.batch < 0 || in.dim < 0 || in.num_extra < 0) throw std::invalid_argument("invalid problem sizes");
  if (!(in.temperature > T(0)) || !std::isfinite(in.temperature)) {
    throw std::invalid_argument("temperature must be a positive finite number");
  }
  InBatchCall<T> c(in, out, loss_kernels<T>(active_isa()), in_batch_workspace<T>());
  if (c.B == 0) {
    if (in.want_grads && out.d_extra != nullptr && c.S > 0 && c.D > 0) {
      std::fill(out.d_extra, out.d_extra + c.S * c.D, T(0));
    }
    return;
  }
  phase_rows(c);
  phase_row_tiles(c);
  if (!c.grads) return;
  phase_candidate_grads(c);
}

template void in_batch_softmax<float>(const InBatchInput<float>&, InBatchOutput<float>&);
template void in_batch_softmax<double>(const InBatchInput<double>&, InBatchOutput<double>&);

}  // namespace pysampled
