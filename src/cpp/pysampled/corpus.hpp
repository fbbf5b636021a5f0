// Plain-text corpus reading for the word2vec trainer: tokenising, vocabulary
// counting and encoding, streamed and parallel.
//
// Text model (the same as Python's `open(path, encoding="utf-8",
// errors="replace")`, iterated by line, each line `str.split()`):
// * bytes are decoded as UTF-8; each maximal ill-formed subsequence becomes
//   one U+FFFD (Unicode's "maximal subpart" practice, which CPython follows);
// * a line ends at '\n' or '\r' ("\r\n" is one end followed by an empty
//   line, which is dropped: the same sentences as universal newlines);
// * tokens are separated by the characters Python's str.isspace() accepts
//   (ASCII 9-13, 28-32, U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028,
//   U+2029, U+202F, U+205F, U+3000); lines without tokens are dropped;
// * each file is read on its own (a file's last line ends at its end).
// Words are returned as valid UTF-8 (with U+FFFD for what was replaced), so
// their byte order is Python's string order (code-point order).
//
// Design: a file is read in blocks of whole lines (`block_bytes`, cut at the
// first line end after that many bytes; a longer line grows the block). Each
// block is split into one byte range per thread at line ends; every thread
// counts (or encodes) its range, and the results are combined in range order.
// Block boundaries depend only on the file and `block_bytes`, never on the
// thread count, so every result is the same for any thread count. Memory is
// the vocabulary plus a few blocks, whatever the corpus size.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pysampled {

struct CorpusScanOptions {
  int num_threads = 1;
  int64_t block_bytes = int64_t{32} << 20;
  // > 0: bound the vocabulary during the count. Before each block but the
  // first (of any file), while the vocabulary holds more than max_vocab_size
  // words, the words counted at most `min_reduce` times so far are removed
  // and min_reduce grows by one (it starts at 1 and is kept from block to
  // block, as in word2vec.c's ReduceVocab). Counts of surviving words may
  // then miss occurrences seen before a word was removed. Nothing is pruned
  // after the last block (the caller keeps the most frequent words), so a
  // corpus of one block is counted exactly.
  int64_t max_vocab_size = 0;
  int64_t min_count = 1;  // words returned: those counted at least this often
  // Both non-empty (and max_vocab_size == 0): the count also writes every
  // token's provisional id (int32) to the first file and the end of every
  // non-empty line (int64, in tokens) to the second, so that
  // encode_provisional can encode the corpus without reading the text again.
  // The ids depend on the thread count; what encode_provisional writes does not.
  std::string provisional_tokens_path;
  std::string provisional_ends_path;
};

struct CorpusVocabulary {
  std::vector<std::string> words;  // count descending, then by bytes (code points)
  std::vector<int64_t> counts;
  int64_t tokens = 0;              // all tokens read (before min_count)
  int64_t sentences = 0;           // non-empty lines
  int64_t unique_words = 0;        // distinct words in the final count (before min_count)
  int64_t min_reduce = 1;          // the pruning threshold reached (1: never pruned)
  std::vector<int64_t> ids;        // with provisional files: each word's provisional id
};

void scan_vocabulary(const std::vector<std::string>& paths, const CorpusScanOptions& options,
                     CorpusVocabulary& out);

struct CorpusEncoding {
  int64_t tokens = 0;     // tokens written (words of the vocabulary)
  int64_t sentences = 0;  // sentence ends written
  int64_t raw_tokens = 0; // all tokens read
};

// Writes the ids of the tokens that are in `vocabulary` (id = index) as
// int32 to `tokens_path` and the exclusive end of every non-empty sentence as
// int64 to `ends_path`. A line longer than `max_sentence_length` tokens is
// cut into pieces of that many tokens (counted before words outside the
// vocabulary are dropped); pieces left empty are dropped.
CorpusEncoding encode_corpus(const std::vector<std::string>& paths,
                             const std::vector<std::string>& vocabulary,
                             const std::string& tokens_path, const std::string& ends_path,
                             int64_t max_sentence_length, int num_threads,
                             int64_t block_bytes = int64_t{32} << 20);

// The second half of a single-pass build: reads the files of a provisional
// count (CorpusScanOptions) and writes what encode_corpus writes for the same
// text, with word ids final_id[provisional id] (< 0: not in the vocabulary;
// num_ids entries). Throws std::invalid_argument when the files do not fit
// together (an id out of range, line ends that do not cover the tokens).
CorpusEncoding encode_provisional(const std::string& provisional_tokens_path,
                                  const std::string& provisional_ends_path, const int32_t* final_id,
                                  int64_t num_ids, const std::string& tokens_path,
                                  const std::string& ends_path, int64_t max_sentence_length);

}  // namespace pysampled
