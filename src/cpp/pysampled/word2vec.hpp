// The word2vec trainer's kernel: skip-gram and CBOW with negative sampling
// over a chunk of an encoded corpus.
//
// Design: the Python trainer streams the corpus as chunks of whole
// sentences (int32 word ids) and calls train_chunk once per chunk with the
// learning rate for that chunk. Every random choice (subsampling, window
// shrink, negatives) is a hash of (seed, epoch, corpus position), never of
// the thread, so the work done is the same for any thread count.
//
// Deterministic mode processes the chunk's training windows in groups of
// `group_size`: (1) all gradients of the group are computed from the weights
// as they were at the start of the group, (2) each touched row's terms are
// added to it one at a time, in corpus order (skip-gram's output rows before
// its input rows, whose frozen values the output terms read). Which thread
// does which part never changes a result, so the same seed
// gives bit-identical vectors for any thread count (and resuming from a
// checkpoint equals an uninterrupted run). Hogwild mode updates rows as soon
// as each window (CBOW: each batch of 4 windows) is done, from all threads
// at once, like word2vec.c (which updates skip-gram's output rows after
// each context of the window); on several threads, the rows of the most
// frequent words are updated on per-thread copies and merged every few
// thousand windows (HotRows in kernels/w2v_impl.hpp).
#pragma once

#include <cstdint>
#include <vector>

namespace pysampled {

struct Word2VecConfig {
  int64_t dim = 100;
  int window = 5;
  int negative = 5;
  bool cbow = false;
  bool cbow_mean = true;
  bool hogwild = false;
  int64_t group_size = 64;  // windows per synchronous update (deterministic mode)
  bool shrink_windows = true;  // radius uniform in 1..window (false: always window)
};

struct Word2VecModel {
  float* syn0 = nullptr;  // [vocab, dim] input vectors (updated in place)
  float* syn1 = nullptr;  // [vocab, dim] output vectors (updated in place)
  int64_t vocab = 0;
  // Row stride of syn0/syn1 in floats: a multiple of 16 with zeros past dim
  // (so every SIMD level works on whole vectors; the zeros stay zero).
  int64_t stride = 0;
  const float* keep_prob = nullptr;        // [vocab] frequent-word subsampling: P(keep)
  const uint64_t* neg_table = nullptr;     // alias columns of the noise distribution
  uint32_t neg_size = 0;                   // == vocab
};

struct Word2VecChunk {
  const int32_t* tokens = nullptr;          // word ids in [0, vocab)
  int64_t num_tokens = 0;
  const int64_t* sentence_ends = nullptr;   // exclusive end of each sentence, increasing
  int64_t num_sentences = 0;
  int64_t position = 0;                     // corpus position of tokens[0] in this epoch
  uint64_t seed = 0;
  uint64_t epoch = 0;
  float alpha = 0.025f;                     // learning rate for this chunk
};

struct Word2VecStats {
  int64_t words = 0;    // tokens read
  int64_t kept = 0;     // tokens kept after subsampling (= training windows)
  int64_t pairs = 0;    // (input, output) predictions made
  double loss = 0.0;    // sum of the negative-sampling loss over the predictions
};

Word2VecStats train_chunk(const Word2VecModel& model, const Word2VecConfig& config,
                          const Word2VecChunk& chunk, int num_threads);

// The training windows of a chunk without negatives (for losses computed
// elsewhere). Skip-gram: one prediction per (context word -> centre) pair,
// inputs[i] predicting targets[i]. CBOW: one prediction per window, whose
// context words are inputs[offsets[i]:offsets[i+1]]. Same subsampling and
// window shrink as train_chunk.
struct Word2VecWindows {
  std::vector<int32_t> inputs;
  std::vector<int32_t> targets;
  std::vector<int64_t> offsets;  // CBOW only: size targets + 1
};

void chunk_windows(const float* keep_prob, int64_t vocab, int window, bool cbow,
                   const Word2VecChunk& chunk, int num_threads, Word2VecWindows& out,
                   bool shrink_windows = true);

// The chunk's training records as train_chunk builds them, negatives
// included (exposed for tests): per kept token in corpus order, its context
// ids ctx[r * 2 window + c] for c < nctx[r], and its outputs
// out[r * (1 + negative) + j], the centre word and then the negatives (-1
// where a negative equals the centre and is dropped).
struct Word2VecRecordArrays {
  int max_ctx = 0;
  int outs = 0;
  std::vector<int32_t> ctx, nctx, out;
};

void chunk_records(const Word2VecModel& model, const Word2VecConfig& config, const Word2VecChunk& chunk,
                   int num_threads, Word2VecRecordArrays& out);

// The random words behind every choice (build_records draws them;
// test_word2vec_deterministic.py recomputes them in Python): 64 bits for
// stream `tag` at corpus position `pos`. With mix the SplitMix64 finaliser
// and G = 0x9E3779B97F4A7C15 (arithmetic mod 2^64):
//   stream = mix(mix(seed ^ 0x5851F42D4C957F2D) ^ epoch * 0xD1342543DE82EF95
//                ^ (tag * G + 0x632BE59BD9B4E019)),
//   word   = mix(stream + (pos + 1) * G).
// Tag 0: the token at pos is kept when (word >> 11) * 2^-53 < keep_prob[id];
// tag 1: its window radius is window - (((word & 0xFFFFFFFF) * window) >> 32);
// tags 2..: its negatives, alias draws (word2vec_records.hpp).

}  // namespace pysampled
