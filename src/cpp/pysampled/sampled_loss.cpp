#include "sampled_loss.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

#include "accidental_hits.hpp"
#include "kernels/loss.hpp"
#include "parallel.hpp"

namespace pysampled {

namespace {

inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Buffers reused across calls made from the same thread (no page faults and
// no reallocation in a training loop).
template <class T>
struct Workspace {
  std::vector<T> x;       // [B, Dp] inputs, zero-padded
  std::vector<T> w_true;  // [B*NT, Dp]
  std::vector<T> w_samp;  // [S, Dp]
  std::vector<T> w_pack;  // [ceil(S/NR), Dp, NR] panels of Ws^T
  std::vector<T> b_true, b_samp;
  std::vector<T> log_tec, log_sec;
  std::vector<T> lg;      // [B, NT+S]: logits, then dLoss/dlogits
  std::vector<T> d_samp;  // [S, Dp]
  std::vector<T> db_samp; // [S]
  std::vector<T> dx;      // [B, Dp]
  std::vector<int64_t> hit_start, hit_col;
  std::vector<T> hit_raw;  // the unmasked dot of each hit, while a row is being biased
  std::vector<std::pair<int64_t, int64_t>> order;  // (class id, source position)
  std::vector<int64_t> group_start;
};

template <class T>
Workspace<T>& workspace() {
  thread_local Workspace<T> ws;
  return ws;
}

template <class T>
void resize(std::vector<T>& v, size_t n) {
#ifdef PYSAMPLED_SANITIZE
  // Exact sizes, so that (with libstdc++'s vector annotations) ASan sees a
  // read past the part of a buffer this call uses, left over from a bigger call.
  v.resize(n);
#else
  if (v.size() < n) v.resize(n);
#endif
}

template <class T>
void validate(const SampledLossInput<T>& in) {
  if (in.batch < 0 || in.num_true < 1 || in.num_sampled < 0 || in.dim < 0) {
    throw std::invalid_argument("invalid problem sizes");
  }
  if (in.weights == nullptr) throw std::invalid_argument("weights are required");
  if (in.weights->cols() != in.dim) {
    throw std::invalid_argument("Matrix size-incompatible: inputs have " + std::to_string(in.dim) +
                                " columns, weights have " + std::to_string(in.weights->cols()));
  }
  if (in.biases != nullptr && in.biases->cols() != 1) throw std::invalid_argument("biases must be 1-D");
  const int64_t nt_total = in.batch * in.num_true;
  for (int64_t j = 0; j < nt_total; ++j) in.weights->check_id(in.labels[j], "labels", j);
  for (int64_t j = 0; j < in.num_sampled; ++j) in.weights->check_id(in.sampled[j], "sampled_candidates", j);
  if (in.biases != nullptr) {
    for (int64_t j = 0; j < nt_total; ++j) in.biases->check_id(in.labels[j], "labels (biases)", j);
    for (int64_t j = 0; j < in.num_sampled; ++j) {
      in.biases->check_id(in.sampled[j], "sampled_candidates (biases)", j);
    }
  }
  if (in.kind == LossKind::kLogits && in.want_grads && in.upstream == nullptr &&
      in.batch * (in.num_true + in.num_sampled) > 0) {
    throw std::invalid_argument("gradients of the logits need an upstream cotangent");
  }
}

}  // namespace

// Applies one class's summed gradient row to its weights (and bias).
template <class T>
inline void update_row(const SparseUpdate<T>& up, int64_t id, const T* g, T gb, int64_t D, bool has_gb) {
  T* w = const_cast<T*>(reinterpret_cast<const T*>(up.weights->row_bytes(id)));
  const T lr = up.learning_rate;
  if (up.optimizer == Optimizer::kSgd) {
    for (int64_t d = 0; d < D; ++d) w[d] -= lr * g[d];
    if (has_gb) *const_cast<T*>(reinterpret_cast<const T*>(up.biases->row_bytes(id))) -= lr * gb;
    return;
  }
  T* a = const_cast<T*>(reinterpret_cast<const T*>(up.weight_accum->row_bytes(id)));
  for (int64_t d = 0; d < D; ++d) {
    a[d] += g[d] * g[d];
    w[d] -= lr * g[d] / (std::sqrt(a[d]) + up.epsilon);
  }
  if (has_gb) {
    T* ab = const_cast<T*>(reinterpret_cast<const T*>(up.bias_accum->row_bytes(id)));
    T* b = const_cast<T*>(reinterpret_cast<const T*>(up.biases->row_bytes(id)));
    *ab += gb * gb;
    *b -= lr * gb / (std::sqrt(*ab) + up.epsilon);
  }
}

template <class T>
void sampled_loss(const SampledLossInput<T>& in, SampledLossOutput<T>& out,
                  const SparseUpdate<T>* update) {
  validate(in);
  if (update != nullptr && !in.want_grads) throw std::invalid_argument("an update needs gradients");
  const LossKernels<T>& k = loss_kernels<T>(active_isa());
  Workspace<T>& ws = workspace<T>();
  const int threads = std::max(1, in.num_threads);
  const int64_t B = in.batch, D = in.dim, NT = in.num_true, S = in.num_sampled;
  const int64_t BT = B * NT;
  const int64_t NR = k.panel_width;
  const int64_t Dp = round_up(std::max<int64_t>(D, 1), k.lanes);
  const int64_t Sp = round_up(S, NR);
  const int64_t ldl = NT + S;
  const bool grads = in.want_grads;

  // ---- gather rows (padded with zeros beyond D), biases and log-Q terms
  resize(ws.x, static_cast<size_t>(B * Dp));
  resize(ws.w_true, static_cast<size_t>(BT * Dp));
  resize(ws.w_samp, static_cast<size_t>(S * Dp));
  resize(ws.w_pack, static_cast<size_t>(Sp * Dp));
  resize(ws.b_true, static_cast<size_t>(BT));
  resize(ws.b_samp, static_cast<size_t>(S));
  resize(ws.log_tec, static_cast<size_t>(BT));
  resize(ws.log_sec, static_cast<size_t>(S));
  resize(ws.lg, static_cast<size_t>(B * ldl));
  constexpr int64_t kGatherChunk = 64;
  const int64_t n_rows = B + BT + S;
  // Weight rows are scattered over a table far bigger than the caches:
  // prefetch a few rows ahead so that several DRAM misses overlap.
  auto prefetch = [&](int64_t r) {
    if (r < B || r >= n_rows) return;
    const int64_t id = r < B + BT ? in.labels[r - B] : in.sampled[r - B - BT];
    in.weights->prefetch_row(id);
  };
  constexpr int64_t kAhead = 4;
  parallel_for((n_rows + kGatherChunk - 1) / kGatherChunk, threads, [&](int64_t c) {
    const int64_t end = std::min(n_rows, (c + 1) * kGatherChunk);
    for (int64_t r = c * kGatherChunk; r < std::min(end, c * kGatherChunk + kAhead); ++r) prefetch(r);
    for (int64_t r = c * kGatherChunk; r < end; ++r) {
      if (r + kAhead < end) prefetch(r + kAhead);
      T* dst;
      if (r < B) {
        dst = ws.x.data() + r * Dp;
        // With dim == 0 the caller passes no inputs buffer (null): no memcpy.
        if (D > 0) std::memcpy(dst, in.inputs + r * in.inputs_stride, sizeof(T) * D);
      } else if (r < B + BT) {
        const int64_t j = r - B;
        dst = ws.w_true.data() + j * Dp;
        in.weights->gather_row(in.labels[j], dst);
        ws.b_true[j] = in.biases ? in.biases->template value<T>(in.labels[j]) : T(0);
        ws.log_tec[j] = in.subtract_log_q ? std::log(in.true_expected[j]) : T(0);
      } else {
        const int64_t j = r - B - BT;
        dst = ws.w_samp.data() + j * Dp;
        in.weights->gather_row(in.sampled[j], dst);
        ws.b_samp[j] = in.biases ? in.biases->template value<T>(in.sampled[j]) : T(0);
        ws.log_sec[j] = in.subtract_log_q ? std::log(in.sampled_expected[j]) : T(0);
      }
      std::fill(dst + D, dst + Dp, T(0));
    }
  });
  // Panels of Ws^T for the logits GEMM: panel p holds columns p*NR.. as [Dp][NR].
  parallel_for(Sp / NR, threads, [&](int64_t p) {
    T* panel = ws.w_pack.data() + p * Dp * NR;
    for (int64_t c = 0; c < NR; ++c) {
      const int64_t j = p * NR + c;
      if (j < S) {
        const T* row = ws.w_samp.data() + j * Dp;
        for (int64_t d = 0; d < Dp; ++d) panel[d * NR + c] = row[d];
      } else {
        for (int64_t d = 0; d < Dp; ++d) panel[d * NR + c] = T(0);
      }
    }
  });

  // ---- accidental hits as per-row lists of sampled columns
  const bool mask = in.remove_accidental_hits && S > 0;
  if (mask) {
    const AccidentalHits hits = compute_accidental_hits(in.labels, B, NT, in.sampled, S,
                                                        in.mask_all_duplicates);
    ws.hit_start.assign(static_cast<size_t>(B + 1), 0);
    ws.hit_col.assign(hits.ids.begin(), hits.ids.end());
    resize(ws.hit_raw, ws.hit_col.size());
    for (const int32_t row : hits.indices) ++ws.hit_start[row + 1];
    for (int64_t i = 0; i < B; ++i) ws.hit_start[i + 1] += ws.hit_start[i];
  }

  // ---- phase 1: batch-row tiles
  if (grads) resize(ws.dx, static_cast<size_t>(B * Dp));
  const int64_t tile = std::max<int64_t>(8, std::min<int64_t>(48, round_up(B / (4 * threads) + 1, 8)));
  constexpr int64_t kKc = 256;  // k-block of the dX GEMM
  const T mask_value = static_cast<T>(-FLT_MAX);
  // Logits kind, gradients only (no logits output): skip the forward GEMM.
  const bool skip_forward = in.kind == LossKind::kLogits && grads && out.logits == nullptr;
  parallel_for((B + tile - 1) / tile, threads, [&](int64_t t) {
    const int64_t r0 = t * tile;
    const int64_t mb = std::min(tile, B - r0);
    T* L = ws.lg.data() + r0 * ldl;
    if (skip_forward) {
      // Gradients of sum(upstream * logits) need no logits: the cotangent is the upstream.
      for (int64_t i = r0; i < r0 + mb; ++i) {
        std::memcpy(ws.lg.data() + i * ldl, in.upstream + i * ldl, sizeof(T) * ldl);
      }
    }
    if (S > 0 && !skip_forward) {
      k.gemm(mb, S, Dp, ws.x.data() + r0 * Dp, Dp, 1, ws.w_pack.data(), NR, Dp * NR, L + NT, ldl,
             false);
    }
    for (int64_t i = r0; i < r0 + mb && !skip_forward; ++i) {
      T* row = ws.lg.data() + i * ldl;
      const T* xi = ws.x.data() + i * Dp;
      for (int64_t c = 0; c < NT; ++c) {
        const int64_t j = i * NT + c;
        row[c] = (k.dot(xi, ws.w_true.data() + j * Dp, Dp) + ws.b_true[j]) - ws.log_tec[j];
      }
      T* srow = row + NT;
      // TF: ((x.w + b) + mask) - log Q, in that order. One SIMD pass does
      // (x.w + b) - log Q; masked columns are then redone from their saved dot.
      const int64_t h0 = mask ? ws.hit_start[i] : 0, h1 = mask ? ws.hit_start[i + 1] : 0;
      for (int64_t h = h0; h < h1; ++h) ws.hit_raw[h] = srow[ws.hit_col[h]];
      k.add_bias_sub_logq(srow, ws.b_samp.data(), in.subtract_log_q ? ws.log_sec.data() : nullptr, S);
      for (int64_t h = h0; h < h1; ++h) {
        // TF assigns (not adds) duplicate indices into the dense mask.
        const int64_t col = ws.hit_col[h];
        bool first = true;
        for (int64_t g = h0; g < h; ++g) first = first && ws.hit_col[g] != col;
        if (!first) continue;
        const T masked = (ws.hit_raw[h] + ws.b_samp[col]) + mask_value;
        srow[col] = in.subtract_log_q ? masked - ws.log_sec[col] : masked;
      }
      if (out.logits != nullptr) std::memcpy(out.logits + i * ldl, row, sizeof(T) * ldl);
      const T u = (in.kind != LossKind::kLogits && in.upstream) ? in.upstream[i] : T(1);
      if (in.kind == LossKind::kSoftmax) {
        out.loss[i] = k.softmax_row(row, ldl, NT, u);
      } else if (in.kind == LossKind::kNce) {
        const T target = in.nce_true_target > 0 ? in.nce_true_target : T(1) / static_cast<T>(NT);
        out.loss[i] = k.nce_row(row, ldl, NT, target, u);
      } else if (grads) {
        std::memcpy(row, in.upstream + i * ldl, sizeof(T) * ldl);
      }
    }
    if (!grads) return;
    T* dx = ws.dx.data() + r0 * Dp;
    if (S == 0) std::fill(dx, dx + mb * Dp, T(0));
    for (int64_t k0 = 0; k0 < S; k0 += kKc) {
      const int64_t kc = std::min(kKc, S - k0);
      k.gemm(mb, Dp, kc, L + NT + k0, ldl, 1, ws.w_samp.data() + k0 * Dp, Dp, NR, dx, Dp, k0 > 0);
    }
    for (int64_t i = r0; i < r0 + mb; ++i) {
      const T* g = ws.lg.data() + i * ldl;
      for (int64_t c = 0; c < NT; ++c) {
        k.axpy(g[c], ws.w_true.data() + (i * NT + c) * Dp, ws.dx.data() + i * Dp, Dp);
      }
    }
  });
  if (!grads) return;
  if (out.d_inputs != nullptr) {
    for (int64_t i = 0; i < B; ++i) std::memcpy(out.d_inputs + i * D, ws.dx.data() + i * Dp, sizeof(T) * D);
  }

  // ---- phase 2: dWs = G^T X and db for sampled columns, over sampled-row tiles
  resize(ws.d_samp, static_cast<size_t>(S * Dp));
  resize(ws.db_samp, static_cast<size_t>(S));
  // Tile sizes only balance the work: every element is computed the same way
  // whatever the tiling, so they may depend on the thread count.
  const int64_t stile = std::max<int64_t>(12, std::min<int64_t>(48, round_up(S / (4 * threads) + 1, 12)));
  constexpr int64_t kKb = 256;
  parallel_for((S + stile - 1) / stile, threads, [&](int64_t t) {
    const int64_t j0 = t * stile;
    const int64_t ms = std::min(stile, S - j0);
    T* C = ws.d_samp.data() + j0 * Dp;
    if (B == 0) std::fill(C, C + ms * Dp, T(0));
    for (int64_t k0 = 0; k0 < B; k0 += kKb) {
      const int64_t kb = std::min(kKb, B - k0);
      k.gemm(ms, Dp, kb, ws.lg.data() + k0 * ldl + NT + j0, 1, ldl, ws.x.data() + k0 * Dp, Dp, NR, C,
             Dp, k0 > 0);
    }
    T* db = ws.db_samp.data() + j0;
    std::fill(db, db + ms, T(0));
    for (int64_t i = 0; i < B; ++i) {
      const T* g = ws.lg.data() + i * ldl + NT + j0;
      for (int64_t j = 0; j < ms; ++j) db[j] += g[j];
    }
  });

  const bool has_bias_grad = in.biases != nullptr && (out.grad_biases != nullptr || update != nullptr) &&
                            (update == nullptr || update->biases != nullptr);
  std::vector<T>& x = ws.x;
  std::vector<T>& lg = ws.lg;

  // ---- phase 3 (Hogwild): apply every contribution at once, no grouping
  if (update != nullptr && update->hogwild) {
    constexpr int64_t kChunk = 64;
    const int64_t n_src = BT + S;
    parallel_for((n_src + kChunk - 1) / kChunk, threads, [&](int64_t c) {
      std::vector<T> g(static_cast<size_t>(Dp));
      const int64_t end = std::min(n_src, (c + 1) * kChunk);
      for (int64_t src = c * kChunk; src < end; ++src) {
        T gb;
        int64_t id;
        if (src < BT) {
          const T gl = lg[(src / NT) * ldl + src % NT];
          const T* xi = x.data() + (src / NT) * Dp;
          for (int64_t d = 0; d < D; ++d) g[d] = gl * xi[d];
          gb = gl;
          id = in.labels[src];
        } else {
          const int64_t j = src - BT;
          std::memcpy(g.data(), ws.d_samp.data() + j * Dp, sizeof(T) * D);
          gb = ws.db_samp[j];
          id = in.sampled[j];
        }
        update_row(*update, id, g.data(), gb, D, has_bias_grad);
      }
    });
    return;
  }

  // ---- phase 3: deduplicated sparse rows, summed in (id, source) order
  ws.order.resize(static_cast<size_t>(BT + S));
  for (int64_t j = 0; j < BT; ++j) ws.order[j] = {in.labels[j], j};
  for (int64_t j = 0; j < S; ++j) ws.order[BT + j] = {in.sampled[j], BT + j};
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
    std::vector<T> acc(static_cast<size_t>(Dp));
    const int64_t end = std::min(U, (c + 1) * kGroupChunk);
    for (int64_t u = c * kGroupChunk; u < end; ++u) {
      std::fill(acc.begin(), acc.end(), T(0));
      T db = 0;
      for (int64_t e = ws.group_start[u]; e < ws.group_start[u + 1]; ++e) {
        const int64_t src = ws.order[e].second;
        if (src < BT) {
          const T g = lg[(src / NT) * ldl + src % NT];
          k.axpy(g, x.data() + (src / NT) * Dp, acc.data(), Dp);
          db += g;
        } else {
          const int64_t j = src - BT;
          k.axpy(T(1), ws.d_samp.data() + j * Dp, acc.data(), Dp);
          db += ws.db_samp[j];
        }
      }
      const int64_t id = ws.order[ws.group_start[u]].first;
      if (out.grad_ids != nullptr) out.grad_ids[u] = id;
      if (out.grad_weights != nullptr) std::memcpy(out.grad_weights + u * D, acc.data(), sizeof(T) * D);
      if (out.grad_biases != nullptr) out.grad_biases[u] = db;
      if (update != nullptr) update_row(*update, id, acc.data(), db, D, has_bias_grad);
    }
  });
}

template void sampled_loss<float>(const SampledLossInput<float>&, SampledLossOutput<float>&,
                                  const SparseUpdate<float>*);
template void sampled_loss<double>(const SampledLossInput<double>&, SampledLossOutput<double>&,
                                   const SparseUpdate<double>*);

}  // namespace pysampled
