#include "word2vec.hpp"

#include <algorithm>
#include <stdexcept>

#include "isa.hpp"
#include "parallel.hpp"
#include "word2vec_records.hpp"

namespace pysampled {

namespace isa_generic {
Word2VecStats train_chunk(const Word2VecModel&, const Word2VecConfig&, const Word2VecChunk&, int);
}
namespace isa_avx2 {
Word2VecStats train_chunk(const Word2VecModel&, const Word2VecConfig&, const Word2VecChunk&, int);
}
namespace isa_avx512 {
Word2VecStats train_chunk(const Word2VecModel&, const Word2VecConfig&, const Word2VecChunk&, int);
}


namespace {

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

}  // namespace

void chunk_windows(const float* keep_prob, int64_t vocab, int window, bool cbow,
                   const Word2VecChunk& chunk, int num_threads, Word2VecWindows& out,
                   bool shrink_windows) {
  if (window < 1) throw std::invalid_argument("window must be at least 1");
  check_chunk(chunk, vocab);
  W2VRecords rec;
  build_records(keep_prob, nullptr, 0, window, 0, shrink_windows, chunk, num_threads, rec);
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

Word2VecStats train_chunk(const Word2VecModel& model, const Word2VecConfig& config,
                          const Word2VecChunk& chunk, int num_threads) {
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
  switch (active_isa()) {
    case Isa::kAvx512: return isa_avx512::train_chunk(model, config, chunk, num_threads);
    case Isa::kAvx2: return isa_avx2::train_chunk(model, config, chunk, num_threads);
    default: return isa_generic::train_chunk(model, config, chunk, num_threads);
  }
}

}  // namespace pysampled
