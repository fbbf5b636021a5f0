#include "word2vec.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "isa.hpp"
#include "parallel.hpp"
#include "word2vec_records.hpp"

namespace pysampled {

namespace isa_generic {
Word2VecStats train_chunk(const Word2VecModel&, const Word2VecConfig&, const Word2VecChunk&, int,
                          const W2VRecords*);
}
namespace isa_avx2 {
Word2VecStats train_chunk(const Word2VecModel&, const Word2VecConfig&, const Word2VecChunk&, int,
                          const W2VRecords*);
}
namespace isa_avx512 {
Word2VecStats train_chunk(const Word2VecModel&, const Word2VecConfig&, const Word2VecChunk&, int,
                          const W2VRecords*);
}


void chunk_windows(const float* keep_prob, int64_t vocab, int window, bool cbow,
                   const Word2VecChunk& chunk, int num_threads, Word2VecWindows& out,
                   bool shrink_windows) {
  if (window < 1) throw std::invalid_argument("window must be at least 1");
  check_chunk(chunk, vocab);
  W2VRecords rec;
  build_records(keep_prob, nullptr, 0, window, 0, shrink_windows, chunk, num_threads, rec);
  windows_from_records(rec, cbow, out);
}

namespace {
void check_model(const Word2VecModel& model, const Word2VecConfig& config, const Word2VecChunk& chunk) {
  if (config.dim < 1 || config.window < 1 || config.negative < 0 || config.negative > 62) {
    throw std::invalid_argument("invalid word2vec configuration (dim >= 1, window >= 1, 0 <= negative <= 62)");
  }
  if (model.syn0 == nullptr || model.syn1 == nullptr || model.keep_prob == nullptr ||
      model.neg_table == nullptr || model.neg_size != static_cast<uint32_t>(model.vocab)) {
    throw std::invalid_argument("incomplete word2vec model");
  }
  if (model.stride < config.dim || model.stride % 16 != 0) {
    throw std::invalid_argument("word2vec rows must be padded to a multiple of 16 floats");
  }
  check_chunk(chunk, model.vocab);
}
}  // namespace

void chunk_records(const Word2VecModel& model, const Word2VecConfig& config, const Word2VecChunk& chunk,
                   int num_threads, Word2VecRecordArrays& out) {
  check_model(model, config, chunk);
  W2VRecords rec;
  build_records(model.keep_prob, model.neg_table, model.neg_size, config.window, config.negative,
                config.shrink_windows, chunk, num_threads, rec);
  out.max_ctx = rec.max_ctx;
  out.outs = rec.outs;
  out.ctx = std::move(rec.ctx);
  out.nctx = std::move(rec.nctx);
  out.out = std::move(rec.out);
}

namespace {
// The chunk trained at the active SIMD level, on `prebuilt` records or on
// records built here (null).
Word2VecStats train_at_level(const Word2VecModel& model, const Word2VecConfig& config,
                             const Word2VecChunk& chunk, int num_threads, const W2VRecords* prebuilt) {
  switch (active_isa()) {
    case Isa::kAvx512: return isa_avx512::train_chunk(model, config, chunk, num_threads, prebuilt);
    case Isa::kAvx2: return isa_avx2::train_chunk(model, config, chunk, num_threads, prebuilt);
    default: return isa_generic::train_chunk(model, config, chunk, num_threads, prebuilt);
  }
}
}  // namespace

Word2VecStats train_chunk(const Word2VecModel& model, const Word2VecConfig& config,
                          const Word2VecChunk& chunk, int num_threads) {
  check_model(model, config, chunk);
  return train_at_level(model, config, chunk, num_threads, nullptr);
}

void prepare_chunk(const Word2VecModel& model, const Word2VecConfig& config, const Word2VecChunk& chunk,
                   int num_threads, Word2VecPrepared& out) {
  check_model(model, config, chunk);
  out.ready = false;
  build_records(model.keep_prob, model.neg_table, model.neg_size, config.window, config.negative,
                config.shrink_windows, chunk, num_threads, out.rec);
  out.tokens = chunk.tokens;
  out.num_tokens = chunk.num_tokens;
  out.num_sentences = chunk.num_sentences;
  out.position = chunk.position;
  out.seed = chunk.seed;
  out.epoch = chunk.epoch;
  out.keep_prob = model.keep_prob;
  out.neg_table = model.neg_table;
  out.window = config.window;
  out.negative = config.negative;
  out.shrink_windows = config.shrink_windows;
  out.ready = true;
}

Word2VecStats train_prepared_chunk(const Word2VecModel& model, const Word2VecConfig& config,
                                   const Word2VecChunk& chunk, int num_threads,
                                   const Word2VecPrepared& prepared) {
  check_model(model, config, chunk);
  const Word2VecPrepared& p = prepared;
  if (!p.ready || p.tokens != chunk.tokens || p.num_tokens != chunk.num_tokens ||
      p.num_sentences != chunk.num_sentences || p.position != chunk.position || p.seed != chunk.seed ||
      p.epoch != chunk.epoch || p.keep_prob != model.keep_prob || p.neg_table != model.neg_table ||
      p.window != config.window || p.negative != config.negative ||
      p.shrink_windows != config.shrink_windows) {
    throw std::invalid_argument("the prepared records were built for another chunk or configuration");
  }
  return train_at_level(model, config, chunk, num_threads, &p.rec);
}

}  // namespace pysampled
