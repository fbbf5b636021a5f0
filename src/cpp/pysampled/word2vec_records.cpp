// The training records of a corpus chunk (word2vec_records.hpp): the
// per-position random stream, subsampling, window shrinking and negatives,
// shared by every SIMD level of the word2vec kernel.
#include "word2vec_records.hpp"

#include <algorithm>
#include <stdexcept>

#include "kernels/bulk.hpp"
#include "parallel.hpp"

namespace pysampled {

namespace {
// SplitMix64's finaliser.
inline uint64_t w2v_mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// The stream of (seed, epoch, tag) (word2vec.hpp): computed once per chunk
// and tag, then indexed by corpus position.
inline uint64_t w2v_stream(uint64_t seed, uint64_t epoch, uint64_t tag) {
  return w2v_mix(w2v_mix(seed ^ 0x5851F42D4C957F2Dull) ^ (epoch * 0xD1342543DE82EF95ull) ^
                 (tag * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull));
}

inline uint64_t w2v_draw(uint64_t stream, uint64_t pos) { return w2v_mix(stream + (pos + 1) * 0x9E3779B97F4A7C15ull); }
}  // namespace

void build_records(const float* keep_prob, const uint64_t* neg_table, uint32_t neg_size, int window,
                   int negative, bool shrink, const Word2VecChunk& ch, int threads, W2VRecords& rec) {
  const int64_t n = ch.num_tokens;
  const uint64_t keep_stream = w2v_stream(ch.seed, ch.epoch, 0);
  const uint64_t shrink_stream = w2v_stream(ch.seed, ch.epoch, 1);
  std::vector<uint64_t> neg_stream(static_cast<size_t>(std::max(0, negative)));
  for (int j = 0; j < negative; ++j) neg_stream[j] = w2v_stream(ch.seed, ch.epoch, 2 + static_cast<uint64_t>(j));
  // Subsampling and each sentence's kept tokens, over blocks of sentences
  // (first_record[s + 1] holds sentence s's count until the prefix sum
  // below); the sentences' tokens are contiguous, in order.
  std::vector<uint8_t> keep(static_cast<size_t>(n));
  std::vector<int64_t> first_record(static_cast<size_t>(ch.num_sentences) + 1, 0);
  std::vector<int64_t> sentence_start(static_cast<size_t>(ch.num_sentences));
  // Tasks of whole sentences, at least kTokens tokens each (but the last),
  // so that handing them out (an atomic counter the threads share) costs
  // nothing next to them; block_first[b] is task b's first sentence.
  constexpr int64_t kTokens = 2048;
  std::vector<int64_t> block_first;
  for (int64_t s = 0, start = 0; s < ch.num_sentences; ++s) {
    sentence_start[s] = start;
    if (block_first.empty() || start - sentence_start[block_first.back()] >= kTokens) block_first.push_back(s);
    start = ch.sentence_ends[s];
  }
  const int64_t blocks = static_cast<int64_t>(block_first.size());
  block_first.push_back(ch.num_sentences);
  std::vector<int64_t> block_longest(static_cast<size_t>(blocks), 0);
  parallel_for(blocks, threads, [&](int64_t b) {
    int64_t longest = 0;
    for (int64_t s = block_first[b]; s < block_first[b + 1]; ++s) {
      int64_t kept = 0;
      for (int64_t p = sentence_start[s]; p < ch.sentence_ends[s]; ++p) {
        const int32_t id = ch.tokens[p];
        const double u = static_cast<double>(w2v_draw(keep_stream, ch.position + p) >> 11) *
                         (1.0 / 9007199254740992.0);
        const uint8_t k = u < static_cast<double>(keep_prob[id]) ? 1 : 0;
        keep[p] = k;
        kept += k;
      }
      first_record[s + 1] = kept;
      longest = std::max(longest, kept);
    }
    block_longest[b] = longest;
  });
  // Kept tokens per sentence -> record offsets.
  for (int64_t s = 0; s < ch.num_sentences; ++s) first_record[s + 1] += first_record[s];
  int64_t longest = 0;
  for (const int64_t l : block_longest) longest = std::max(longest, l);
  rec.count = first_record[ch.num_sentences];
  // A window never holds more than the rest of its sentence: a huge `window`
  // costs nothing beyond the longest kept sentence of the chunk.
  rec.max_ctx = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(2 * int64_t{window}, longest - 1)));
  rec.outs = 1 + negative;
  rec.ctx.resize(static_cast<size_t>(rec.count * rec.max_ctx));
  rec.nctx.resize(static_cast<size_t>(rec.count));
  rec.out.resize(static_cast<size_t>(rec.count * rec.outs));
  parallel_for(blocks, threads, [&](int64_t b) {
    // Per-thread buffers, reused from sentence to sentence.
    thread_local std::vector<int32_t> ids;
    thread_local std::vector<int64_t> pos;
    for (int64_t s = block_first[b]; s < block_first[b + 1]; ++s) {
      ids.clear();
      pos.clear();
      for (int64_t p = sentence_start[s]; p < ch.sentence_ends[s]; ++p) {
        if (keep[p]) {
          ids.push_back(ch.tokens[p]);
          pos.push_back(ch.position + p);
        }
      }
      const int64_t len = static_cast<int64_t>(ids.size());
      for (int64_t t = 0; t < len; ++t) {
        const int64_t r = first_record[s] + t;
        int64_t radius = window;
        if (shrink) {
          const uint64_t rw = w2v_draw(shrink_stream, static_cast<uint64_t>(pos[t]));
          radius -= static_cast<int64_t>(((rw & 0xFFFFFFFFu) * static_cast<uint64_t>(window)) >> 32);
        }
        int32_t* c = rec.ctx.data() + r * rec.max_ctx;
        int nc = 0;
        for (int64_t u = std::max<int64_t>(0, t - radius); u <= std::min(len - 1, t + radius); ++u) {
          if (u != t) c[nc++] = ids[u];
        }
        rec.nctx[r] = nc;
        int32_t* o = rec.out.data() + r * rec.outs;
        o[0] = ids[t];
        for (int j = 0; j < negative; ++j) {
          const uint64_t w = w2v_draw(neg_stream[j], static_cast<uint64_t>(pos[t]));
          const int64_t neg = alias_pick(w, neg_table, neg_size);
          o[1 + j] = neg == ids[t] ? -1 : static_cast<int32_t>(neg);
        }
      }
    }
  });
}

void check_chunk(const Word2VecChunk& chunk, int64_t vocab) {
  int64_t prev = 0;
  for (int64_t s = 0; s < chunk.num_sentences; ++s) {
    if (chunk.sentence_ends[s] < prev || chunk.sentence_ends[s] > chunk.num_tokens) {
      throw std::invalid_argument("sentence ends must be increasing and within the chunk");
    }
    prev = chunk.sentence_ends[s];
  }
  if (prev != chunk.num_tokens) throw std::invalid_argument("sentences must cover the chunk");
  for (int64_t p = 0; p < chunk.num_tokens; ++p) {
    if (chunk.tokens[p] < 0 || chunk.tokens[p] >= vocab) {
      throw std::out_of_range("token id out of the vocabulary range");
    }
  }
}

void windows_from_records(const W2VRecords& rec, bool cbow, Word2VecWindows& out) {
  out.inputs.clear();
  out.targets.clear();
  out.offsets.assign(1, 0);
  for (int64_t r = 0; r < rec.count; ++r) {
    const int nc = rec.nctx[r];
    if (nc == 0) continue;
    const int32_t* c = rec.ctx.data() + r * rec.max_ctx;
    const int32_t centre = rec.out[r * rec.outs];
    if (cbow) {
      out.inputs.insert(out.inputs.end(), c, c + nc);
      out.targets.push_back(centre);
      out.offsets.push_back(static_cast<int64_t>(out.inputs.size()));
    } else {
      for (int j = 0; j < nc; ++j) {
        out.inputs.push_back(c[j]);
        out.targets.push_back(centre);
      }
    }
  }
  if (!cbow) out.offsets.clear();
}

}  // namespace pysampled
