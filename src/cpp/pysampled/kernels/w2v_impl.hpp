// The word2vec chunk trainer, compiled once per ISA level (see word2vec.hpp
// for the algorithm). Included with PYSAMPLED_ISA_NS and PYSAMPLED_VBYTES
// defined; built with -ffp-contract=fast.
//
// Rows of syn0/syn1 are `stride` floats apart, stride a multiple of 16 (so of
// every vector width) with zero padding past `dim` (kept zero by every update:
// every update of a row is a combination of other rows).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <vector>

#include "../huge_array.hpp"
#include "../parallel.hpp"
#include "../prefetch.hpp"
#include "../word2vec.hpp"
#include "../word2vec_records.hpp"
#include "bulk.hpp"

namespace pysampled {
namespace PYSAMPLED_ISA_NS {
namespace {

#include "vmath.hpp"

using VF = Vec<float>;
constexpr int kL = lanes<float>();

inline VF vload(const float* p) { return load<float>(p); }
inline void vstore(float* p, VF v) { store<float>(p, v); }
inline float vsum(VF v) { return hsum<float>(v); }

// dst[0 : NV*kL) += sum_j coef[j] * rows[j][0 : NV*kL), in registers
// (kSet: dst = the sum, without reading dst).
template <int NV, bool kSet = false>
inline void accumulate_block(float* dst, const float* const* rows, const float* coef, int nrows,
                             int64_t offset) {
  VF acc[NV];
  for (int v = 0; v < NV; ++v) acc[v] = kSet ? VF{} : vload(dst + v * kL);
  for (int j = 0; j < nrows; ++j) {
    const float g = coef[j];
    if (g == 0.0f) continue;
    const float* r = rows[j] + offset;
    for (int v = 0; v < NV; ++v) acc[v] += g * vload(r + v * kL);
  }
  for (int v = 0; v < NV; ++v) vstore(dst + v * kL, acc[v]);
}

// dst += sum_j coef[j] * rows[j] over n floats (n a multiple of kL); kSet:
// dst = the sum (the same bits as zeroing dst first).
template <bool kSet = false>
inline void accumulate(float* dst, const float* const* rows, const float* coef, int nrows, int64_t n) {
  constexpr int kBlock = 8;  // vectors per column block (register budget)
  int64_t c0 = 0;
  for (; c0 + kBlock * kL <= n; c0 += kBlock * kL) {
    accumulate_block<kBlock, kSet>(dst + c0, rows, coef, nrows, c0);
  }
  switch ((n - c0) / kL) {
    case 1: accumulate_block<1, kSet>(dst + c0, rows, coef, nrows, c0); break;
    case 2: accumulate_block<2, kSet>(dst + c0, rows, coef, nrows, c0); break;
    case 3: accumulate_block<3, kSet>(dst + c0, rows, coef, nrows, c0); break;
    case 4: accumulate_block<4, kSet>(dst + c0, rows, coef, nrows, c0); break;
    case 5: accumulate_block<5, kSet>(dst + c0, rows, coef, nrows, c0); break;
    case 6: accumulate_block<6, kSet>(dst + c0, rows, coef, nrows, c0); break;
    case 7: accumulate_block<7, kSet>(dst + c0, rows, coef, nrows, c0); break;
    default: break;
  }
}

// y = g * x: the bits of axpy(g, x, y) on a zero y.
inline void scale_to(float g, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i += kL) vstore(y + i, g * vload(x + i));
}

// CBOW's input h = (sum_c rows[c]) / nc with cbow_mean, else the sum: the
// rows summed in registers by accumulate (coefficients `ones`, at least nc
// of them), then scaled once. The same bits as zeroing h, adding each row
// with axpy(1, row, h) and multiplying by 1/nc, without storing and
// reloading h for every row.
inline void cbow_input(float* h, const float* const* rows, const float* ones, int nc, bool mean,
                       int64_t n) {
  accumulate<true>(h, rows, ones, nc, n);
  if (mean && nc > 1) scale_to(1.0f / static_cast<float>(nc), h, h, n);
}

// y += g * x, or y = g * x for the first term of a sum (no zeroing pass).
inline void add_term(bool first, float g, const float* x, float* y, int64_t n) {
  if (first) {
    scale_to(g, x, y, n);
  } else {
    axpy(g, x, y, n);
  }
}

// g_j = alpha * (label_j - sigmoid(z_j)) in place for n = nrows * k logits
// of nrows predictions of k outputs each, laid out [row][k] (label 1 for
// j % k == 0, the positive word), and the summed logistic loss. Entries
// marked dead (live[j] false: a negative equal to the positive word) give
// g = 0 and no loss. Several predictions at once fill whole vectors, where
// one alone fills k lanes of kL; every lane's g is the same bits however
// the predictions are grouped (only the loss is summed in another order).
// z must have room for n rounded up to the vector width.
inline double grads_from_logits_rows(float* z, const bool* live, int k, int n, float alpha) {
  VF loss{};
  int jk = 0;  // (j0 + l) % k, carried along
  for (int j0 = 0; j0 < n; j0 += kL) {
    float lab[kL], msk[kL];
    for (int l = 0; l < kL; ++l) {
      const int j = j0 + l;
      const bool on = j < n && live[j];
      msk[l] = on ? 1.0f : 0.0f;
      lab[l] = jk == 0 ? 1.0f : 0.0f;
      if (!on) z[j] = 0.0f;
      jk = jk + 1 == k ? 0 : jk + 1;
    }
    const VF x = vload(z + j0);
    const VF label = vload(lab), mask = vload(msk);
    VF sig;
    loss += mask * logistic_xent<float>(x, label, sig);
    vstore(z + j0, mask * (alpha * (label - sig)));
  }
  return static_cast<double>(vsum(loss));
}

// The same for one prediction of k outputs.
inline double grads_from_logits(float* z, const bool* live, int k, float alpha) {
  return grads_from_logits_rows(z, live, k, k, alpha);
}

// ------------------------------------------------------------ row prefetch
// Into L2, not L1 (prefetch.hpp; the __builtin_prefetch written here before
// was deleted by the compiler, so no row was fetched ahead): a record's rows
// are 13 or more rows of 7 lines, whose copies in L1 would push out the rows
// in use. One epoch of GCIDE on one thread of an AMD Zen 4, M words/s, no
// prefetch -> L1 -> L2: CBOW Hogwild 2.3-2.5 -> 2.6-3.1 -> 3.4-3.6.
inline void prefetch_row(const float* row, int64_t stride) {
  for (int64_t d = 0; d < stride; d += 64 / static_cast<int64_t>(sizeof(float))) prefetch_l2(row + d);
}
// The rows of record r (its output rows and context rows), fetched ahead of
// their use: the dot products wait on these cache misses otherwise.
inline void prefetch_record_rows(const Word2VecModel& m, const W2VRecords& rec, int64_t r, int64_t stride) {
  if (r >= rec.count) return;
  const int32_t* out = rec.out.data() + r * rec.outs;
  for (int j = 0; j < rec.outs; ++j) {
    if (out[j] >= 0) prefetch_row(m.syn1 + static_cast<int64_t>(out[j]) * stride, stride);
  }
  const int32_t* ctx = rec.ctx.data() + r * rec.max_ctx;
  for (int c = 0; c < rec.nctx[r]; ++c) prefetch_row(m.syn0 + static_cast<int64_t>(ctx[c]) * stride, stride);
}

// ------------------------------------------------------------- Hogwild mode

// CBOW windows whose logits share vectors (both modes): a window alone fills
// K = negative + 1 lanes of kL.
constexpr int kCbowBatch = 4;
inline int64_t round_up_to(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Records ahead whose rows Hogwild fetches: 2, 4, 6, 8 and 12 measured the
// same within noise (CBOW, GCIDE text, AMD Zen 4).
constexpr int64_t kHogwildPrefetch = 2;

// Hogwild's hot rows. The vocabulary is sorted by decreasing count, so rows
// [0, hot) of each table belong to the words drawn most often (as negatives,
// centres and contexts). On several threads every update of such a row moves
// its cache lines between cores; instead each thread trains on its own
// copies of them and merges its changes into the shared rows every
// merge_blocks blocks and at the end of the chunk, stripe by stripe under
// the stripe's lock: shared += private - base, then private = base = shared.
// Only merges write the shared hot rows. Rows past `hot`, and every row on
// one thread, are updated in place as before.
constexpr int64_t kHotStripe = 32;               // rows per lock
constexpr int64_t kHotRowsMax = 256;             // per table
constexpr int64_t kHotBytes = 128 * 1024;        // private rows of one table, at most
// Records trained by all threads between two merges of one thread (each
// thread merges every kHotMergeRecords / threads of its own records), so
// a hot row's copies drift apart over about this many records whatever the
// thread count. 4,096 records are about 5,500 words of text: the streams
// study (benchmarks/RESULTS.md) found private copies of every row stable
// when the words trained between merges, over all copies, stayed below
// about 10,000, at 4 to 16 copies; two copies summed stayed stable even
// when merged once per chunk (100,000 words), so two threads merge every
// kHotMergeRecords of their own records (hot_merge_records). On 2 threads
// (GCIDE, Xeon), merging every 1,024 records per thread was 2-4% slower
// than every 4,096 or 8,192, and every 2,048 (CBOW) 3% slower than every
// 4,096; 64, 128, 256 and 512 hot rows gave the same speed within noise.
constexpr int64_t kHotMergeRecords = 4096;

// Records of one thread between its merges, on `workers` threads.
inline int64_t hot_merge_records(int64_t workers) {
  return workers <= 2 ? kHotMergeRecords : kHotMergeRecords / workers;
}

inline int64_t hot_rows(int64_t vocab, int64_t stride) {
  const int64_t by_size = kHotBytes / (stride * static_cast<int64_t>(sizeof(float)));
  return std::min({vocab, kHotRowsMax, std::max<int64_t>(kHotStripe, by_size)});
}

// The stripes' locks, shared by the threads of one call.
struct HotLocks {
  explicit HotLocks(int64_t stripes) : locks(static_cast<size_t>(stripes)) {}
  std::vector<std::mutex> locks;
};

// One thread's copies of rows [0, hot) of syn0 and syn1.
class HotRows {
 public:
  HotRows(const Word2VecModel& m, int64_t hot, int64_t stride, HotLocks& locks, int64_t first)
      : m_(m), hot_(hot), stride_(stride), locks_(locks), first_(first),
        buf_(static_cast<size_t>(4 * hot * stride)) {
    for (int64_t s = 0; s < stripes(); ++s) {
      const int64_t k = (first_ + s) % stripes();
      std::lock_guard<std::mutex> g(locks_.locks[static_cast<size_t>(k)]);
      const int64_t r0 = k * kHotStripe * stride_, n = rows_in(k) * stride_;
      for (int t = 0; t < 2; ++t) {
        const float* src = (t == 0 ? m_.syn0 : m_.syn1) + r0;
        std::memcpy(priv(t) + r0, src, static_cast<size_t>(n) * sizeof(float));
        std::memcpy(base(t) + r0, src, static_cast<size_t>(n) * sizeof(float));
      }
    }
  }

  float* in(int32_t id) const { return (id < hot_ ? in_priv_ : in_shared_) + static_cast<int64_t>(id) * stride_; }
  float* out(int32_t id) const { return (id < hot_ ? out_priv_ : out_shared_) + static_cast<int64_t>(id) * stride_; }

  // shared += private - base; private = base = shared, stripe by stripe,
  // starting at this thread's first stripe (threads merging at the same
  // time take different locks). What others added to the shared rows since
  // this thread's last merge is kept.
  void merge() {
    for (int64_t s = 0; s < stripes(); ++s) {
      const int64_t k = (first_ + s) % stripes();
      std::lock_guard<std::mutex> g(locks_.locks[static_cast<size_t>(k)]);
      const int64_t r0 = k * kHotStripe * stride_, n = rows_in(k) * stride_;
      for (int t = 0; t < 2; ++t) {
        float* sh = (t == 0 ? m_.syn0 : m_.syn1) + r0;
        float* p = priv(t) + r0;
        float* b = base(t) + r0;
        for (int64_t i = 0; i < n; i += kL) {
          const VF v = vload(sh + i) + (vload(p + i) - vload(b + i));
          vstore(sh + i, v);
          vstore(p + i, v);
          vstore(b + i, v);
        }
      }
    }
  }

 private:
  int64_t stripes() const { return static_cast<int64_t>(locks_.locks.size()); }
  int64_t rows_in(int64_t k) const { return std::min(kHotStripe, hot_ - k * kHotStripe); }
  float* priv(int t) { return buf_.data() + (2 * t) * hot_ * stride_; }
  float* base(int t) { return buf_.data() + (2 * t + 1) * hot_ * stride_; }

  const Word2VecModel& m_;
  int64_t hot_, stride_;
  HotLocks& locks_;
  int64_t first_;
  AlignedVector<float> buf_;  // [private syn0, base syn0, private syn1, base syn1], hot rows each
  float* const in_shared_ = m_.syn0;
  float* const out_shared_ = m_.syn1;
  float* const in_priv_ = priv(0);
  float* const out_priv_ = priv(1);
};

double hogwild(const Word2VecModel& m, const Word2VecConfig& cfg, const W2VRecords& rec, float alpha,
               int64_t stride, int threads, int64_t& pairs) {
  const int K = rec.outs;
  const int64_t R = rec.count;
  constexpr int64_t kBlock = 64;
  const int64_t nblocks = (R + kBlock - 1) / kBlock;
  std::vector<double> block_loss(static_cast<size_t>(nblocks), 0.0);
  std::vector<int64_t> block_pairs(static_cast<size_t>(nblocks), 0);
  // The chunk's blocks cut into one span per thread: each thread trains its
  // own span front to back, so the text a core trains stays on that core
  // (neighbouring text shares rare words, whose rows would otherwise move
  // between the cores), then takes the blocks left in the other spans from
  // their backs, so a slow thread (or one sharing its core) leaves its
  // blocks to the others. CBOW, one GCIDE epoch on 2 threads (Xeon): 2.5%
  // faster than handing out the spans' blocks alternately.
  const int64_t spans = std::max<int64_t>(1, std::min<int64_t>(threads, nblocks));
  const int64_t per = (nblocks + spans - 1) / spans;
  const int workers = static_cast<int>(spans);
  // Rows of the hottest words on private copies, merged every merge_blocks
  // blocks (HotRows); on one thread the rows are updated in place.
  const int64_t hot = workers > 1 ? hot_rows(m.vocab, stride) : 0;
  const int64_t merge_blocks = std::max<int64_t>(1, hot_merge_records(workers) / kBlock);
  HotLocks hot_locks((hot + kHotStripe - 1) / kHotStripe);
  // Span s's blocks [front, back) not yet taken, as front | back << 32 (a
  // chunk has far fewer than 2^32 blocks), taken with compare-and-swap; one
  // cache line per span, which its owner updates at every block.
  struct alignas(64) SpanLeft {
    std::atomic<uint64_t> v;
  };
  std::vector<SpanLeft> left(static_cast<size_t>(spans));
  for (int64_t s = 0; s < spans; ++s) {
    const uint64_t f = static_cast<uint64_t>(std::min(nblocks, s * per));
    const uint64_t b = static_cast<uint64_t>(std::min(nblocks, (s + 1) * per));
    left[s].v.store(f | (b << 32), std::memory_order_relaxed);
  }
  auto take = [&](int64_t s, bool front) -> int64_t {  // a block of span s, or -1
    uint64_t v = left[s].v.load(std::memory_order_relaxed);
    for (;;) {
      const uint64_t f = v & 0xffffffffu, b = v >> 32;
      if (f >= b) return -1;
      const uint64_t next = front ? ((f + 1) | (b << 32)) : (f | ((b - 1) << 32));
      if (left[s].v.compare_exchange_weak(v, next, std::memory_order_relaxed)) {
        return static_cast<int64_t>(front ? f : b - 1);
      }
    }
  };
  // The workers keep their threads beside a busy process (OnLoad): a thread
  // sharing its core trains fewer blocks and the other takes them. One GCIDE
  // epoch on 2 threads of an AMD Zen 4 beside a spinning process, over one
  // quiet thread (bench_word2vec_neighbour.py, three runs): skip-gram
  // 0.99-1.08 -> 0.84-1.00, CBOW 1.04-1.43 -> 0.98-1.12, where the load cap
  // ran the workers one after the other on one thread.
  parallel_for(workers, workers, [&](int64_t worker) {
    std::vector<const float*> orow(static_cast<size_t>(K));
    std::vector<float*> crow(static_cast<size_t>(rec.max_ctx));
    const std::vector<float> ones(static_cast<size_t>(rec.max_ctx), 1.0f);
    bool live[64];
    // The logits [prediction][output] (padded to a vector) and input
    // gradients [prediction][stride] of a skip-gram window (W contexts) or
    // of a batch of CBOW windows; CBOW: their inputs; skip-gram: the
    // coefficients of one output row.
    const int W = rec.max_ctx;
    const int zrows = cfg.cbow ? kCbowBatch : W;
    std::vector<float> zw(static_cast<size_t>((zrows * K + kL - 1) / kL * kL));
    std::unique_ptr<bool[]> zlive(new bool[static_cast<size_t>(zrows * K)]);
    AlignedVector<float> ew(static_cast<size_t>(zrows * stride));
    AlignedVector<float> hw(cfg.cbow ? static_cast<size_t>(kCbowBatch * stride) : 0);
    std::vector<const float*> orows(cfg.cbow ? static_cast<size_t>(kCbowBatch * K) : 0);
    int64_t batch[kCbowBatch];
    std::vector<float> coef(static_cast<size_t>(W));
    const int64_t stripes = static_cast<int64_t>(hot_locks.locks.size());
    HotRows rows(m, hot, stride, hot_locks, stripes * worker / workers);
    auto prefetch = [&](int64_t r) {
      if (r >= rec.count) return;
      const int32_t* o = rec.out.data() + r * rec.outs;
      for (int j = 0; j < rec.outs; ++j) {
        if (o[j] >= 0) prefetch_row(rows.out(o[j]), stride);
      }
      const int32_t* c = rec.ctx.data() + r * rec.max_ctx;
      for (int i = 0; i < rec.nctx[r]; ++i) prefetch_row(rows.in(c[i]), stride);
    };
    int64_t since = 0;
    for (;;) {
      int64_t b = take(worker, true);
      for (int64_t k = 1; b < 0 && k < spans; ++k) b = take((worker + k) % spans, false);
      if (b < 0) break;
      if (++since == merge_blocks) {
        rows.merge();
        since = 0;
      }
      double loss = 0.0;
      int64_t np = 0;
      const int64_t rb = b * kBlock, re = std::min(R, (b + 1) * kBlock);
      if (cfg.cbow) {
        // Batches of kCbowBatch windows, each batch updated at once (the
        // deterministic mode's phase 1 on the rows as they are, then the
        // updates window by window): every window input and logit of the
        // batch, their gradients in full vectors, the input gradients, then
        // each window's output and context rows. CBOW, 1 thread, one epoch of
        // GCIDE: 0.89-0.91 -> 0.82-0.83 s on a Xeon.
        for (int64_t q0 = rb; q0 < re; q0 += kCbowBatch) {
          int q = 0;
          for (int64_t r = q0; r < std::min(re, q0 + kCbowBatch); ++r) {
            prefetch(r + kHogwildPrefetch);
            const int nc = rec.nctx[r];
            if (nc == 0) continue;
            const int32_t* ctx = rec.ctx.data() + r * rec.max_ctx;
            const int32_t* out = rec.out.data() + r * K;
            float* hq = hw.data() + q * stride;
            for (int c = 0; c < nc; ++c) crow[c] = rows.in(ctx[c]);
            cbow_input(hq, crow.data(), ones.data(), nc, cfg.cbow_mean, stride);
            for (int j = 0; j < K; ++j) {
              const bool on = out[j] >= 0;
              zlive[q * K + j] = on;
              orows[q * K + j] = on ? rows.out(out[j]) : m.syn1;
              zw[q * K + j] = on ? dot(hq, orows[q * K + j], stride) : 0.0f;
            }
            batch[q++] = r;
          }
          if (q == 0) continue;
          loss += grads_from_logits_rows(zw.data(), zlive.get(), K, q * K, alpha);
          np += static_cast<int64_t>(q) * K;
          for (int p = 0; p < q; ++p) {
            accumulate<true>(ew.data() + p * stride, orows.data() + p * K, zw.data() + p * K, K, stride);
          }
          for (int p = 0; p < q; ++p) {
            for (int j = 0; j < K; ++j) {
              if (zlive[p * K + j]) axpy(zw[p * K + j], hw.data() + p * stride, const_cast<float*>(orows[p * K + j]), stride);
            }
            const int32_t* ctx = rec.ctx.data() + batch[p] * rec.max_ctx;
            for (int c = 0; c < rec.nctx[batch[p]]; ++c) {
              axpy(1.0f, ew.data() + p * stride, rows.in(ctx[c]), stride);
            }
          }
        }
        block_loss[b] = loss;
        block_pairs[b] = np;
        continue;
      }
      for (int64_t r = rb; r < re; ++r) {
        prefetch(r + kHogwildPrefetch);
        const int nc = rec.nctx[r];
        if (nc == 0) continue;
        const int32_t* ctx = rec.ctx.data() + r * rec.max_ctx;
        const int32_t* out = rec.out.data() + r * K;
        for (int j = 0; j < K; ++j) {
          live[j] = out[j] >= 0;
          orow[j] = live[j] ? rows.out(out[j]) : m.syn1;
        }
        {
          // One update per window (the deterministic mode's group of one,
          // applied at once): every logit of the window from the rows as
          // they are, their gradients in full vectors, every context's input
          // gradient, then the output rows, then the input rows. word2vec.c
          // updates the output rows after each context instead; per window
          // the gradients share vectors (one context fills K lanes of kL):
          // skip-gram, 1 thread, one epoch of GCIDE 2.31-2.32 -> 1.68 s on a Xeon.
          const int nz = nc * K;
          for (int c = 0; c < nc; ++c) {
            crow[c] = rows.in(ctx[c]);
            for (int j = 0; j < K; ++j) {
              zw[c * K + j] = live[j] ? dot(crow[c], orow[j], stride) : 0.0f;
              zlive[c * K + j] = live[j];
            }
          }
          loss += grads_from_logits_rows(zw.data(), zlive.get(), K, nz, alpha);
          np += nz;
          for (int c = 0; c < nc; ++c) {
            accumulate<true>(ew.data() + c * stride, orow.data(), zw.data() + c * K, K, stride);
          }
          for (int j = 0; j < K; ++j) {
            if (!live[j]) continue;
            for (int c = 0; c < nc; ++c) coef[c] = zw[c * K + j];
            accumulate(const_cast<float*>(orow[j]), const_cast<const float* const*>(crow.data()), coef.data(), nc, stride);
          }
          for (int c = 0; c < nc; ++c) axpy(1.0f, ew.data() + c * stride, crow[c], stride);
        }
      }
      block_loss[b] = loss;
      block_pairs[b] = np;
    }
    rows.merge();
  }, OnLoad::kKeepThreads);
  double loss = 0.0;
  for (int64_t b = 0; b < nblocks; ++b) {
    loss += block_loss[b];
    pairs += block_pairs[b];
  }
  return loss;
}

// -------------------------------------------------------- deterministic mode

struct GroupScratch {
  std::vector<float> g;          // SG: [records, max_ctx, K]; CBOW: [records, K]
  // CBOW: h = the window's input, e = its input gradient, [records, stride].
  // Skip-gram: e = each context word's input gradient, [records, max_ctx, stride].
  AlignedVector<float> h, e;
  std::vector<double> loss;      // [records]
};

// The frozen-weight group update of the deterministic mode, in named phases.
//
// Phase 1 computes every gradient of the group from the weights as they were
// at its start. Phase 2 adds each touched row's terms to it one at a time, in
// corpus order. The rows are split into `parts` partitions by id, one task
// each; a row's terms and their order do not depend on the partition that
// handles it, so neither does any result. No task reads a row that another
// task writes: CBOW's terms come from the saved h, g and e alone; skip-gram's
// output terms read the input rows, so the input rows are updated after all
// output rows (a second pass).
template <bool kCbow>
struct DeterministicGroup {
  const Word2VecModel& m;
  const Word2VecConfig& cfg;
  const W2VRecords& rec;
  int64_t r0, r1;
  float alpha;
  int64_t stride;
  int threads;
  GroupScratch& s;
  int K = rec.outs, W = rec.max_ctx;
  int64_t n = r1 - r0;
  int64_t gw = kCbow ? K : static_cast<int64_t>(W) * K;

  const int32_t* ctx(int64_t r) const { return rec.ctx.data() + r * W; }
  const int32_t* out(int64_t r) const { return rec.out.data() + r * K; }
  float* in_row(int32_t id) const { return m.syn0 + static_cast<int64_t>(id) * stride; }
  float* out_row(int32_t id) const { return m.syn1 + static_cast<int64_t>(id) * stride; }

  // Phase 1: gradients of every prediction from the frozen weights, and the
  // input gradients while the output rows are in cache.
  void gradients() {
    s.g.resize(static_cast<size_t>(n * gw));
    s.loss.assign(static_cast<size_t>(n), 0.0);
    if (kCbow) {
      s.h.resize(static_cast<size_t>(n * stride));
      s.e.resize(static_cast<size_t>(n * stride));
    } else {
      s.e.resize(static_cast<size_t>(n * W * stride));
    }
    // Tasks of at most 16 records, as many as a multiple of the thread
    // count (a group of 64 windows makes 4 tasks on 1, 2 or 4 threads, 6 on
    // 3, 16 on 16, where tasks of 16 would leave 12 threads idle); each
    // record's gradients are its own, so the split changes no result.
    const int64_t t = std::max(1, threads);
    const int64_t tasks = t * (((n + 15) / 16 + t - 1) / t);
    // (a multiple of kCbowBatch, so that CBOW's batches, and the loss
    // summed per batch, are the same for any thread count)
    const int64_t per = round_up_to(std::max<int64_t>(1, (n + tasks - 1) / tasks), kCbowBatch);
    parallel_for((n + per - 1) / per, threads, [&](int64_t b) {
      std::vector<const float*> orow(static_cast<size_t>(K));
      std::vector<const float*> crow(kCbow ? static_cast<size_t>(W) : 0);
      const std::vector<float> ones(kCbow ? static_cast<size_t>(W) : 0, 1.0f);
      bool live[64];
      // The logits [prediction][output] of a skip-gram record (W contexts)
      // or of a batch of kCbowBatch CBOW records, padded to a vector.
      const int zrows = kCbow ? kCbowBatch : W;
      std::vector<float> zrec(static_cast<size_t>((zrows * K + kL - 1) / kL * kL));
      std::unique_ptr<bool[]> zlive(new bool[static_cast<size_t>(zrows * K)]);
      std::vector<const float*> orows(kCbow ? static_cast<size_t>(kCbowBatch * K) : 0);
      std::vector<int64_t> batch(kCbow ? kCbowBatch : 0);
      const int64_t i_end = std::min(n, (b + 1) * per);
      if (kCbow) {
        // Batches of kCbowBatch records (at multiples of kCbowBatch, as the
        // tasks start there): every window input and logit of the batch,
        // then their gradients in full vectors, then each input gradient.
        // The same g and e bits as record by record; the batch's loss is
        // kept on its first record (CBOW, 1 thread, one epoch of GCIDE:
        // 0.98 -> 0.89-0.90 s on a Xeon).
        for (int64_t i0 = b * per; i0 < i_end; i0 += kCbowBatch) {
          int q = 0;
          for (int64_t i = i0; i < std::min(i_end, i0 + kCbowBatch); ++i) {
            const int64_t r = r0 + i;
            if (r + 1 < r1) prefetch_record_rows(m, rec, r + 1, stride);
            const int nc = rec.nctx[r];
            if (nc == 0) continue;
            float* h = s.h.data() + i * stride;
            for (int c = 0; c < nc; ++c) crow[c] = in_row(ctx(r)[c]);
            cbow_input(h, crow.data(), ones.data(), nc, cfg.cbow_mean, stride);
            for (int j = 0; j < K; ++j) {
              const bool on = out(r)[j] >= 0;
              zlive[q * K + j] = on;
              orows[q * K + j] = on ? out_row(out(r)[j]) : m.syn1;
              zrec[q * K + j] = on ? dot(h, orows[q * K + j], stride) : 0.0f;
            }
            batch[q++] = i;
          }
          if (q == 0) continue;
          s.loss[batch[0]] = grads_from_logits_rows(zrec.data(), zlive.get(), K, q * K, alpha);
          for (int p = 0; p < q; ++p) {
            float* g = s.g.data() + batch[p] * K;
            std::memcpy(g, zrec.data() + p * K, sizeof(float) * K);
            accumulate<true>(s.e.data() + batch[p] * stride, orows.data() + p * K, g, K, stride);
          }
        }
        return;
      }
      for (int64_t i = b * per; i < i_end; ++i) {
        const int64_t r = r0 + i;
        if (r + 1 < r1) prefetch_record_rows(m, rec, r + 1, stride);
        const int nc = rec.nctx[r];
        if (nc == 0) continue;
        for (int j = 0; j < K; ++j) {
          live[j] = out(r)[j] >= 0;
          orow[j] = live[j] ? out_row(out(r)[j]) : m.syn1;
        }
        {
          // Every logit of the record first, then their gradients in full
          // vectors (one context alone fills K lanes, and a context's
          // gradients waited on its own dots), then each context's input
          // gradient: the same g and e bits; skip-gram, 1 thread, one epoch
          // of GCIDE 2.37-2.42 -> 1.81 s on a Xeon.
          const int nz = nc * K;
          for (int c = 0; c < nc; ++c) {
            const float* in = in_row(ctx(r)[c]);
            for (int j = 0; j < K; ++j) {
              zrec[c * K + j] = live[j] ? dot(in, orow[j], stride) : 0.0f;
              zlive[c * K + j] = live[j];
            }
          }
          s.loss[i] = grads_from_logits_rows(zrec.data(), zlive.get(), K, nz, alpha);
          float* g = s.g.data() + i * gw;
          std::memcpy(g, zrec.data(), sizeof(float) * static_cast<size_t>(nz));
          for (int c = 0; c < nc; ++c) {
            accumulate<true>(s.e.data() + (i * W + c) * stride, orow.data(), g + static_cast<int64_t>(c) * K,
                             K, stride);
          }
        }
      }
    });
  }

  static bool owns(int32_t id, int64_t part, int64_t parts) { return parts == 1 || id % parts == part; }


  // Phase 2a: partition `part`'s output rows, each term added in corpus
  // order (CBOW: g_ij h_i; skip-gram: sum_c g_icj in_c, the input rows not
  // yet updated).
  void update_output_rows(int64_t part, int64_t parts) const {
    std::vector<const float*> in(kCbow ? 0 : static_cast<size_t>(W));  // W = 2 * window, unbounded
    std::vector<float> coef(kCbow ? 0 : static_cast<size_t>(W));
    for (int64_t i = 0; i < n; ++i) {
      const int64_t r = r0 + i;
      const int nc = rec.nctx[r];
      if (nc == 0) continue;
      bool have_rows = false;
      for (int j = 0; j < K; ++j) {
        const int32_t o = out(r)[j];
        if (o < 0 || !owns(o, part, parts)) continue;
        if (kCbow) {
          axpy(s.g[i * K + j], s.h.data() + i * stride, out_row(o), stride);
          continue;
        }
        if (!have_rows) {
          for (int c = 0; c < nc; ++c) in[c] = in_row(ctx(r)[c]);
          have_rows = true;
        }
        for (int c = 0; c < nc; ++c) coef[c] = s.g[i * gw + c * K + j];
        accumulate(out_row(o), in.data(), coef.data(), nc, stride);
      }
    }
  }

  // Phase 2b: partition `part`'s input rows, each context occurrence adding
  // its window's (CBOW) or its own (skip-gram) input gradient, in corpus order.
  void update_input_rows(int64_t part, int64_t parts) const {
    for (int64_t i = 0; i < n; ++i) {
      const int64_t r = r0 + i;
      for (int c = 0; c < rec.nctx[r]; ++c) {
        const int32_t id = ctx(r)[c];
        if (!owns(id, part, parts)) continue;
        const float* e = s.e.data() + (kCbow ? i : i * W + c) * stride;
        axpy(1.0f, e, in_row(id), stride);
      }
    }
  }

  double run(int64_t& pairs) {
    gradients();
    const int64_t parts = std::max(1, threads);  // any count gives the same rows
    if (kCbow) {
      parallel_for(parts, threads, [&](int64_t p) {
        update_output_rows(p, parts);
        update_input_rows(p, parts);
      });
    } else {
      parallel_for(parts, threads, [&](int64_t p) { update_output_rows(p, parts); });
      parallel_for(parts, threads, [&](int64_t p) { update_input_rows(p, parts); });
    }
    double loss = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      loss += s.loss[i];
      const int nc = rec.nctx[r0 + i];
      if (nc > 0) pairs += (kCbow ? 1 : nc) * static_cast<int64_t>(K);
    }
    return loss;
  }
};

template <bool kCbow>
double deterministic_group(const Word2VecModel& m, const Word2VecConfig& cfg, const W2VRecords& rec,
                           int64_t r0, int64_t r1, float alpha, int64_t stride, int threads,
                           GroupScratch& s, int64_t& pairs) {
  DeterministicGroup<kCbow> group{m, cfg, rec, r0, r1, alpha, stride, threads, s};
  return group.run(pairs);
}

}  // namespace

Word2VecStats train_chunk(const Word2VecModel& m, const Word2VecConfig& cfg, const Word2VecChunk& ch,
                          int threads, const W2VRecords* prebuilt) {
  const int64_t stride = m.stride;
  thread_local W2VRecords own;
  thread_local GroupScratch scratch;
  if (prebuilt == nullptr) {
    build_records(m.keep_prob, m.neg_table, m.neg_size, cfg.window, cfg.negative, cfg.shrink_windows, ch,
                  threads, own);
  }
  const W2VRecords& rec = prebuilt != nullptr ? *prebuilt : own;
  Word2VecStats st;
  st.words = ch.num_tokens;
  st.kept = rec.count;
  if (cfg.hogwild) {
    st.loss = hogwild(m, cfg, rec, ch.alpha, stride, threads, st.pairs);
    return st;
  }
  const int64_t group = std::max<int64_t>(1, cfg.group_size);
  for (int64_t r0 = 0; r0 < rec.count; r0 += group) {
    const int64_t r1 = std::min(rec.count, r0 + group);
    st.loss += cfg.cbow ? deterministic_group<true>(m, cfg, rec, r0, r1, ch.alpha, stride, threads, scratch, st.pairs)
                        : deterministic_group<false>(m, cfg, rec, r0, r1, ch.alpha, stride, threads, scratch, st.pairs);
  }
  return st;
}

}  // namespace PYSAMPLED_ISA_NS
}  // namespace pysampled
