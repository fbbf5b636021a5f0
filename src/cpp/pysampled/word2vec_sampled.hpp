// The nce / sampled-softmax variants of the word2vec trainer: a whole chunk
// of an encoded corpus trained with TensorFlow's sampled losses and Adagrad,
// in one call.
//
// Design: the chunk's predictions are those of chunk_windows (the same
// subsampling and window shrink as the negative-sampling kernel), cut into
// batches of `batch_size` predictions in corpus order. Batches run one after
// another, each seeing the updates of the one before; for each:
//   1. the inputs are gathered: skip-gram, the context word's input row;
//      CBOW, the context rows added in context order (divided by their
//      count with cbow_mean);
//   2. `num_sampled` negatives shared by the batch are drawn from the
//      caller's CandidateStream (one call of TF's sampler kernel, unique
//      draws), so the stream goes on from chunk to chunk and a checkpoint
//      can save its position;
//   3. sampled_loss (sampled_loss.hpp) computes the batch's losses and, for
//      the mean loss, the input gradients, and applies Adagrad to the output
//      rows and biases it touched;
//   4. Adagrad is applied to the input rows through the same sparse row
//      update (sparse_update.hpp): each word's contributions (CBOW: the
//      prediction's gradient, divided by the context size with cbow_mean,
//      for every context word) are summed in (word id, position in the
//      batch) order first.
// Every step has a fixed order of float operations and the loss kernel's
// threads write disjoint outputs in a fixed order, so the same seed gives
// the same bits for any thread count. Adagrad's epsilon is kAdagradEpsilon;
// the caller starts the accumulators at kAdagradInitialAccumulator.
#pragma once

#include <cstdint>

#include "sampled_loss.hpp"
#include "samplers.hpp"
#include "word2vec.hpp"

namespace pysampled {

// The model: C-contiguous float32 arrays, updated in place. Rows of syn0,
// syn1, accum0 and accum1 are `stride` floats (the loss runs over all of
// them: padding columns stay as they are, their gradient being zero).
struct Word2VecSampledModel {
  float* syn0 = nullptr;        // [vocab, stride] input vectors
  float* syn1 = nullptr;        // [vocab, stride] output vectors (the loss's weights)
  float* bias = nullptr;        // [vocab] output biases
  float* accum0 = nullptr;      // Adagrad accumulators of syn0, syn1 and bias
  float* accum1 = nullptr;
  float* accum_bias = nullptr;
  int64_t vocab = 0;
  int64_t stride = 0;
  const float* keep_prob = nullptr;  // [vocab] frequent-word subsampling: P(keep)
};

struct Word2VecSampledConfig {
  LossKind kind = LossKind::kSoftmax;  // kNce or kSoftmax
  int window = 5;
  bool cbow = false;
  bool cbow_mean = true;
  bool shrink_windows = true;
  int64_t num_sampled = 64;  // negatives per batch
  int64_t batch_size = 128;  // predictions per batch (their mean loss is minimised)
};

// Trains the chunk at learning rate chunk.alpha. The negatives come from
// `negatives`, whose sampler must draw from [0, vocab). Returns words
// (tokens read), kept (training windows), pairs (predictions) and loss (the
// sum of the per-prediction losses, each computed before its batch's
// update). Throws std::invalid_argument / std::out_of_range on a bad model,
// configuration or chunk before anything is updated.
Word2VecStats train_chunk_sampled(const Word2VecSampledModel& model,
                                  const Word2VecSampledConfig& config, const Word2VecChunk& chunk,
                                  CandidateStream& negatives, int num_threads);

}  // namespace pysampled
