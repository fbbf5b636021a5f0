#include "sampled_loss.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "accidental_hits.hpp"
#include "huge_array.hpp"
#include "kernels/loss.hpp"
#include "kernels/loss_bf16.hpp"
#include "parallel.hpp"
#include "tile_grads.hpp"

namespace pysampled {

namespace {


// Buffers reused across calls made from the same thread (no page faults and
// no reallocation in a training loop).
template <class T>
struct Workspace {
  AlignedVector<T> x;       // [B, Dp] inputs, zero-padded
  AlignedVector<T> w_true;  // [B*NT, Dp]
  AlignedVector<T> w_samp;  // [S, Dp]
  AlignedVector<T> w_pack;  // [ceil(S/NR), Dp, NR] panels of Ws^T
  AlignedVector<T> w_dx;    // [ceil(Dp/NR), S, NR] column panels of Ws (dX = G Ws)
  std::vector<T> b_true, b_samp;
  std::vector<T> log_tec, log_sec;
  AlignedVector<T> lg;      // [B, NT+S]: logits, then dLoss/dlogits
  AlignedVector<T> d_samp;  // [S, Dp]
  std::vector<T> db_samp; // [S]
  AlignedVector<T> dx;      // [B, Dp]
  std::vector<int64_t> hit_start, hit_col;
  std::vector<T> hit_raw;  // the unmasked dot of each hit, while a row is being biased
  std::vector<std::pair<int64_t, int64_t>> order;  // (class id, source position)
  std::vector<int64_t> group_start;
  AlignedVector<uint16_t> x16;       // [B, Dp] inputs as bfloat16 (bf16 dot path)
  AlignedVector<uint16_t> w_pack16;  // [ceil(S/32), Dp/2, 32, 2] sampled rows as bfloat16 pairs
  std::vector<char> panel_subnormal;  // per bfloat16 panel: a subnormal weight
  std::vector<char> x16_bad;          // per block of inputs: a value not plain bfloat16
  // bf16_grads on bfloat16 operands (Sk = S and Bk = B rounded up to 32):
  // (64-byte aligned: tile rows and vector stores then fill whole lines)
  AlignedVector<uint16_t> g16;      // [B, Sk] the sampled columns of dLoss/dlogits, rounded
  AlignedVector<uint16_t> g_pairs;  // [Sk/32][Bk/2][32][2] the same as pair panels (dWs^T = X^T G)
  AlignedVector<uint16_t> w_dx16;   // [ceil(Dp/32)][Sk/2][32][2] Ws as pair panels (dX = G Ws)
  AlignedVector<uint16_t> xt16;     // [Dp, Bk] the inputs transposed
  AlignedVector<float> dwt;         // [Dp, Sk] dWs^T
};

template <class T>
Workspace<T>& workspace() {
  thread_local Workspace<T> ws;
  return ws;
}

template <class T, class A>
void resize(std::vector<T, A>& v, size_t n) {
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
  if (!std::is_same_v<T, float> && in.inputs_bf16 != nullptr) {
    throw std::invalid_argument("bfloat16 inputs need float32 computing");
  }
  if (in.inputs_bf16 != nullptr && in.inputs != nullptr) {
    throw std::invalid_argument("inputs are given twice (float and bfloat16)");
  }
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

// One call's state, shared by the phases below.
template <class T>
struct Call {
  const SampledLossInput<T>& in;
  SampledLossOutput<T>& out;
  const SparseUpdate<T>* update;
  const LossKernels<T>& k;
  Workspace<T>& ws;
  int threads;
  int64_t B, D, NT, S, BT, NR, Dp, Sp, ldl;
  bool grads;
  bool mask = false;          // accidental hits are removed
  bool has_bias_grad = false;
  bool bf16_dot = false;      // the logits GEMM runs on bfloat16 operands (kernels/loss_bf16.hpp)
  bool x16_ready = false;     // ... and phase_gather wrote its bfloat16 inputs (ws.x16, ws.x16_bad)
  bool amx = false;           // ... on AMX tiles rather than vdpbf16ps
  bool round_g = false;       // in.bf16_grads applies (float computing, gradients, S > 0)
  bool bf16_bwd = false;      // ... and the gradient products run on bfloat16 operands
  bool amx_bwd = false;       // ... on AMX tiles rather than vdpbf16ps
  int64_t Sk = 0, Bk = 0;     // S and B rounded up to 32 (bf16_bwd)
  int64_t tile = 0;           // batch rows per tile (phases logits_loss / input_grads)
  // The inputs as the kernels read them ([B, Dp]): the caller's array itself
  // where its rows need no padding and the call's update (if any) cannot
  // write them (no shared memory with the tables it updates), else the
  // zero-padded copy in ws.x, taken before anything is written.
  const T* X = nullptr;
  T* DX = nullptr;            // dX rows [B, Dp]: out.d_inputs itself when D == Dp, else ws.dx

  Call(const SampledLossInput<T>& i, SampledLossOutput<T>& o, const SparseUpdate<T>* u,
       const LossKernels<T>& kk, Workspace<T>& w)
      : in(i), out(o), update(u), k(kk), ws(w) {
    threads = std::max(1, in.num_threads);
    B = in.batch;
    D = in.dim;
    NT = in.num_true;
    S = in.num_sampled;
    BT = B * NT;
    NR = k.panel_width;
    Dp = round_up(std::max<int64_t>(D, 1), k.lanes);
    Sp = round_up(S, NR);
    ldl = NT + S;
    grads = in.want_grads;
    mask = in.remove_accidental_hits && S > 0;
    has_bias_grad = in.biases != nullptr &&
                    (out.grad_biases != nullptr || out.grad_biases16 != nullptr || update != nullptr) &&
                    (update == nullptr || update->biases != nullptr);
    // Tile sizes only balance the work (every element is computed the same
    // way whatever the tiling): about four tiles per thread.
    tile = std::max<int64_t>(8, std::min<int64_t>(48, round_up(B / (4 * threads) + 1, 8)));
  }
};

// The most batch rows of a tile whose logits rows (row_bytes each) fit in
// 256 KiB, a multiple of `unit` rows (at least one unit): the tile's
// logits then stay in L2 from the product through the loss to the gradient
// products. Only S in the thousands hits the cap (S = 4096, one thread of
// an AMD Zen 4: float32 fwd+bwd 40.3 -> 37.1 ms, bfloat16 23.5 -> 22.4 ms).
inline int64_t tile_rows_cap(int64_t row_bytes, int64_t unit) {
  constexpr int64_t kTileLogitsBytes = 256 * 1024;
  return std::max(unit, kTileLogitsBytes / std::max<int64_t>(row_bytes, 1) / unit * unit);
}

// Chooses the bfloat16 logits GEMM: float computing, bfloat16 weights, the
// avx512 level on a CPU with AVX512-BF16. phase_pack then checks that the
// inputs are bfloat16 values too (and no operand is subnormal), else takes
// the float32 path.
template <class T>
bool use_bf16_dot(const Call<T>& c) {
  if constexpr (!std::is_same_v<T, float>) {
    return false;
  } else {
    return c.S > 0 && c.D > 0 && c.in.weights->dtype() == DType::kBFloat16 &&
           active_isa() == Isa::kAvx512 && bf16_dot_available() && bf16_dot_enabled();
  }
}

// True if the bfloat16 value with bits h is a subnormal, which the bfloat16
// products do not read as itself.
inline bool bf16_subnormal(uint16_t h) { return ((h & 0x7f80) == 0) & ((h & 0x007f) != 0); }

// True if one of the n bfloat16 values (bits) is a subnormal.
inline bool bf16_has_subnormal(const uint16_t* v, int64_t n) {
  bool any = false;
  for (int64_t i = 0; i < n; ++i) any |= bf16_subnormal(v[i]);
  return any;
}

// True if the sparse update may write a byte of [p, p + bytes): its tables
// and accumulators share memory with it.
template <class T>
bool update_may_write(const SparseUpdate<T>* u, const void* p, int64_t bytes) {
  if (u == nullptr) return false;
  for (const ShardedRows* r : {u->weights, u->biases, u->weight_accum, u->bias_accum}) {
    if (r != nullptr && r->overlaps(p, bytes)) return true;
  }
  return false;
}

// ---- phase hits: accidental hits as per-row lists of sampled columns
template <class T>
void phase_hits(Call<T>& c) {
  if (!c.mask) return;
  Workspace<T>& ws = c.ws;
  const AccidentalHits hits = compute_accidental_hits(c.in.labels, c.B, c.NT, c.in.sampled, c.S,
                                                      c.in.mask_all_duplicates);
  ws.hit_start.assign(static_cast<size_t>(c.B + 1), 0);
  ws.hit_col.assign(hits.ids.begin(), hits.ids.end());
  resize(ws.hit_raw, ws.hit_col.size());
  for (const int32_t row : hits.indices) ++ws.hit_start[row + 1];
  for (int64_t i = 0; i < c.B; ++i) ws.hit_start[i + 1] += ws.hit_start[i];
}

// The reduction's order: every (class id, source position) pair sorted, and
// where each id's group starts (ws.group_start, closed by the total). It
// depends on the ids alone, so phase_batch_tiles sorts while the tiles run.
template <class T>
void reduce_order(Call<T>& c) {
  Workspace<T>& ws = c.ws;
  const int64_t BT = c.BT, S = c.S;
  ws.order.resize(static_cast<size_t>(BT + S));
  for (int64_t j = 0; j < BT; ++j) ws.order[j] = {c.in.labels[j], j};
  for (int64_t j = 0; j < S; ++j) ws.order[BT + j] = {c.in.sampled[j], BT + j};
  std::sort(ws.order.begin(), ws.order.end());
  ws.group_start.clear();
  for (size_t e = 0; e < ws.order.size(); ++e) {
    if (e == 0 || ws.order[e].first != ws.order[e - 1].first) ws.group_start.push_back(static_cast<int64_t>(e));
  }
  ws.group_start.push_back(static_cast<int64_t>(ws.order.size()));
}

// ---- phase gather: rows (padded with zeros beyond D), biases and log-Q terms
template <class T>
void phase_gather(Call<T>& c) {
  const SampledLossInput<T>& in = c.in;
  Workspace<T>& ws = c.ws;
  const int64_t B = c.B, BT = c.BT, S = c.S, D = c.D, Dp = c.Dp;
  const bool x_in_place = D == Dp && D > 0 && in.inputs_stride == D && in.inputs_bf16 == nullptr &&
                          !update_may_write(c.update, in.inputs, static_cast<int64_t>(sizeof(T)) * B * D);
  [[maybe_unused]] const ConvertKernels& widen = convert_kernels();
  // bfloat16 inputs on the bfloat16 logits path: their bits are the
  // product's operand (ws.x16), copied here, checked for subnormals per
  // block of 64 rows (phase_pack then skips its narrowing pass).
  constexpr int64_t kX16Rows = 64;
  const bool x16_here = c.bf16_dot && in.inputs_bf16 != nullptr && D > 0;
  if (x16_here) {
    resize(ws.x16, static_cast<size_t>(B * Dp));
    ws.x16_bad.assign(static_cast<size_t>((B + kX16Rows - 1) / kX16Rows), 0);
    c.x16_ready = true;
  }
  if (x_in_place) {
    c.X = in.inputs;
  } else {
    resize(ws.x, static_cast<size_t>(B * Dp));
    c.X = ws.x.data();
  }
  resize(ws.w_true, static_cast<size_t>(BT * Dp));
  resize(ws.w_samp, static_cast<size_t>(S * Dp));
  resize(ws.b_true, static_cast<size_t>(BT));
  resize(ws.b_samp, static_cast<size_t>(S));
  resize(ws.log_tec, static_cast<size_t>(BT));
  resize(ws.log_sec, static_cast<size_t>(S));
  resize(ws.lg, static_cast<size_t>(B * c.ldl));
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
  // Task 0 finds the accidental hits (phase_hits: serial, 28 µs at S = 512)
  // while the other threads gather.
  const int64_t first = c.mask ? 1 : 0;
  parallel_for((n_rows + kGatherChunk - 1) / kGatherChunk + first, c.threads, [&](int64_t task) {
    if (task < first) {
      phase_hits(c);
      return;
    }
    const int64_t ch = task - first;
    const int64_t end = std::min(n_rows, (ch + 1) * kGatherChunk);
    for (int64_t r = ch * kGatherChunk; r < std::min(end, ch * kGatherChunk + kAhead); ++r) prefetch(r);
    for (int64_t r = ch * kGatherChunk; r < end; ++r) {
      if (r + kAhead < end) prefetch(r + kAhead);
      T* dst;
      if (r < B) {
        if (x_in_place) continue;
        dst = ws.x.data() + r * Dp;
        // With dim == 0 the caller passes no inputs buffer (null): no copy.
        if constexpr (std::is_same_v<T, float>) {
          if (D > 0 && in.inputs_bf16 != nullptr) {
            const uint16_t* src = in.inputs_bf16 + r * in.inputs_stride;
            widen.bf16_to_f32(src, dst, D);
            std::fill(dst + D, dst + Dp, T(0));
            if (x16_here) {
              uint16_t* d16 = ws.x16.data() + r * Dp;
              std::memcpy(d16, src, sizeof(uint16_t) * D);
              std::fill(d16 + D, d16 + Dp, uint16_t{0});
              if (bf16_has_subnormal(src, D)) ws.x16_bad[r / kX16Rows] = 1;
            }
            continue;
          }
        }
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
}

// bf16_grads runs the gradient products on AMX tiles where they are
// available (with bfloat16 weights and inputs): 2.0-2.4x the float32 path at
// S >= 512 on one thread of an Intel Xeon; else on vdpbf16ps where that is
// native (AMD Zen 4 and later: bf16_dot_grads_enabled). vdpbf16ps measured
// slower than the float32 kernels for these products on the Xeon (0.6x), so
// there, without AMX, the float32 kernels read the rounded G.
inline bool amx_usable() { return amx_bf16_available() && amx_bf16_enabled(); }

template <class T>
bool bf16_backward_available(const Call<T>& c) {
  return c.round_g && (amx_usable() || bf16_dot_grads_enabled());
}

// C = A B for the bfloat16 gradient products: on AMX tiles or vdpbf16ps
// (the operands and result are laid out the same for both).
inline void gemm_bf16_grads(const Call<float>& c, int64_t m, int64_t n, int64_t k, const uint16_t* A,
                            int64_t lda, const uint16_t* B, int64_t panel_stride, float* C, int64_t ldc) {
  if (c.amx_bwd) {
    isa_amxbf16::gemm_bf16(m, n, k, A, lda, B, panel_stride, C, ldc);
  } else {
    isa_avx512bf16::gemm_bf16(m, n, k, A, lda, B, panel_stride, C, ldc);
  }
}

// The operands of the bfloat16 gradient products (bf16_grads with bfloat16
// weights and inputs): Ws as pair panels over its columns for dX = G Ws,
// the inputs transposed for dWs^T = X^T G, and the rows of G's pair panels
// past the batch zeroed (the tiles write the others).
template <class T>
void pack_bf16_backward(Call<T>& c) {
  Workspace<T>& ws = c.ws;
  const int64_t S = c.S, B = c.B, Dp = c.Dp;
  constexpr int64_t W = kBf16PanelWidth;
  c.bf16_bwd = true;
  c.amx_bwd = amx_usable();
  c.Sk = round_up(S, W);
  c.Bk = round_up(B, W);
  const int64_t Sk = c.Sk, Bk = c.Bk, dpanels = (Dp + W - 1) / W;
  resize(ws.g16, static_cast<size_t>(B * Sk));
  resize(ws.g_pairs, static_cast<size_t>(Sk * Bk));
  resize(ws.w_dx16, static_cast<size_t>(dpanels * Sk * W));
  resize(ws.xt16, static_cast<size_t>(Dp * Bk));
  const int64_t written = (B + 1) / 2;  // pairs the tiles write
  for (int64_t q = 0; q < Sk / W; ++q) {
    uint16_t* panel = ws.g_pairs.data() + q * Bk * W;
    std::fill(panel + written * 2 * W, panel + Bk * W, uint16_t{0});
  }
  constexpr int64_t kPairs = 32;  // pairs of sampled rows per task
  const int64_t pair_tasks = (Sk / 2 + kPairs - 1) / kPairs;
  constexpr int64_t kCols = 16;  // input columns per task (Dp is a multiple of 16)
  const int64_t col_tasks = (Dp + kCols - 1) / kCols;
  parallel_for(pair_tasks + col_tasks, c.threads, [&](int64_t task) {
    if (task < pair_tasks) {
      if constexpr (std::is_same_v<T, float>) {
        // The gathered rows hold bfloat16 values (none subnormal), which the
        // gradients' rounding leaves as they are.
        for (int64_t i = task * kPairs; i < std::min(Sk / 2, (task + 1) * kPairs); ++i) {
          const float* r0 = 2 * i < S ? ws.w_samp.data() + 2 * i * Dp : nullptr;
          const float* r1 = 2 * i + 1 < S ? ws.w_samp.data() + (2 * i + 1) * Dp : nullptr;
          isa_avx512bf16::narrow_grad_pair(r0, r1, Dp, nullptr, nullptr, ws.w_dx16.data() + i * 2 * W, Sk * W);
        }
      }
      return;
    }
    const int64_t d0 = (task - pair_tasks) * kCols;
    isa_avx512bf16::transpose_bf16(ws.x16.data() + d0, Dp, B, kCols, Bk, ws.xt16.data() + d0 * Bk);
  });
}

// ---- phase pack: panels of Ws^T for the logits GEMM (panel p holds
// columns p*NR.. as [Dp][NR]), and column panels of Ws for the input
// gradients (pack_column_panels), packed once per call.
template <class T>
void phase_pack(Call<T>& c) {
  Workspace<T>& ws = c.ws;
  const int64_t NR = c.NR, Dp = c.Dp, S = c.S;
  const bool pack_dx = c.grads && S > 0;
  // (sized where it is packed: the bfloat16 checks below may fall back to
  // the float32 path after the bfloat16 gradient products were chosen)
  auto size_dx = [&] { resize(ws.w_dx, static_cast<size_t>(column_panels_size(S, Dp, NR))); };
  if (c.bf16_dot && !c.x16_ready) {
    // The inputs as bfloat16, if they all are bfloat16 values (checked in
    // the same pass, vectorised; float32 inputs fail on their first row).
    resize(ws.x16, static_cast<size_t>(c.B * Dp));
    constexpr int64_t kRows = 64;
    ws.x16_bad.assign(static_cast<size_t>((c.B + kRows - 1) / kRows), 0);
    parallel_for((c.B + kRows - 1) / kRows, c.threads, [&](int64_t ch) {
      if constexpr (std::is_same_v<T, float>) {  // (bf16_dot is float computing only)
        const int64_t r0 = ch * kRows, r1 = std::min(c.B, r0 + kRows);
        for (int64_t r = r0; r < r1; ++r) {
          if (!isa_avx512bf16::narrow_plain_bf16(c.X + r * Dp, ws.x16.data() + r * Dp, Dp)) {
            ws.x16_bad[ch] = 1;
            return;
          }
        }
      }
    });
  }
  if (c.bf16_dot) {
    for (const char f : ws.x16_bad) c.bf16_dot = c.bf16_dot && f == 0;
  }
  if (c.bf16_dot) {
    // bfloat16 pair panels [Dp/2][32][2] (the gathered rows are exact
    // bfloat16 values: their upper halves).
    constexpr int64_t W = kBf16PanelWidth;
    const int64_t panels = (S + W - 1) / W;
    resize(ws.w_pack16, static_cast<size_t>(panels * W * Dp));
    ws.panel_subnormal.assign(static_cast<size_t>(panels), 0);
    auto hi = [](T v) {
      uint32_t u;
      std::memcpy(&u, &v, sizeof u);
      return static_cast<uint16_t>(u >> 16);
    };
    parallel_for(panels, c.threads, [&](int64_t p) {
      uint16_t* panel = ws.w_pack16.data() + p * W * Dp;
      if constexpr (std::is_same_v<T, float>) {
        if (Dp % 32 == 0) {  // vectorised, with 16 x 16 transposes
          ws.panel_subnormal[p] = isa_avx512bf16::pack_rows_bf16(ws.w_samp.data() + p * W * Dp,
                                                                 std::min(W, S - p * W), Dp, Dp, panel);
          return;
        }
      }
      char sub = 0;
      for (int64_t col = 0; col < W; ++col) {
        const int64_t j = p * W + col;
        const T* row = j < S ? ws.w_samp.data() + j * Dp : nullptr;
        for (int64_t d = 0; d < Dp; ++d) {
          const uint16_t h = row ? hi(row[d]) : 0;
          sub |= bf16_subnormal(h);
          panel[(d / 2) * 2 * W + col * 2 + (d & 1)] = h;
        }
      }
      ws.panel_subnormal[p] = sub;
    });
    bool any_subnormal = false;
    for (const char f : ws.panel_subnormal) any_subnormal |= f != 0;
    if (!any_subnormal) {
      if (bf16_backward_available(c)) {
        pack_bf16_backward(c);
      } else if (pack_dx) {
        size_dx();
        pack_column_panels(ws.w_samp.data(), S, Dp, NR, ws.w_dx.data(), c.threads);
      }
      return;
    }
    c.bf16_dot = false;  // a subnormal weight: the float32 path below
  }
  resize(ws.w_pack, static_cast<size_t>(c.Sp * Dp));
  if (pack_dx) size_dx();
  // One pass per panel of NR sampled rows: their logits panel, and their
  // lines of the input gradient's column panels (one parallel loop, not two:
  // on 2 threads the second's tasks were too short to be shared).
  parallel_for(c.Sp / NR, c.threads, [&](int64_t p) {
    T* panel = ws.w_pack.data() + p * Dp * NR;
    const int64_t cols = std::min(NR, S - p * NR);  // sampled rows in this panel
    const T* rows = ws.w_samp.data() + p * NR * Dp;
    // Column by column of the panel's rows, so that the panel is written in
    // order (its rows of NR values are contiguous).
    for (int64_t d = 0; d < Dp; ++d) {
      T* out = panel + d * NR;
      for (int64_t col = 0; col < cols; ++col) out[col] = rows[col * Dp + d];
      for (int64_t col = cols; col < NR; ++col) out[col] = T(0);
    }
    if (pack_dx) {
      for (int64_t col = 0; col < cols; ++col) {
        pack_column_panels_row(rows + col * Dp, p * NR + col, S, Dp, NR, ws.w_dx.data());
      }
    }
  });
}

// ---- phase logits+loss of batch-row tile t: logits, loss and, in place of
// the logits, dLoss/dlogits.
template <class T>
void tile_logits_loss(Call<T>& c, int64_t t) {
  const SampledLossInput<T>& in = c.in;
  Workspace<T>& ws = c.ws;
  const LossKernels<T>& k = c.k;
  const int64_t r0 = t * c.tile, mb = std::min(c.tile, c.B - r0);
  const int64_t NT = c.NT, S = c.S, Dp = c.Dp, ldl = c.ldl;
  const T mask_value = static_cast<T>(-FLT_MAX);
  T* L = ws.lg.data() + r0 * ldl;
  // The raw sampled dots of row i: in place in the logits rows, or (AMX) in
  // a tile buffer of aligned rows, from which the bias pass writes the
  // logits rows: AMX stores whole 64-byte tile rows, which the logits rows
  // (NT + S floats apart, the sampled block at NT) would split across cache
  // lines (S = 512, 1 thread: about 3% of the call).
  thread_local AlignedVector<T> raw_tile;
  const T* raw = L + NT;
  int64_t ld_raw = ldl;
  if constexpr (std::is_same_v<T, float>) {
    if (c.bf16_dot && c.amx) {
      ld_raw = round_up(S, kBf16PanelWidth);
      resize(raw_tile, static_cast<size_t>(mb * ld_raw));
      raw = raw_tile.data();
      isa_amxbf16::gemm_bf16(mb, S, Dp, ws.x16.data() + r0 * Dp, Dp, ws.w_pack16.data(), Dp * kBf16PanelWidth,
                             raw_tile.data(), ld_raw);
    } else if (c.bf16_dot) {
      isa_avx512bf16::gemm_bf16(mb, S, Dp, ws.x16.data() + r0 * Dp, Dp, ws.w_pack16.data(),
                                Dp * kBf16PanelWidth, L + NT, ldl);
    }
  }
  if (S > 0 && !c.bf16_dot) {
    k.gemm(mb, S, Dp, c.X + r0 * Dp, Dp, 1, ws.w_pack.data(), c.NR, Dp * c.NR, L + NT, ldl,
           false);
  }
  for (int64_t i = r0; i < r0 + mb; ++i) {
    T* row = ws.lg.data() + i * ldl;
    const T* xi = c.X + i * Dp;
    for (int64_t col = 0; col < NT; ++col) {
      const int64_t j = i * NT + col;
      row[col] = (k.dot(xi, ws.w_true.data() + j * Dp, Dp) + ws.b_true[j]) - ws.log_tec[j];
    }
    T* srow = row + NT;
    const T* rrow = raw + (i - r0) * ld_raw;
    // TF: ((x.w + b) + mask) - log Q, in that order. One SIMD pass does
    // (x.w + b) - log Q; masked columns are then redone from their saved dot.
    const int64_t h0 = c.mask ? ws.hit_start[i] : 0, h1 = c.mask ? ws.hit_start[i + 1] : 0;
    for (int64_t h = h0; h < h1; ++h) ws.hit_raw[h] = rrow[ws.hit_col[h]];
    k.add_bias_sub_logq(srow, rrow, ws.b_samp.data(), in.subtract_log_q ? ws.log_sec.data() : nullptr, S);
    for (int64_t h = h0; h < h1; ++h) {
      // TF assigns (not adds) duplicate indices into the dense mask.
      const int64_t col = ws.hit_col[h];
      bool first = true;
      for (int64_t g = h0; g < h; ++g) first = first && ws.hit_col[g] != col;
      if (!first) continue;
      const T masked = (ws.hit_raw[h] + ws.b_samp[col]) + mask_value;
      srow[col] = in.subtract_log_q ? masked - ws.log_sec[col] : masked;
    }
    if (c.out.logits != nullptr) std::memcpy(c.out.logits + i * ldl, row, sizeof(T) * ldl);
    const T u = (in.kind != LossKind::kLogits && in.upstream) ? in.upstream[i] : T(1);
    if (in.kind == LossKind::kSoftmax) {
      c.out.loss[i] = k.softmax_row(row, ldl, NT, u);
    } else if (in.kind == LossKind::kNce) {
      const T target = in.true_target > 0 ? in.true_target : T(1) / static_cast<T>(NT);
      c.out.loss[i] = k.nce_row(row, ldl, NT, target, u);
    } else if (c.grads) {
      std::memcpy(row, in.upstream + i * ldl, sizeof(T) * ldl);
    }
    if constexpr (std::is_same_v<T, float>) {
      // bf16_grads without bfloat16 operands: the float32 kernels read G
      // rounded as the bfloat16 kernels would.
      if (c.round_g && !c.bf16_bwd) {
        for (int64_t j = 0; j < S; ++j) {
          const uint32_t u = static_cast<uint32_t>(bf16_grad_bits(srow[j])) << 16;
          std::memcpy(srow + j, &u, sizeof u);
        }
      }
    }
  }
}

// ---- phase input grads of batch-row tile t: dX = G Ws (+ the true columns),
// while the tile's dLoss/dlogits are still in cache.
template <class T>
void tile_input_grads(Call<T>& c, int64_t t) {
  Workspace<T>& ws = c.ws;
  const LossKernels<T>& k = c.k;
  const int64_t r0 = t * c.tile, mb = std::min(c.tile, c.B - r0);
  const int64_t NT = c.NT, S = c.S, Dp = c.Dp, ldl = c.ldl;
  constexpr int64_t kKc = 256;  // k-block of the dX GEMM
  const T* L = ws.lg.data() + r0 * ldl;
  T* dx = c.DX + r0 * Dp;
  if (S == 0) std::fill(dx, dx + mb * Dp, T(0));
  if constexpr (std::is_same_v<T, float>) {
    if (c.bf16_bwd) {
      // The tile's G rounded, as plain rows (this product) and as pair
      // lines (the weight gradients'; r0 is even), then dX = G Ws.
      const int64_t Sk = c.Sk, Bk = c.Bk;
      for (int64_t i = r0; i < r0 + mb; i += 2) {
        const bool two = i + 1 < c.B;
        isa_avx512bf16::narrow_grad_pair(L + (i - r0) * ldl + NT, two ? L + (i + 1 - r0) * ldl + NT : nullptr,
                                         S, ws.g16.data() + i * Sk, two ? ws.g16.data() + (i + 1) * Sk : nullptr,
                                         ws.g_pairs.data() + (i / 2) * 2 * kBf16PanelWidth, Bk * kBf16PanelWidth);
      }
      gemm_bf16_grads(c, mb, Dp, Sk, ws.g16.data() + r0 * Sk, Sk, ws.w_dx16.data(), Sk * kBf16PanelWidth, dx,
                      Dp);
    }
  }
  for (int64_t k0 = 0; k0 < S && !c.bf16_bwd; k0 += kKc) {
    const int64_t kc = std::min(kKc, S - k0);
    k.gemm(mb, Dp, kc, L + NT + k0, ldl, 1, ws.w_dx.data() + k0 * c.NR, c.NR, S * c.NR, dx, Dp, k0 > 0);
  }
  for (int64_t i = r0; i < r0 + mb; ++i) {
    const T* g = ws.lg.data() + i * ldl;
    for (int64_t col = 0; col < NT; ++col) {
      k.axpy(g[col], ws.w_true.data() + (i * NT + col) * Dp, c.DX + i * Dp, Dp);
    }
  }
}

template <class T>
void phase_batch_tiles(Call<T>& c) {
  // dX goes straight into the caller's output where its rows need no padding.
  const bool dx_in_place = c.grads && c.out.d_inputs != nullptr && c.D == c.Dp;
  if (dx_in_place) {
    c.DX = c.out.d_inputs;
  } else if (c.grads) {
    resize(c.ws.dx, static_cast<size_t>(c.B * c.Dp));
    c.DX = c.ws.dx.data();
  }
  uint16_t* dx16 = nullptr;  // bfloat16 dX, narrowed tile by tile
  if constexpr (std::is_same_v<T, float>) dx16 = c.grads && c.D > 0 ? c.out.d_inputs16 : nullptr;
  [[maybe_unused]] const ConvertKernels& narrow = convert_kernels();
  // With a reduction to come, task 0 sorts its order (reduce_order) while
  // the other threads take the first tiles: on several threads the sort no
  // longer runs alone (S = 512, 2 threads: about 50 µs of a 1.6 ms call).
  const bool sort_here = c.grads && !(c.update != nullptr && c.update->hogwild);
  const int64_t first = sort_here ? 1 : 0;
  parallel_for((c.B + c.tile - 1) / c.tile + first, c.threads, [&](int64_t t) {
    if (t < first) {
      reduce_order(c);
      return;
    }
    tile_logits_loss(c, t - first);
    if (c.grads) tile_input_grads(c, t - first);
    if constexpr (std::is_same_v<T, float>) {
      if (dx16 != nullptr) {  // the tile's rows of dX are final
        const int64_t r0 = (t - first) * c.tile, r1 = std::min(c.B, r0 + c.tile);
        for (int64_t i = r0; i < r1; ++i) narrow.f32_to_bf16(c.DX + i * c.Dp, dx16 + i * c.D, c.D);
      }
    }
  });
  if (c.grads && c.out.d_inputs != nullptr && !dx_in_place) {
    for (int64_t i = 0; i < c.B; ++i) {
      std::memcpy(c.out.d_inputs + i * c.D, c.ws.dx.data() + i * c.Dp, sizeof(T) * c.D);
    }
  }
}

// dWs^T = X^T G on AMX tiles over panels of sampled columns, each
// task's block of dWs^T transposed into d_samp, and db summed from the same
// rounded G in batch order (pair_column_sums).
inline void weight_grads_bf16(Call<float>& c) {
  Workspace<float>& ws = c.ws;
  constexpr int64_t W = kBf16PanelWidth;
  const int64_t S = c.S, Dp = c.Dp, Sk = c.Sk, Bk = c.Bk, panels = Sk / W;
  resize(ws.dwt, static_cast<size_t>(Dp * Sk));
  const int64_t per = std::max<int64_t>(1, panels / (4 * c.threads));
  parallel_for((panels + per - 1) / per, c.threads, [&](int64_t task) {
    const int64_t q0 = task * per, q1 = std::min(panels, q0 + per);
    const int64_t c0 = q0 * W, c1 = std::min(S, q1 * W);
    gemm_bf16_grads(c, Dp, c1 - c0, Bk, ws.xt16.data(), Bk, ws.g_pairs.data() + q0 * Bk * W, Bk * W,
                    ws.dwt.data() + c0, Sk);
    isa_avx512bf16::transpose_32(reinterpret_cast<const uint32_t*>(ws.dwt.data() + c0), Sk, Dp, c1 - c0,
                                 reinterpret_cast<uint32_t*>(ws.d_samp.data() + c0 * Dp), Dp);
    alignas(64) float sums[W];
    for (int64_t q = q0; q < q1; ++q) {
      isa_avx512bf16::pair_column_sums(ws.g_pairs.data() + q * Bk * W, Bk / 2, sums);
      for (int64_t col = 0; col < W && q * W + col < S; ++col) ws.db_samp[q * W + col] = sums[col];
    }
  });
}

// ---- phase weight grads: dWs = G^T X and db for the sampled columns, over
// sampled-row tiles.
template <class T>
void phase_weight_grads(Call<T>& c) {
  Workspace<T>& ws = c.ws;
  resize(ws.d_samp, static_cast<size_t>(c.S * c.Dp));
  resize(ws.db_samp, static_cast<size_t>(c.S));
  if constexpr (std::is_same_v<T, float>) {
    if (c.bf16_bwd) {
      weight_grads_bf16(c);
      return;
    }
  }
  column_tile_grads(c.k, ws.lg.data() + c.NT, c.ldl, c.X, c.B, c.S, c.Dp, c.threads,
                    ws.d_samp.data(), ws.db_samp.data(), [](int64_t, int64_t) {});
}

// ---- phase update (Hogwild): apply every contribution at once, no grouping
template <class T>
void phase_hogwild_update(Call<T>& c) {
  Workspace<T>& ws = c.ws;
  const int64_t BT = c.BT, S = c.S, NT = c.NT, D = c.D, Dp = c.Dp, ldl = c.ldl;
  constexpr int64_t kChunk = 64;
  const int64_t n_src = BT + S;
  parallel_for((n_src + kChunk - 1) / kChunk, c.threads, [&](int64_t ch) {
    std::vector<T> g(static_cast<size_t>(Dp));
    const int64_t end = std::min(n_src, (ch + 1) * kChunk);
    for (int64_t src = ch * kChunk; src < end; ++src) {
      T gb;
      int64_t id;
      if (src < BT) {
        const T gl = ws.lg[(src / NT) * ldl + src % NT];
        const T* xi = c.X + (src / NT) * Dp;
        for (int64_t d = 0; d < D; ++d) g[d] = gl * xi[d];
        gb = gl;
        id = c.in.labels[src];
      } else {
        const int64_t j = src - BT;
        std::memcpy(g.data(), ws.d_samp.data() + j * Dp, sizeof(T) * D);
        gb = ws.db_samp[j];
        id = c.in.sampled[j];
      }
      apply_sparse_row(*c.update, id, g.data(), gb, D, c.has_bias_grad);
    }
  });
}

// ---- phase reduce: deduplicated sparse rows, summed in (id, source) order,
// written out and/or applied by the sparse row update.
template <class T>
void phase_reduce(Call<T>& c) {
  Workspace<T>& ws = c.ws;
  const LossKernels<T>& k = c.k;
  const int64_t BT = c.BT, NT = c.NT, D = c.D, Dp = c.Dp, ldl = c.ldl;
  const int64_t U = static_cast<int64_t>(ws.group_start.size()) - 1;
  c.out.grad_rows = U;
  constexpr int64_t kGroupChunk = 64;
  // Each group sums into its row of the caller's grad_weights where rows
  // need no padding (D == Dp), else into a padded scratch row then copied.
  const bool gw_in_place = c.out.grad_weights != nullptr && D == Dp;
  [[maybe_unused]] const ConvertKernels& narrow = convert_kernels();
  parallel_for((U + kGroupChunk - 1) / kGroupChunk, c.threads, [&](int64_t ch) {
    std::vector<T> acc(gw_in_place ? 0 : static_cast<size_t>(Dp));
    const int64_t end = std::min(U, (ch + 1) * kGroupChunk);
    for (int64_t u = ch * kGroupChunk; u < end; ++u) {
      T* a = gw_in_place ? c.out.grad_weights + u * D : acc.data();
      std::fill(a, a + Dp, T(0));
      T db = 0;
      for (int64_t e = ws.group_start[u]; e < ws.group_start[u + 1]; ++e) {
        const int64_t src = ws.order[e].second;
        if (src < BT) {
          const T g = ws.lg[(src / NT) * ldl + src % NT];
          k.axpy(g, c.X + (src / NT) * Dp, a, Dp);
          db += g;
        } else {
          const int64_t j = src - BT;
          k.axpy(T(1), ws.d_samp.data() + j * Dp, a, Dp);
          db += ws.db_samp[j];
        }
      }
      const int64_t id = ws.order[ws.group_start[u]].first;
      if (c.out.grad_ids != nullptr) c.out.grad_ids[u] = id;
      if (c.out.grad_weights != nullptr && !gw_in_place) std::memcpy(c.out.grad_weights + u * D, a, sizeof(T) * D);
      if (c.out.grad_biases != nullptr) c.out.grad_biases[u] = db;
      if constexpr (std::is_same_v<T, float>) {
        if (c.out.grad_weights16 != nullptr) narrow.f32_to_bf16(a, c.out.grad_weights16 + u * D, D);
        if (c.out.grad_biases16 != nullptr) narrow.f32_to_bf16(&db, c.out.grad_biases16 + u, 1);
      }
      if (c.update != nullptr) apply_sparse_row(*c.update, id, a, db, D, c.has_bias_grad);
    }
  });
}

template <class T>
void sampled_loss(const SampledLossInput<T>& in, SampledLossOutput<T>& out,
                  const SparseUpdate<T>* update) {
  validate(in);
  if (update != nullptr && !in.want_grads) throw std::invalid_argument("an update needs gradients");
  if (!std::is_same_v<T, float> && out.d_inputs16 != nullptr) {
    throw std::invalid_argument("a bfloat16 input gradient needs float32 computing");
  }
  Call<T> c(in, out, update, loss_kernels<T>(active_isa()), workspace<T>());
  c.bf16_dot = use_bf16_dot(c);
  c.round_g = std::is_same_v<T, float> && in.bf16_grads && c.grads && c.S > 0;
  phase_gather(c);  // and phase_hits
  phase_pack(c);  // may turn bf16_dot off (inputs not bfloat16, a subnormal operand)
  // One kernel for every tile of the call (the results do not depend on threads).
  c.amx = c.bf16_dot && c.Dp % 32 == 0 && amx_usable();
  // The AMX kernel works on blocks of 32 rows and pads the rest of a tile
  // (through a buffer): tiles of a multiple of 32 rows (96 = 8 micro-tiles
  // of 12 rows for the float32 input-gradient product) make its logits
  // product 2x faster than tiles of 48 (S = 512 on a Xeon: whole call 7%).
  if (c.amx || c.bf16_bwd) {
    c.tile = std::max<int64_t>(32, std::min<int64_t>(96, round_up(c.B / (4 * c.threads) + 1, 32)));
  }
  c.tile = std::min(c.tile, tile_rows_cap(c.ldl * static_cast<int64_t>(sizeof(T)),
                                          (c.amx || c.bf16_bwd) ? 32 : 8));
  phase_batch_tiles(c);  // logits + loss, then input grads, per batch-row tile
  if (!c.grads) return;
  phase_weight_grads(c);
  if (update != nullptr && update->hogwild) {
    phase_hogwild_update(c);
  } else {
    phase_reduce(c);
  }
}

template void sampled_loss<float>(const SampledLossInput<float>&, SampledLossOutput<float>&,
                                  const SparseUpdate<float>*);
template void sampled_loss<double>(const SampledLossInput<double>&, SampledLossOutput<double>&,
                                   const SparseUpdate<double>*);

}  // namespace pysampled
