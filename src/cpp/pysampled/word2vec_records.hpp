// Training windows of a corpus chunk for the word2vec trainer: which tokens
// survive subsampling, each window's (shrunk) context and its negatives.
// Shared by every SIMD level of the kernel and by the nce/sampled-softmax
// variants of the trainer.
#pragma once

#include <cstdint>
#include <vector>

#include "word2vec.hpp"

namespace pysampled {

// One record per kept token (the window's centre), in corpus order.
struct W2VRecords {
  int64_t count = 0;
  int max_ctx = 0;              // 2 * window
  int outs = 0;                 // 1 + negative
  std::vector<int32_t> ctx;     // [count, max_ctx] context word ids
  std::vector<int32_t> nctx;    // [count] contexts used
  std::vector<int32_t> out;     // [count, outs]: the centre, then negatives (-1: dropped)
};

// Random stream tags (word2vec.hpp): 0 subsampling, 1 window shrink, 2.. negatives.
// shrink: each window's radius is window - (uniform 0..window-1); otherwise window.
void build_records(const float* keep_prob, const uint64_t* neg_table, uint32_t neg_size, int window,
                   int negative, bool shrink, const Word2VecChunk& chunk, int threads,
                   W2VRecords& rec);

// Throws unless the chunk's sentence ends cover it in increasing order and
// every token id lies in [0, vocab).
void check_chunk(const Word2VecChunk& chunk, int64_t vocab);

// The records' predictions, flattened (see chunk_windows in word2vec.hpp).
void windows_from_records(const W2VRecords& rec, bool cbow, Word2VecWindows& out);

// A chunk's records built ahead of its training, so that one thread can
// build chunk k+1's while chunk k trains on another (the trainer does so in
// its deterministic mode when it trains on one of several threads). They are
// the records train_chunk would build: they depend on the chunk, the seed,
// the epoch, the window and negative settings and the model's subsampling
// and noise tables, never on the weights, so training with them gives the
// same bits.
struct Word2VecPrepared {
  W2VRecords rec;
  // what they were built for (train_prepared_chunk checks it)
  const int32_t* tokens = nullptr;
  int64_t num_tokens = 0, num_sentences = 0, position = 0;
  uint64_t seed = 0, epoch = 0;
  const float* keep_prob = nullptr;
  const uint64_t* neg_table = nullptr;
  int window = 0, negative = 0;
  bool shrink_windows = true, ready = false;
};

void prepare_chunk(const Word2VecModel& model, const Word2VecConfig& config, const Word2VecChunk& chunk,
                   int num_threads, Word2VecPrepared& out);

// train_chunk on prepared records; throws std::invalid_argument (before any
// weight is written) unless they were prepared for this chunk, model tables
// and window / negative settings.
Word2VecStats train_prepared_chunk(const Word2VecModel& model, const Word2VecConfig& config,
                                   const Word2VecChunk& chunk, int num_threads,
                                   const Word2VecPrepared& prepared);

}  // namespace pysampled
