#include "row_loss.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "isa.hpp"
#include "kernels/loss.hpp"
#include "parallel.hpp"
#include "tile_grads.hpp"

namespace pysampled {

namespace {


template <class T>
void grow(std::vector<T>& v, size_t n) {
#ifdef PYSAMPLED_SANITIZE
  v.resize(n);
#else
  if (v.size() < n) v.resize(n);
#endif
}

// Buffers of the calling thread, reused across calls.
template <class T>
struct RowWorkspace {
  std::vector<T> x;       // [B, Dp]
  std::vector<T> lt;      // [NL] true logits, then dL/dlogits
  std::vector<T> ls;      // [B, S] sampled logits, then dL/dlogits
  std::vector<T> w_samp;  // shared: [S, Dp]
  std::vector<T> w_pack;  // shared: panels of Ws^T
  std::vector<T> w_dx;    // shared: column panels of Ws (dX = G Ws)
  std::vector<T> b_samp, lq_samp;  // shared: [S]
  std::vector<T> d_samp;  // shared: [S, Dp]
  std::vector<T> db_samp;
  std::vector<T> dx;      // [B, Dp]
  std::vector<int64_t> row_of;  // [NL] example of each label
  std::vector<std::pair<int64_t, int64_t>> order;
  std::vector<int64_t> group_start;
};

template <class T>
RowWorkspace<T>& row_workspace() {
  thread_local RowWorkspace<T> ws;
  return ws;
}

// Scratch of one worker thread inside a parallel region.
template <class T>
struct RowScratch {
  std::vector<T> w_true;  // [sum of n_i over a tile, Dp]
  std::vector<T> w_cand;  // per example, weights of another dtype: [S, Dp]
  std::vector<const T*> w_ptr;  // per example: the S candidate rows
  std::vector<T> row;     // [n_i + S]
  std::vector<int64_t> sorted_labels;
  std::vector<T> acc;
};

template <class T>
RowScratch<T>& row_scratch() {
  thread_local RowScratch<T> s;
  return s;
}

template <class T>
void validate(const RowLossInput<T>& in) {
  if (in.batch < 0 || in.num_sampled < 0 || in.dim < 0) throw std::invalid_argument("invalid problem sizes");
  if (in.weights == nullptr) throw std::invalid_argument("weights are required");
  if (in.row_splits == nullptr) throw std::invalid_argument("row splits are required");
  if (in.weights->cols() != in.dim) {
    throw std::invalid_argument("Matrix size-incompatible: inputs have " + std::to_string(in.dim) +
                                " columns, weights have " + std::to_string(in.weights->cols()));
  }
  if (in.biases != nullptr && in.biases->cols() != 1) throw std::invalid_argument("biases must be 1-D");
  if (in.row_splits[0] != 0) throw std::invalid_argument("label_row_splits must start at 0");
  for (int64_t i = 0; i < in.batch; ++i) {
    if (in.row_splits[i + 1] <= in.row_splits[i]) {
      throw std::invalid_argument("example " + std::to_string(i) + " has no true labels (label_row_splits[" +
                                  std::to_string(i) + "] = label_row_splits[" + std::to_string(i + 1) +
                                  "]); every example needs at least one");
    }
  }
  const int64_t NL = in.row_splits[in.batch];
  const int64_t NS = in.per_example ? in.batch * in.num_sampled : in.num_sampled;
  for (int64_t j = 0; j < NL; ++j) in.weights->check_id(in.labels[j], "labels", j);
  for (int64_t j = 0; j < NS; ++j) in.weights->check_id(in.sampled[j], "sampled_candidates", j);
  if (in.biases != nullptr) {
    for (int64_t j = 0; j < NL; ++j) in.biases->check_id(in.labels[j], "labels (biases)", j);
    for (int64_t j = 0; j < NS; ++j) in.biases->check_id(in.sampled[j], "sampled_candidates (biases)", j);
  }
  if (in.kind == RowLossKind::kLogits && in.want_grads && in.upstream == nullptr && NL + in.batch * in.num_sampled > 0) {
    throw std::invalid_argument("gradients of the logits need an upstream cotangent");
  }
}

}  // namespace

namespace {

// One call's state, shared by the phases below.
template <class T>
struct RowCall {
  const RowLossInput<T>& in;
  RowLossOutput<T>& out;
  const LossKernels<T>& k;
  RowWorkspace<T>& ws;
  int threads;
  int64_t B, D, S, NL, NR, Dp, Sp;
  int64_t lds;        // row stride of the sampled logits
  int64_t tile;       // batch rows per tile (phase_row_tiles)
  const int64_t* split;
  bool per_ex, grads, mask, direct;
  T mask_value;

  RowCall(const RowLossInput<T>& i, RowLossOutput<T>& o, const LossKernels<T>& kk, RowWorkspace<T>& w)
      : in(i), out(o), k(kk), ws(w) {
    threads = std::max(1, in.num_threads);
    B = in.batch;
    D = in.dim;
    S = in.num_sampled;
    split = in.row_splits;
    NL = split[B];
    per_ex = in.per_example;
    grads = in.want_grads;
    NR = k.panel_width;
    Dp = round_up(std::max<int64_t>(D, 1), k.lanes);
    Sp = round_up(S, NR);
    mask_value = static_cast<T>(-FLT_MAX);
    mask = in.remove_accidental_hits && S > 0;
    direct = in.weights->dtype() == (sizeof(T) == 4 ? DType::kFloat32 : DType::kFloat64);
    // Row stride of the sampled logits: per example S (read row by row);
    // shared, padded off powers of two (rows 2^k bytes apart share cache sets,
    // and the GEMMs read down its columns).
    lds = per_ex ? S : round_up(S, 16) + 16;
    // Tile sizes only balance the work (every element is computed the same
    // way whatever the tiling): about four tiles per thread.
    tile = std::max<int64_t>(8, std::min<int64_t>(48, round_up(B / (4 * threads) + 1, 8)));
  }
};

// The inputs, padded to Dp columns; the example of each label.
template <class T>
void phase_inputs(RowCall<T>& c) {
  RowWorkspace<T>& ws = c.ws;
  grow(ws.x, static_cast<size_t>(c.B * c.Dp));
  grow(ws.lt, static_cast<size_t>(c.NL));
  grow(ws.ls, static_cast<size_t>(c.B * c.lds));
  grow(ws.row_of, static_cast<size_t>(c.NL));
  for (int64_t i = 0; i < c.B; ++i) {
    for (int64_t j = c.split[i]; j < c.split[i + 1]; ++j) ws.row_of[j] = i;
  }
  constexpr int64_t kCopyChunk = 256;
  parallel_for((c.B + kCopyChunk - 1) / kCopyChunk, c.threads, [&](int64_t ch) {
    const int64_t end = std::min(c.B, (ch + 1) * kCopyChunk);
    for (int64_t r = ch * kCopyChunk; r < end; ++r) {
      T* dst = ws.x.data() + r * c.Dp;
      if (c.D > 0) std::memcpy(dst, c.in.inputs + r * c.in.inputs_stride, sizeof(T) * c.D);
      std::fill(dst + c.D, dst + c.Dp, T(0));
    }
  });
}

// Shared candidates: their rows, biases and log Q gathered once, and the
// rows packed in panels for the logits GEMM.
template <class T>
void phase_shared_candidates(RowCall<T>& c) {
  if (c.per_ex || c.S == 0) return;
  RowWorkspace<T>& ws = c.ws;
  const RowLossInput<T>& in = c.in;
  const int64_t S = c.S, Dp = c.Dp, D = c.D, NR = c.NR;
  grow(ws.w_samp, static_cast<size_t>(S * Dp));
  grow(ws.w_pack, static_cast<size_t>(c.Sp * Dp));
  grow(ws.b_samp, static_cast<size_t>(S));
  grow(ws.lq_samp, static_cast<size_t>(S));
  constexpr int64_t kChunk = 64;
  parallel_for((S + kChunk - 1) / kChunk, c.threads, [&](int64_t ch) {
    const int64_t end = std::min(S, (ch + 1) * kChunk);
    for (int64_t j = ch * kChunk; j < end; ++j) {
      if (j + 4 < end) in.weights->prefetch_row(in.sampled[j + 4]);
      T* dst = ws.w_samp.data() + j * Dp;
      in.weights->gather_row(in.sampled[j], dst);
      std::fill(dst + D, dst + Dp, T(0));
      ws.b_samp[j] = in.biases ? in.biases->template value<T>(in.sampled[j]) : T(0);
      ws.lq_samp[j] = in.subtract_log_q ? std::log(in.sampled_expected[j]) : T(0);
    }
  });
  parallel_for(c.Sp / NR, c.threads, [&](int64_t p) {
    T* panel = ws.w_pack.data() + p * Dp * NR;
    for (int64_t col = 0; col < NR; ++col) {
      const int64_t j = p * NR + col;
      const T* row = j < S ? ws.w_samp.data() + j * Dp : nullptr;
      for (int64_t d = 0; d < Dp; ++d) panel[d * NR + col] = row ? row[d] : T(0);
    }
  });
  if (c.grads) {
    grow(ws.w_dx, static_cast<size_t>(column_panels_size(S, Dp, NR)));
    pack_column_panels(ws.w_samp.data(), S, Dp, NR, ws.w_dx.data(), c.threads);
  }
}

// Example i's true logits (x.w + b) - log Q, their rows kept in the tile's
// scratch (l0: the tile's first label).
template <class T>
void true_logits(RowCall<T>& c, RowScratch<T>& sc, int64_t i, int64_t l0) {
  const RowLossInput<T>& in = c.in;
  const T* xi = c.ws.x.data() + i * c.Dp;
  const int64_t s0 = c.split[i], s1 = c.split[i + 1];
  for (int64_t j = s0; j < s1; ++j) {
    if (j + 2 < s1) {
      in.weights->prefetch_row(in.labels[j + 2]);
      if (in.biases) in.biases->prefetch_row(in.labels[j + 2]);
    }
    T* w = sc.w_true.data() + (j - l0) * c.Dp;
    in.weights->gather_row(in.labels[j], w);
    std::fill(w + c.D, w + c.Dp, T(0));
    const T b = in.biases ? in.biases->template value<T>(in.labels[j]) : T(0);
    const T lq = in.subtract_log_q ? std::log(in.true_expected[j]) : T(0);
    c.ws.lt[j] = (c.k.dot(xi, w, c.Dp) + b) - lq;
  }
}

// Example i's own candidates: x.w into srow, the rows' addresses kept for
// the input gradient (last_in_tile: no next example to prefetch).
template <class T>
void per_example_products(RowCall<T>& c, RowScratch<T>& sc, int64_t i, bool last_in_tile, T* srow) {
  const RowLossInput<T>& in = c.in;
  const T* xi = c.ws.x.data() + i * c.Dp;
  const int64_t S = c.S;
  const int64_t* cand = in.sampled + i * S;
  // Bound by random row reads: keep kAhead rows in flight. Rows of the
  // computing dtype are read in place (no copy); others are converted into
  // the scratch buffer. (8 rows ahead was the best of 2..24 on a Zen 4; the
  // bias entries are scattered too and must be prefetched as well: 3x faster.)
  constexpr int64_t kAhead = 8;
  for (int64_t col = 0; col < std::min(S, kAhead); ++col) {
    in.weights->prefetch_row(cand[col]);
    if (in.biases) in.biases->prefetch_row(cand[col]);
  }
  for (int64_t col = 0; col < S; ++col) {
    // past the row's end: the next example's first candidates
    if (col + kAhead < S || (!last_in_tile && col + kAhead < 2 * S)) {
      in.weights->prefetch_row(cand[col + kAhead]);
      if (in.biases) in.biases->prefetch_row(cand[col + kAhead]);
    }
    const T* w;
    if (c.direct) {
      w = reinterpret_cast<const T*>(in.weights->row_bytes(cand[col]));
    } else {
      T* buf = sc.w_cand.data() + col * c.Dp;
      in.weights->gather_row(cand[col], buf);
      w = buf;
    }
    sc.w_ptr[col] = w;
    srow[col] = c.k.dot(xi, w, c.D);
  }
}

// Bias, accidental-hit mask and log Q on example i's sampled logits, in TF's
// order ((x.w + b) + mask) - log Q.
template <class T>
void finish_sampled_logits(RowCall<T>& c, RowScratch<T>& sc, int64_t i, T* srow) {
  const RowLossInput<T>& in = c.in;
  const int64_t s0 = c.split[i], s1 = c.split[i + 1], S = c.S;
  const int64_t* cand = c.per_ex ? in.sampled + i * S : in.sampled;
  const bool small = s1 - s0 <= 8;
  if (c.mask && !small) {
    sc.sorted_labels.assign(in.labels + s0, in.labels + s1);
    std::sort(sc.sorted_labels.begin(), sc.sorted_labels.end());
  }
  for (int64_t col = 0; col < S; ++col) {
    T v = srow[col];
    if (in.biases) v = v + (c.per_ex ? in.biases->template value<T>(cand[col]) : c.ws.b_samp[col]);
    if (c.mask) {
      bool hit = false;
      if (small) {
        for (int64_t j = s0; j < s1; ++j) hit = hit || in.labels[j] == cand[col];
      } else {
        hit = std::binary_search(sc.sorted_labels.begin(), sc.sorted_labels.end(), cand[col]);
      }
      if (hit) v = v + c.mask_value;
    }
    if (in.subtract_log_q) v = v - (c.per_ex ? std::log(in.sampled_expected[i * S + col]) : c.ws.lq_samp[col]);
    srow[col] = v;
  }
}

// Example i's row [true | sampled]: written out when asked, then turned into
// the loss and dL/dlogits in place (or, for logits, replaced by the
// upstream cotangent).
template <class T>
void row_loss_and_grads(RowCall<T>& c, RowScratch<T>& sc, int64_t i, T* srow) {
  const RowLossInput<T>& in = c.in;
  RowLossOutput<T>& out = c.out;
  const int64_t s0 = c.split[i], ni = c.split[i + 1] - s0, S = c.S;
  T* lt = c.ws.lt.data() + s0;
  const int64_t off = s0 + i * S;
  if (out.logits != nullptr) {
    std::memcpy(out.logits + off, lt, sizeof(T) * ni);
    if (S > 0) std::memcpy(out.logits + off + ni, srow, sizeof(T) * S);
  }
  if (in.kind == RowLossKind::kLogits) {
    if (c.grads) {
      std::memcpy(lt, in.upstream + off, sizeof(T) * ni);
      if (S > 0) std::memcpy(srow, in.upstream + off + ni, sizeof(T) * S);
    }
    return;
  }
  grow(sc.row, static_cast<size_t>(ni + S));
  T* row = sc.row.data();
  std::memcpy(row, lt, sizeof(T) * ni);
  if (S > 0) std::memcpy(row + ni, srow, sizeof(T) * S);
  const T u = in.upstream ? in.upstream[i] : T(1);
  if (in.kind == RowLossKind::kSoftmax) {
    out.loss[i] = c.k.softmax_row(row, ni + S, ni, u);
  } else {
    const T target = in.true_target > 0 ? in.true_target : T(1) / static_cast<T>(ni);
    out.loss[i] = c.k.nce_row(row, ni + S, ni, target, u);
  }
  std::memcpy(lt, row, sizeof(T) * ni);
  if (S > 0) std::memcpy(srow, row + ni, sizeof(T) * S);
}

// dL/dx of a tile: the sampled part (a GEMM against the shared rows, or the
// per-example rows one by one, done already per row), then the true rows.
template <class T>
void tile_input_grads(RowCall<T>& c, RowScratch<T>& sc, int64_t r0, int64_t mb) {
  RowWorkspace<T>& ws = c.ws;
  const int64_t Dp = c.Dp, S = c.S;
  if (!c.per_ex) {
    T* dx = ws.dx.data() + r0 * Dp;
    if (S == 0) std::fill(dx, dx + mb * Dp, T(0));
    constexpr int64_t kKc = 256;
    for (int64_t k0 = 0; k0 < S; k0 += kKc) {
      const int64_t kc = std::min(kKc, S - k0);
      c.k.gemm(mb, Dp, kc, ws.ls.data() + r0 * c.lds + k0, c.lds, 1, ws.w_dx.data() + k0 * c.NR, c.NR,
               S * c.NR, dx, Dp, k0 > 0);
    }
  }
  const int64_t l0 = c.split[r0], l1 = c.split[r0 + mb];
  for (int64_t j = l0; j < l1; ++j) {
    c.k.axpy(ws.lt[j], sc.w_true.data() + (j - l0) * Dp, ws.dx.data() + ws.row_of[j] * Dp, Dp);
  }
}

// One tile of batch rows: logits, loss, dL/dlogits and dL/dx.
template <class T>
void row_tile(RowCall<T>& c, int64_t t) {
  const RowLossInput<T>& in = c.in;
  RowWorkspace<T>& ws = c.ws;
  RowScratch<T>& sc = row_scratch<T>();
  const int64_t Dp = c.Dp, S = c.S;
  const int64_t r0 = t * c.tile;
  const int64_t mb = std::min(c.tile, c.B - r0);
  const int64_t l0 = c.split[r0], l1 = c.split[r0 + mb];
  grow(sc.w_true, static_cast<size_t>((l1 - l0) * Dp));
  if (c.per_ex) {
    if (!c.direct) grow(sc.w_cand, static_cast<size_t>(S * Dp));
    grow(sc.w_ptr, static_cast<size_t>(S));
  }
  if (!c.per_ex && S > 0) {
    c.k.gemm(mb, S, Dp, ws.x.data() + r0 * Dp, Dp, 1, ws.w_pack.data(), c.NR, Dp * c.NR,
             ws.ls.data() + r0 * c.lds, c.lds, false);
  }
  for (int64_t i = r0; i < r0 + mb; ++i) {
    const int64_t s1 = c.split[i + 1];
    const bool last_in_tile = i + 1 >= r0 + mb;
    if (!last_in_tile) {  // the next example's first label
      in.weights->prefetch_row(in.labels[s1]);
      if (in.biases) in.biases->prefetch_row(in.labels[s1]);
    }
    true_logits(c, sc, i, l0);
    T* srow = ws.ls.data() + i * c.lds;
    if (c.per_ex) per_example_products(c, sc, i, last_in_tile, srow);
    finish_sampled_logits(c, sc, i, srow);
    row_loss_and_grads(c, sc, i, srow);
    if (c.grads && c.per_ex) {
      T* dx = ws.dx.data() + i * Dp;
      std::fill(dx, dx + Dp, T(0));
      for (int64_t col = 0; col < S; ++col) c.k.axpy(srow[col], sc.w_ptr[col], dx, c.D);
    }
  }
  if (c.grads) tile_input_grads(c, sc, r0, mb);
}

template <class T>
void phase_row_tiles(RowCall<T>& c) {
  if (c.grads) grow(c.ws.dx, static_cast<size_t>(c.B * c.Dp));
  parallel_for((c.B + c.tile - 1) / c.tile, c.threads, [&](int64_t t) { row_tile(c, t); });
  if (c.grads && c.out.d_inputs != nullptr && c.D > 0) {
    for (int64_t i = 0; i < c.B; ++i) {
      std::memcpy(c.out.d_inputs + i * c.D, c.ws.dx.data() + i * c.Dp, sizeof(T) * c.D);
    }
  }
}

// Shared candidates: dWs = G^T X and db, over tiles of sampled columns.
template <class T>
void phase_shared_weight_grads(RowCall<T>& c) {
  if (c.per_ex || c.S == 0) return;
  RowWorkspace<T>& ws = c.ws;
  grow(ws.d_samp, static_cast<size_t>(c.S * c.Dp));
  grow(ws.db_samp, static_cast<size_t>(c.S));
  column_tile_grads(c.k, ws.ls.data(), c.lds, ws.x.data(), c.B, c.S, c.Dp, c.threads,
                    ws.d_samp.data(), ws.db_samp.data(), [](int64_t, int64_t) {});
}

// Deduplicated sparse rows, each summed in (id, source) order. Sources:
// label j (j < NL); then shared sampled k, or per-example (i, k) as i * S + k.
template <class T>
void phase_sparse_rows(RowCall<T>& c) {
  const RowLossInput<T>& in = c.in;
  RowLossOutput<T>& out = c.out;
  RowWorkspace<T>& ws = c.ws;
  const int64_t NL = c.NL, S = c.S, Dp = c.Dp, D = c.D;
  const bool per_ex = c.per_ex;
  const int64_t NS = per_ex ? c.B * S : S;
  ws.order.resize(static_cast<size_t>(NL + NS));
  for (int64_t j = 0; j < NL; ++j) ws.order[j] = {in.labels[j], j};
  for (int64_t j = 0; j < NS; ++j) ws.order[NL + j] = {in.sampled[j], NL + j};
  std::sort(ws.order.begin(), ws.order.end());
  ws.group_start.clear();
  for (size_t e = 0; e < ws.order.size(); ++e) {
    if (e == 0 || ws.order[e].first != ws.order[e - 1].first) ws.group_start.push_back(static_cast<int64_t>(e));
  }
  const int64_t U = static_cast<int64_t>(ws.group_start.size());
  ws.group_start.push_back(static_cast<int64_t>(ws.order.size()));
  out.grad_rows = U;
  constexpr int64_t kGroupChunk = 64;
  parallel_for((U + kGroupChunk - 1) / kGroupChunk, c.threads, [&](int64_t ch) {
    RowScratch<T>& sc = row_scratch<T>();
    sc.acc.resize(static_cast<size_t>(Dp));
    T* acc = sc.acc.data();
    const int64_t end = std::min(U, (ch + 1) * kGroupChunk);
    for (int64_t u = ch * kGroupChunk; u < end; ++u) {
      std::fill(acc, acc + Dp, T(0));
      T db = 0;
      for (int64_t e = ws.group_start[u]; e < ws.group_start[u + 1]; ++e) {
        const int64_t src = ws.order[e].second;
        if (src < NL) {
          const T g = ws.lt[src];
          c.k.axpy(g, ws.x.data() + ws.row_of[src] * Dp, acc, Dp);
          db += g;
        } else if (per_ex) {
          const int64_t j = src - NL;
          const T g = ws.ls[j];
          c.k.axpy(g, ws.x.data() + (j / S) * Dp, acc, Dp);
          db += g;
        } else {
          const int64_t j = src - NL;
          c.k.axpy(T(1), ws.d_samp.data() + j * Dp, acc, Dp);
          db += ws.db_samp[j];
        }
      }
      if (out.grad_ids != nullptr) out.grad_ids[u] = ws.order[ws.group_start[u]].first;
      if (out.grad_weights != nullptr && D > 0) std::memcpy(out.grad_weights + u * D, acc, sizeof(T) * D);
      if (out.grad_biases != nullptr) out.grad_biases[u] = db;
    }
  });
}

}  // namespace

template <class T>
void row_loss(const RowLossInput<T>& in, RowLossOutput<T>& out) {
  validate(in);
  RowCall<T> c(in, out, loss_kernels<T>(active_isa()), row_workspace<T>());
  phase_inputs(c);
  phase_shared_candidates(c);
  phase_row_tiles(c);
  if (!c.grads) return;
  phase_shared_weight_grads(c);
  phase_sparse_rows(c);
}

template void row_loss<float>(const RowLossInput<float>&, RowLossOutput<float>&);
template void row_loss<double>(const RowLossInput<double>&, RowLossOutput<double>&);

}  // namespace pysampled
