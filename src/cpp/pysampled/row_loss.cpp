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

namespace pysampled {

namespace {

inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

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

template <class T>
void row_loss(const RowLossInput<T>& in, RowLossOutput<T>& out) {
  validate(in);
  const LossKernels<T>& k = loss_kernels<T>(active_isa());
  RowWorkspace<T>& ws = row_workspace<T>();
  const int threads = std::max(1, in.num_threads);
  const int64_t B = in.batch, D = in.dim, S = in.num_sampled;
  const int64_t NL = in.row_splits[B];
  const int64_t* split = in.row_splits;
  const bool per_ex = in.per_example;
  const bool grads = in.want_grads;
  const int64_t NR = k.panel_width;
  const int64_t Dp = round_up(std::max<int64_t>(D, 1), k.lanes);
  const T mask_value = static_cast<T>(-FLT_MAX);
  const bool mask = in.remove_accidental_hits && S > 0;
  const bool direct = in.weights->dtype() == (sizeof(T) == 4 ? DType::kFloat32 : DType::kFloat64);

  grow(ws.x, static_cast<size_t>(B * Dp));
  grow(ws.lt, static_cast<size_t>(NL));
  // Row stride of the sampled logits: per example S (read row by row);
  // shared, padded off powers of two (rows 2^k bytes apart share cache sets,
  // and the GEMMs read down its columns).
  const int64_t lds = per_ex ? S : round_up(S, 16) + 16;
  grow(ws.ls, static_cast<size_t>(B * lds));
  grow(ws.row_of, static_cast<size_t>(NL));
  for (int64_t i = 0; i < B; ++i) {
    for (int64_t j = split[i]; j < split[i + 1]; ++j) ws.row_of[j] = i;
  }
  constexpr int64_t kCopyChunk = 256;
  parallel_for((B + kCopyChunk - 1) / kCopyChunk, threads, [&](int64_t c) {
    const int64_t end = std::min(B, (c + 1) * kCopyChunk);
    for (int64_t r = c * kCopyChunk; r < end; ++r) {
      T* dst = ws.x.data() + r * Dp;
      if (D > 0) std::memcpy(dst, in.inputs + r * in.inputs_stride, sizeof(T) * D);
      std::fill(dst + D, dst + Dp, T(0));
    }
  });

  // ---- shared candidates: gathered once, packed for the GEMM
  const int64_t Sp = round_up(S, NR);
  if (!per_ex && S > 0) {
    grow(ws.w_samp, static_cast<size_t>(S * Dp));
    grow(ws.w_pack, static_cast<size_t>(Sp * Dp));
    grow(ws.b_samp, static_cast<size_t>(S));
    grow(ws.lq_samp, static_cast<size_t>(S));
    constexpr int64_t kChunk = 64;
    parallel_for((S + kChunk - 1) / kChunk, threads, [&](int64_t c) {
      const int64_t end = std::min(S, (c + 1) * kChunk);
      for (int64_t j = c * kChunk; j < end; ++j) {
        if (j + 4 < end) in.weights->prefetch_row(in.sampled[j + 4]);
        T* dst = ws.w_samp.data() + j * Dp;
        in.weights->gather_row(in.sampled[j], dst);
        std::fill(dst + D, dst + Dp, T(0));
        ws.b_samp[j] = in.biases ? in.biases->template value<T>(in.sampled[j]) : T(0);
        ws.lq_samp[j] = in.subtract_log_q ? std::log(in.sampled_expected[j]) : T(0);
      }
    });
    parallel_for(Sp / NR, threads, [&](int64_t p) {
      T* panel = ws.w_pack.data() + p * Dp * NR;
      for (int64_t c = 0; c < NR; ++c) {
        const int64_t j = p * NR + c;
        const T* row = j < S ? ws.w_samp.data() + j * Dp : nullptr;
        for (int64_t d = 0; d < Dp; ++d) panel[d * NR + c] = row ? row[d] : T(0);
      }
    });
  }

  // ---- phase 1: row tiles
  if (grads) grow(ws.dx, static_cast<size_t>(B * Dp));
  const int64_t tile = std::max<int64_t>(8, std::min<int64_t>(48, round_up(B / (4 * threads) + 1, 8)));
  constexpr int64_t kKc = 256;
  parallel_for((B + tile - 1) / tile, threads, [&](int64_t t) {
    RowScratch<T>& sc = row_scratch<T>();
    const int64_t r0 = t * tile;
    const int64_t mb = std::min(tile, B - r0);
    const int64_t l0 = split[r0], l1 = split[r0 + mb];
    grow(sc.w_true, static_cast<size_t>((l1 - l0) * Dp));
    if (per_ex) {
      if (!direct) grow(sc.w_cand, static_cast<size_t>(S * Dp));
      grow(sc.w_ptr, static_cast<size_t>(S));
    }
    if (!per_ex && S > 0) {
      k.gemm(mb, S, Dp, ws.x.data() + r0 * Dp, Dp, 1, ws.w_pack.data(), NR, Dp * NR, ws.ls.data() + r0 * lds, lds,
             false);
    }
    for (int64_t i = r0; i < r0 + mb; ++i) {
      const T* xi = ws.x.data() + i * Dp;
      const int64_t s0 = split[i], s1 = split[i + 1], ni = s1 - s0;
      if (i + 1 < r0 + mb) {  // the next example's first label
        in.weights->prefetch_row(in.labels[s1]);
        if (in.biases) in.biases->prefetch_row(in.labels[s1]);
      }
      // true columns
      for (int64_t j = s0; j < s1; ++j) {
        if (j + 2 < s1) {
          in.weights->prefetch_row(in.labels[j + 2]);
          if (in.biases) in.biases->prefetch_row(in.labels[j + 2]);
        }
        T* w = sc.w_true.data() + (j - l0) * Dp;
        in.weights->gather_row(in.labels[j], w);
        std::fill(w + D, w + Dp, T(0));
        const T b = in.biases ? in.biases->template value<T>(in.labels[j]) : T(0);
        const T lq = in.subtract_log_q ? std::log(in.true_expected[j]) : T(0);
        ws.lt[j] = (k.dot(xi, w, Dp) + b) - lq;
      }
      // sampled columns
      T* srow = ws.ls.data() + i * lds;
      const int64_t* cand = per_ex ? in.sampled + i * S : in.sampled;
      if (per_ex) {
        // Bound by random row reads: keep kAhead rows in flight. Rows of
        // the computing dtype are read in place (no copy); others are
        // converted into the scratch buffer.
        // (8 rows ahead was the best of 2..24 on a Zen 4; the bias entries
        // are scattered too and must be prefetched as well: 3x faster.)
        constexpr int64_t kAhead = 8;
        for (int64_t c = 0; c < std::min(S, kAhead); ++c) {
          in.weights->prefetch_row(cand[c]);
          if (in.biases) in.biases->prefetch_row(cand[c]);
        }
        for (int64_t c = 0; c < S; ++c) {
          // past the row's end: the next example's first candidates
          if (c + kAhead < S || (i + 1 < r0 + mb && c + kAhead < 2 * S)) {
            in.weights->prefetch_row(cand[c + kAhead]);
            if (in.biases) in.biases->prefetch_row(cand[c + kAhead]);
          }
          const T* w;
          if (direct) {
            w = reinterpret_cast<const T*>(in.weights->row_bytes(cand[c]));
          } else {
            T* buf = sc.w_cand.data() + c * Dp;
            in.weights->gather_row(cand[c], buf);
            w = buf;
          }
          sc.w_ptr[c] = w;
          srow[c] = k.dot(xi, w, D);
        }
      }
      // bias, accidental-hit mask, log-Q (TF: ((x.w + b) + mask) - log Q)
      bool small = ni <= 8;
      if (mask && !small) {
        sc.sorted_labels.assign(in.labels + s0, in.labels + s1);
        std::sort(sc.sorted_labels.begin(), sc.sorted_labels.end());
      }
      for (int64_t c = 0; c < S; ++c) {
        T v = srow[c];
        if (in.biases) v = v + (per_ex ? in.biases->template value<T>(cand[c]) : ws.b_samp[c]);
        if (mask) {
          bool hit = false;
          if (small) {
            for (int64_t j = s0; j < s1; ++j) hit = hit || in.labels[j] == cand[c];
          } else {
            hit = std::binary_search(sc.sorted_labels.begin(), sc.sorted_labels.end(), cand[c]);
          }
          if (hit) v = v + mask_value;
        }
        if (in.subtract_log_q) v = v - (per_ex ? std::log(in.sampled_expected[i * S + c]) : ws.lq_samp[c]);
        srow[c] = v;
      }
      const int64_t off = s0 + i * S;
      if (out.logits != nullptr) {
        std::memcpy(out.logits + off, ws.lt.data() + s0, sizeof(T) * ni);
        if (S > 0) std::memcpy(out.logits + off + ni, srow, sizeof(T) * S);
      }
      if (in.kind == RowLossKind::kLogits) {
        if (grads) {
          std::memcpy(ws.lt.data() + s0, in.upstream + off, sizeof(T) * ni);
          if (S > 0) std::memcpy(srow, in.upstream + off + ni, sizeof(T) * S);
        }
      } else {
        grow(sc.row, static_cast<size_t>(ni + S));
        T* row = sc.row.data();
        std::memcpy(row, ws.lt.data() + s0, sizeof(T) * ni);
        if (S > 0) std::memcpy(row + ni, srow, sizeof(T) * S);
        const T u = in.upstream ? in.upstream[i] : T(1);
        if (in.kind == RowLossKind::kSoftmax) {
          out.loss[i] = k.softmax_row(row, ni + S, ni, u);
        } else {
          const T target = in.true_target > 0 ? in.true_target : T(1) / static_cast<T>(ni);
          out.loss[i] = k.nce_row(row, ni + S, ni, target, u);
        }
        std::memcpy(ws.lt.data() + s0, row, sizeof(T) * ni);
        if (S > 0) std::memcpy(srow, row + ni, sizeof(T) * S);
      }
      if (grads && per_ex) {
        T* dx = ws.dx.data() + i * Dp;
        std::fill(dx, dx + Dp, T(0));
        for (int64_t c = 0; c < S; ++c) k.axpy(srow[c], sc.w_ptr[c], dx, D);
      }
    }
    if (!grads) return;
    if (!per_ex) {
      T* dx = ws.dx.data() + r0 * Dp;
      if (S == 0) std::fill(dx, dx + mb * Dp, T(0));
      for (int64_t k0 = 0; k0 < S; k0 += kKc) {
        const int64_t kc = std::min(kKc, S - k0);
        k.gemm(mb, Dp, kc, ws.ls.data() + r0 * lds + k0, lds, 1, ws.w_samp.data() + k0 * Dp, Dp, NR, dx, Dp,
               k0 > 0);
      }
    }
    for (int64_t j = l0; j < l1; ++j) {
      k.axpy(ws.lt[j], sc.w_true.data() + (j - l0) * Dp, ws.dx.data() + ws.row_of[j] * Dp, Dp);
    }
  });
  if (!grads) return;
  if (out.d_inputs != nullptr && D > 0) {
    for (int64_t i = 0; i < B; ++i) std::memcpy(out.d_inputs + i * D, ws.dx.data() + i * Dp, sizeof(T) * D);
  }

  // ---- phase 2 (shared): dWs = G^T X, db over sampled tiles
  if (!per_ex && S > 0) {
    grow(ws.d_samp, static_cast<size_t>(S * Dp));
    grow(ws.db_samp, static_cast<size_t>(S));
    const int64_t stile = std::max<int64_t>(12, std::min<int64_t>(48, round_up(S / (4 * threads) + 1, 12)));
    constexpr int64_t kKb = 256;
    parallel_for((S + stile - 1) / stile, threads, [&](int64_t t) {
      const int64_t j0 = t * stile;
      const int64_t ms = std::min(stile, S - j0);
      T* C = ws.d_samp.data() + j0 * Dp;
      if (B == 0) std::fill(C, C + ms * Dp, T(0));
      for (int64_t k0 = 0; k0 < B; k0 += kKb) {
        const int64_t kb = std::min(kKb, B - k0);
        k.gemm(ms, Dp, kb, ws.ls.data() + k0 * lds + j0, 1, lds, ws.x.data() + k0 * Dp, Dp, NR, C, Dp, k0 > 0);
      }
      T* db = ws.db_samp.data() + j0;
      std::fill(db, db + ms, T(0));
      for (int64_t i = 0; i < B; ++i) {
        const T* g = ws.ls.data() + i * lds + j0;
        for (int64_t j = 0; j < ms; ++j) db[j] += g[j];
      }
    });
  }

  // ---- phase 3: deduplicated sparse rows, summed in (id, source) order.
  // Sources: label j (j < NL); then shared sampled k, or per-example (i, k) as i * S + k.
  const int64_t NS = per_ex ? B * S : S;
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
  parallel_for((U + kGroupChunk - 1) / kGroupChunk, threads, [&](int64_t c) {
    RowScratch<T>& sc = row_scratch<T>();
    sc.acc.resize(static_cast<size_t>(Dp));
    T* acc = sc.acc.data();
    const int64_t end = std::min(U, (c + 1) * kGroupChunk);
    for (int64_t u = c * kGroupChunk; u < end; ++u) {
      std::fill(acc, acc + Dp, T(0));
      T db = 0;
      for (int64_t e = ws.group_start[u]; e < ws.group_start[u + 1]; ++e) {
        const int64_t src = ws.order[e].second;
        if (src < NL) {
          const T g = ws.lt[src];
          k.axpy(g, ws.x.data() + ws.row_of[src] * Dp, acc, Dp);
          db += g;
        } else if (per_ex) {
          const int64_t j = src - NL;
          const T g = ws.ls[j];
          k.axpy(g, ws.x.data() + (j / S) * Dp, acc, Dp);
          db += g;
        } else {
          const int64_t j = src - NL;
          k.axpy(T(1), ws.d_samp.data() + j * Dp, acc, Dp);
          db += ws.db_samp[j];
        }
      }
      if (out.grad_ids != nullptr) out.grad_ids[u] = ws.order[ws.group_start[u]].first;
      if (out.grad_weights != nullptr && D > 0) std::memcpy(out.grad_weights + u * D, acc, sizeof(T) * D);
      if (out.grad_biases != nullptr) out.grad_biases[u] = db;
    }
  });
}

template void row_loss<float>(const RowLossInput<float>&, RowLossOutput<float>&);
template void row_loss<double>(const RowLossInput<double>&, RowLossOutput<double>&);

}  // namespace pysampled
