#include "word2vec.hpp"

#include <stdexcept>

#include "isa.hpp"

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

uint64_t w2v_random(uint64_t seed, uint64_t epoch, uint64_t tag, uint64_t pos) {
  // SplitMix64: a stream per (seed, epoch, tag), indexed by corpus position.
  auto mix = [](uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  const uint64_t stream = mix(mix(seed ^ 0x5851F42D4C957F2Dull) ^ (epoch * 0xD1342543DE82EF95ull) ^
                              (tag * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull));
  return mix(stream + (pos + 1) * 0x9E3779B97F4A7C15ull);
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
  int64_t prev = 0;
  for (int64_t s = 0; s < chunk.num_sentences; ++s) {
    if (chunk.sentence_ends[s] < prev || chunk.sentence_ends[s] > chunk.num_tokens) {
      throw std::invalid_argument("sentence ends must be increasing and within the chunk");
    }
    prev = chunk.sentence_ends[s];
  }
  if (prev != chunk.num_tokens) throw std::invalid_argument("sentences must cover the chunk");
  for (int64_t p = 0; p < chunk.num_tokens; ++p) {
    if (chunk.tokens[p] < 0 || chunk.tokens[p] >= model.vocab) {
      throw std::out_of_range("token id out of the vocabulary range");
    }
  }
  switch (active_isa()) {
    case Isa::kAvx512: return isa_avx512::train_chunk(model, config, chunk, num_threads);
    case Isa::kAvx2: return isa_avx2::train_chunk(model, config, chunk, num_threads);
    default: return isa_generic::train_chunk(model, config, chunk, num_threads);
  }
}

}  // namespace pysampled
