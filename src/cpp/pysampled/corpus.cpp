#include "corpus.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <ios>
#include <system_error>

#include "parallel.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace pysampled {
namespace {

// std::ios_base::failure: an OSError in Python (Cython's translation).
[[noreturn]] void io_error(int err, const std::string& what) {
  throw std::ios_base::failure(what + ": " + std::strerror(err != 0 ? err : EIO));
}

// ------------------------------------------------------------- tokeniser

enum : uint8_t { kWord = 0, kSpace = 1, kLineEnd = 2, kMultiByte = 3 };

struct ByteClasses {
  uint8_t c[256];
  constexpr ByteClasses() : c() {
    for (int b = 0; b < 256; ++b) c[b] = b >= 0x80 ? kMultiByte : kWord;
    for (int b : {0x09, 0x0B, 0x0C, 0x1C, 0x1D, 0x1E, 0x1F, 0x20}) c[b] = kSpace;
    c['\n'] = kLineEnd;
    c['\r'] = kLineEnd;
  }
};
constexpr ByteClasses kClasses{};

inline bool ascii_space(uint8_t c) { return kClasses.c[c] == kSpace; }

// One UTF-8 character at p (p < e, *p >= 0x80): its length if well formed
// (code point in cp), or minus the length of the maximal ill-formed subpart.
inline int decode_utf8(const uint8_t* p, const uint8_t* e, uint32_t& cp) {
  const uint8_t b0 = p[0];
  int need;
  uint8_t lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return -1;
  }
  for (int i = 1; i <= need; ++i) {
    if (p + i >= e) return -i;
    const uint8_t b = p[i];
    if (b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xBF)) return -i;
    cp = (cp << 6) | (b & 0x3F);
  }
  return need + 1;
}

inline bool unicode_space(uint32_t cp) {
  return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
         cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

// The first byte of [p, e) outside 0x21-0x7F (e if none): everything before
// it is a word byte. Sixteen bytes at a time where SSE2 is there (every
// x86-64 CPU; a signed compare with 0x21 finds both the bytes below it and
// those from 0x80 up), else one at a time.
inline const uint8_t* skip_ascii_word_bytes(const uint8_t* p, const uint8_t* e) {
#if defined(__SSE2__)
  const __m128i limit = _mm_set1_epi8(0x21);
  while (e - p >= 16) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const unsigned m = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmplt_epi8(x, limit)));
    if (m != 0) return p + __builtin_ctz(m);
    p += 16;
  }
#endif
  while (p < e && static_cast<uint8_t>(*p - 0x21) < 0x5F) ++p;
  return p;
}

// Calls token(ptr, len, in_text) for every token of [b, e) (valid UTF-8
// bytes) and line_end() at every line end and, unless the line goes on past
// e (open_end), at e. in_text: the bytes are
// [ptr, ptr + len) of the text itself; otherwise they are in `scratch` (a
// token that needed replacement characters), valid until the next call.
template <class Token, class LineEnd>
void tokenize(const char* b, const char* e, bool open_end, std::string& scratch, Token&& token,
              LineEnd&& line_end) {
  const uint8_t* p = reinterpret_cast<const uint8_t*>(b);
  const uint8_t* const end = reinterpret_cast<const uint8_t*>(e);
  const uint8_t* start = nullptr;  // first byte of the current token
  const uint8_t* clean = nullptr;  // dirty token: first byte not yet copied to scratch
  bool dirty = false;
  auto flush = [&](const uint8_t* stop) {
    if (start == nullptr) return;
    if (dirty) {
      scratch.append(reinterpret_cast<const char*>(clean), static_cast<size_t>(stop - clean));
      token(scratch.data(), scratch.size(), false);
      dirty = false;
    } else {
      token(reinterpret_cast<const char*>(start), static_cast<size_t>(stop - start), true);
    }
    start = nullptr;
  };
  while (p < end) {
    const uint8_t* const q = skip_ascii_word_bytes(p, end);
    if (q != p) {
      if (start == nullptr) start = p;
      p = q;
      if (p == end) break;
    }
    const uint8_t k = kClasses.c[*p];
    if (k == kWord) {
      if (start == nullptr) start = p;
      ++p;
      continue;
    }
    if (k == kMultiByte) {
      uint32_t cp = 0;
      const int n = decode_utf8(p, end, cp);
      if (n > 0 && unicode_space(cp)) {
        flush(p);
        p += n;
        continue;
      }
      if (start == nullptr) start = p;
      if (n < 0) {
        if (!dirty) {
          dirty = true;
          scratch.clear();
          clean = start;
        }
        scratch.append(reinterpret_cast<const char*>(clean), static_cast<size_t>(p - clean));
        scratch.append("\xEF\xBF\xBD", 3);
        p += -n;
        clean = p;
      } else {
        p += n;
      }
      continue;
    }
    flush(p);
    if (k == kLineEnd) line_end();
    ++p;
  }
  flush(end);
  if (!open_end) line_end();
}

// `readable`: how many bytes from p may be read (at least n). With 8 or
// more past the last whole word, the tail is one load with the bytes past
// the token masked off (a byte copy into a zeroed word, then a wide load,
// stalls on store forwarding: 17% of the count's time). Same value either way.
inline uint64_t hash_bytes(const char* p, size_t n, size_t readable) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (static_cast<uint64_t>(n) * 0xFF51AFD7ED558CCDull);
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    h = (h ^ v) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 29;
    p += 8;
    n -= 8;
    readable -= 8;
  }
  if (n > 0) {
    uint64_t v = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (readable >= 8) {
      std::memcpy(&v, p, 8);
      v &= ~uint64_t{0} >> (64 - 8 * n);
    } else {
      for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
    }
#else
    std::memcpy(&v, p, n);
#endif
    h = (h ^ v) * 0x94D049BB133111EBull;
  }
  h ^= h >> 32;
  h *= 0xD6E8FEB86659FD93ull;
  return h ^ (h >> 32);
}

inline uint64_t hash_bytes(const char* p, size_t n) { return hash_bytes(p, n, n); }

// ------------------------------------------------------------ word table

// Open addressing (linear probing) from words to an int64 value.
class WordTable {
 public:
  struct Entry {
    uint64_t hash;
    uint64_t offset;  // into the arena
    uint32_t length;
    int64_t value;
  };

  WordTable() { rehash(1024); }

  size_t size() const { return entries_.size(); }
  const std::vector<Entry>& entries() const { return entries_; }
  const char* text(const Entry& en) const { return arena_.data() + en.offset; }

  // The value of the word, inserted with `init` if new.
  int64_t& get(const char* p, size_t n, uint64_t h, int64_t init) { return entries_[index(p, n, h, init)].value; }

  // The word's entry (its insertion rank), inserted with value `init` if new.
  size_t index(const char* p, size_t n, uint64_t h, int64_t init) {
    size_t i = h & mask_;
    for (;;) {
      const uint32_t s = slots_[i];
      if (s == 0) break;
      const Entry& en = entries_[s - 1];
      if (en.hash == h && en.length == n && std::memcmp(arena_.data() + en.offset, p, n) == 0) {
        return s - 1;
      }
      i = (i + 1) & mask_;
    }
    if (entries_.size() >= 0xFFFFFFFEu) throw std::length_error("too many distinct words");
    const uint64_t off = arena_.size();
    arena_.append(p, n);
    entries_.push_back(Entry{h, off, static_cast<uint32_t>(n), init});
    slots_[i] = static_cast<uint32_t>(entries_.size());
    if (entries_.size() * 2 > slots_.size()) rehash(slots_.size() * 2);
    return entries_.size() - 1;
  }

  int64_t& value(size_t k) { return entries_[k].value; }

  // Hints for a lookup of hash h a few tokens later: its first slot, then
  // (once that has arrived) the entry it names. They change nothing.
  void prefetch_slot(uint64_t h) const { __builtin_prefetch(slots_.data() + (h & mask_)); }
  void prefetch_entry(uint64_t h) const {
    const uint32_t s = slots_[h & mask_];
    if (s != 0) __builtin_prefetch(entries_.data() + (s - 1));
  }

  // The value of the word, or `missing`.
  int64_t find(const char* p, size_t n, uint64_t h, int64_t missing) const {
    size_t i = h & mask_;
    for (;;) {
      const uint32_t s = slots_[i];
      if (s == 0) return missing;
      const Entry& en = entries_[s - 1];
      if (en.hash == h && en.length == n && std::memcmp(arena_.data() + en.offset, p, n) == 0) {
        return en.value;
      }
      i = (i + 1) & mask_;
    }
  }

  // Keeps the entries with keep(entry) true, in their order.
  template <class Keep>
  void filter(Keep&& keep) {
    std::vector<Entry> old;
    old.swap(entries_);
    std::string old_arena;
    old_arena.swap(arena_);
    for (const Entry& en : old) {
      if (!keep(en)) continue;
      entries_.push_back(Entry{en.hash, arena_.size(), en.length, en.value});
      arena_.append(old_arena.data() + en.offset, en.length);
    }
    size_t cap = 1024;
    while (cap < entries_.size() * 2 + 2) cap *= 2;
    rehash(cap);
  }

  void clear() {
    entries_.clear();
    arena_.clear();
    rehash(1024);
  }

 private:
  void rehash(size_t capacity) {
    slots_.assign(capacity, 0);
    mask_ = capacity - 1;
    for (size_t k = 0; k < entries_.size(); ++k) {
      size_t i = entries_[k].hash & mask_;
      while (slots_[i] != 0) i = (i + 1) & mask_;
      slots_[i] = static_cast<uint32_t>(k + 1);
    }
  }

  std::vector<uint32_t> slots_;
  std::vector<Entry> entries_;
  std::string arena_;
  size_t mask_ = 0;
};

// Looks up a range's tokens in a word table in their order, with the table's
// memory fetched ahead: a token's slot is prefetched when the tokeniser
// produces it, the entry that slot names kAhead tokens later, and the lookup
// itself runs kAhead tokens after that. The hash table's loads are the
// count's cost (slot, then entry, then text: each a likely cache miss for
// all but the most frequent words); this overlaps them across tokens
// instead of waiting on each in turn. `lookup(p, n, h)` sees every token
// exactly once, in order, so the results are those of looking up each
// token as it comes.
template <class Table, class Lookup>
class LookupRing {
 public:
  LookupRing(const Table& table, const char* text_end, Lookup& lookup)
      : table_(table), text_end_(text_end), lookup_(lookup) {}

  // A token of the tokeniser (see tokenize).
  void add(const char* p, size_t n, bool in_text) {
    if (!in_text) {  // its bytes do not outlive this call
      drain();
      lookup_(p, n, hash_bytes(p, n));
      return;
    }
    const uint64_t h = hash_bytes(p, n, static_cast<size_t>(text_end_ - p));
    table_.prefetch_slot(h);
    ring_[head_++ & kMask] = Pending{p, n, h};
    if (head_ - tail_ > kAhead) table_.prefetch_entry(ring_[(head_ - 1 - kAhead) & kMask].h);
    if (head_ - tail_ == 2 * kAhead) next();
  }

  // Looks up every token still waiting.
  void drain() {
    while (tail_ < head_) next();
  }

 private:
  static constexpr uint64_t kAhead = 8;
  static constexpr uint64_t kMask = 2 * kAhead - 1;
  struct Pending {
    const char* p;
    size_t n;
    uint64_t h;
  };
  void next() {
    const Pending& t = ring_[tail_++ & kMask];
    lookup_(t.p, t.n, t.h);
  }

  const Table& table_;
  const char* text_end_;
  Lookup& lookup_;
  Pending ring_[2 * kAhead];
  uint64_t head_ = 0, tail_ = 0;
};

// ------------------------------------------------------------ block reader

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

// Reads a file as blocks of whole lines, or, where a line is longer than a
// block, as pieces of that line cut after a whitespace byte (so memory stays
// bounded by the block, not by the longest line, e.g. text8's single line).
class LineBlocks {
 public:
  LineBlocks(const std::string& path, int64_t block_bytes)
      : file_(std::fopen(path.c_str(), "rb")), block_(static_cast<size_t>(std::max<int64_t>(block_bytes, 1))) {
    if (!file_) {
      io_error(errno, "cannot open " + path);
    }
    path_ = path;
  }

  // The next block [b, e) of whole lines (the file's tail may end without a
  // line end); false at the end of the file. open: the block is a piece of
  // one line that goes on in the next block (it ends with a space or tab,
  // so no token is cut).
  bool next(const char*& b, const char*& e, bool& open) {
    open = false;
    // Move the carried partial line to the front.
    if (begin_ > 0) {
      std::memmove(buf_.data(), buf_.data() + begin_, fill_ - begin_);
      fill_ -= begin_;
      begin_ = 0;
    }
    if (eof_ && fill_ == 0) return false;
    size_t want = std::max(block_, fill_ + 1);
    for (;;) {
      if (buf_.size() < want) buf_.resize(want);
      while (!eof_ && fill_ < want) {
        const size_t got = std::fread(buf_.data() + fill_, 1, want - fill_, file_.get());
        fill_ += got;
        if (got == 0) {
          if (std::ferror(file_.get())) {
            io_error(errno, "cannot read " + path_);
          }
          eof_ = true;
        }
      }
      if (eof_) {
        b = buf_.data();
        e = buf_.data() + fill_;
        begin_ = fill_;
        return fill_ > 0;
      }
      // Cut after the last line end.
      size_t cut = fill_;
      while (cut > 0 && buf_[cut - 1] != '\n' && buf_[cut - 1] != '\r') --cut;
      if (cut > 0) {
        b = buf_.data();
        e = buf_.data() + cut;
        begin_ = cut;
        return true;
      }
      // No line end: cut after the last ASCII space-class byte (a one-byte
      // separator, never inside a UTF-8 character), leaving at least one
      // byte, so that a later block of this file always ends the line (at
      // its line end or at the end of the file).
      cut = fill_ - 1;
      while (cut > 0 && !ascii_space(static_cast<uint8_t>(buf_[cut - 1]))) --cut;
      if (cut > 0) {
        b = buf_.data();
        e = buf_.data() + cut;
        begin_ = cut;
        open = true;
        return true;
      }
      want = fill_ * 2;  // one token longer than the block: grow
    }
  }

 private:
  std::unique_ptr<std::FILE, FileCloser> file_;
  std::string path_;
  size_t block_;
  std::vector<char> buf_;
  size_t fill_ = 0, begin_ = 0;
  bool eof_ = false;
};

// Cuts [b, e) into `parts` ranges at line ends (some may be empty).
std::vector<const char*> split_lines(const char* b, const char* e, int parts) {
  std::vector<const char*> cuts(static_cast<size_t>(parts) + 1, e);
  cuts[0] = b;
  const int64_t len = e - b;
  for (int t = 1; t < parts; ++t) {
    const char* q = std::max(cuts[t - 1], b + len * t / parts);
    while (q < e && q > b && q[-1] != '\n' && q[-1] != '\r') ++q;
    cuts[t] = q;
  }
  return cuts;
}

int threads_for(int64_t bytes, int num_threads) {
  constexpr int64_t kMinBytesPerThread = int64_t{1} << 20;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(num_threads, bytes / kMinBytesPerThread)));
}

void write_all(std::FILE* f, const void* data, size_t bytes, const std::string& path) {
  if (bytes > 0 && std::fwrite(data, 1, bytes, f) != bytes) {
    io_error(errno, "cannot write " + path);
  }
}

std::unique_ptr<std::FILE, FileCloser> open_for_writing(const std::string& path) {
  std::unique_ptr<std::FILE, FileCloser> f(std::fopen(path.c_str(), "wb"));
  if (!f) io_error(errno, "cannot create " + path);
  return f;
}

struct CountState {
  WordTable table;
  std::string scratch;
  int64_t tokens = 0, sentences = 0;
  // Provisional mode: the range's tokens as ids of `table`, and the end of
  // each of its non-empty lines (in tokens of the range).
  bool provisional = false;
  std::vector<int32_t> ids;
  std::vector<int64_t> line_ends;
};

// A line cut by a block boundary (LineBlocks' open blocks): what the count
// of its next piece starts from.
struct OpenLine {
  int64_t in_line = 0;     // count: tokens of the line so far
  int64_t in_piece = 0;    // encode: tokens read in the current piece
  bool piece_kept = false; // encode: the current piece has a kept token
};

// Counts [b, e). continues: the range goes on with the line `open` holds;
// open_end: its last line goes on past e (saved into `open`).
void count_range(const char* b, const char* e, CountState& st, OpenLine& open, bool continues,
                 bool open_end) {
  int64_t in_line = continues ? open.in_line : 0;
  int64_t produced = static_cast<int64_t>(st.ids.size());
  // A token takes at least two bytes with its separator: no reallocation.
  if (st.provisional) st.ids.reserve(static_cast<size_t>(e - b) / 2 + 1);
  auto lookup = [&](const char* p, size_t n, uint64_t h) {
    const size_t k = st.table.index(p, n, h, 0);
    ++st.table.value(k);
    if (st.provisional) st.ids.push_back(static_cast<int32_t>(k));
  };
  LookupRing<WordTable, decltype(lookup)> ring(st.table, e, lookup);
  tokenize(
      b, e, open_end, st.scratch,
      [&](const char* p, size_t n, bool in_text) {
        ring.add(p, n, in_text);
        ++in_line;
        ++produced;
      },
      [&]() {
        st.tokens += in_line;
        st.sentences += in_line > 0;
        // produced: the range's tokens so far, looked up or still in the ring
        if (st.provisional && in_line > 0) st.line_ends.push_back(produced);
        in_line = 0;
      });
  ring.drain();
  if (open_end) open.in_line = in_line;
}

void merge_into(WordTable& dst, const WordTable& src) {
  for (const auto& en : src.entries()) dst.get(src.text(en), en.length, en.hash, 0) += en.value;
}

// Provisional mode, after a block: merges each range's table into `total`,
// writes the range's tokens as ids of `total` and its line ends (shifted by
// the tokens already written), in range order.
class ProvisionalWriter {
 public:
  ProvisionalWriter(const std::string& tokens_path, const std::string& ends_path)
      : tokens_path_(tokens_path), ends_path_(ends_path),
        tokens_(open_for_writing(tokens_path)), ends_(open_for_writing(ends_path)) {}

  void add(CountState& st, WordTable& total) {
    map_.resize(st.table.size());
    for (size_t k = 0; k < st.table.size(); ++k) {
      const auto& en = st.table.entries()[k];
      const size_t g = total.index(st.table.text(en), en.length, en.hash, 0);
      total.value(g) += en.value;
      map_[k] = static_cast<int64_t>(g);
    }
    if (total.size() > static_cast<size_t>(INT32_MAX)) throw std::length_error("too many distinct words");
    for (int32_t& id : st.ids) id = static_cast<int32_t>(map_[static_cast<size_t>(id)]);
    for (int64_t& end : st.line_ends) end += written_;
    write_all(tokens_.get(), st.ids.data(), st.ids.size() * sizeof(int32_t), tokens_path_);
    write_all(ends_.get(), st.line_ends.data(), st.line_ends.size() * sizeof(int64_t), ends_path_);
    written_ += static_cast<int64_t>(st.ids.size());
    st.ids.clear();
    st.line_ends.clear();
    st.table.clear();
  }

  void finish() {
    for (auto* f : {tokens_.get(), ends_.get()}) {
      if (std::fflush(f) != 0) io_error(errno, "cannot write the provisional corpus");
    }
  }

 private:
  std::string tokens_path_, ends_path_;
  std::unique_ptr<std::FILE, FileCloser> tokens_, ends_;
  std::vector<int64_t> map_;
  int64_t written_ = 0;
};

}  // namespace

void scan_vocabulary(const std::vector<std::string>& paths, const CorpusScanOptions& options,
                     CorpusVocabulary& out) {
  if (options.block_bytes < 1) throw std::invalid_argument("block_bytes must be positive");
  const int threads = std::max(1, options.num_threads);
  std::vector<CountState> states(static_cast<size_t>(threads));
  WordTable total;
  int64_t min_reduce = 1;
  const bool prune = options.max_vocab_size > 0;
  const bool provisional = !options.provisional_tokens_path.empty() && !options.provisional_ends_path.empty();
  if (provisional && prune) throw std::invalid_argument("a provisional count cannot prune the vocabulary");
  std::unique_ptr<ProvisionalWriter> writer;
  if (provisional) {
    writer = std::make_unique<ProvisionalWriter>(options.provisional_tokens_path, options.provisional_ends_path);
    for (CountState& st : states) st.provisional = true;
  }
  bool counted_a_block = false;
  auto merge_states = [&]() {
    for (CountState& st : states) {
      merge_into(total, st.table);
      st.table.clear();
    }
  };
  OpenLine open;
  for (const std::string& path : paths) {
    LineBlocks blocks(path, options.block_bytes);
    const char *b, *e;
    bool continues = false, open_end = false;
    for (; blocks.next(b, e, open_end); continues = open_end) {
      if (prune && counted_a_block) {  // between blocks only: never after the last one
        while (static_cast<int64_t>(total.size()) > options.max_vocab_size) {
          const int64_t r = min_reduce;
          total.filter([r](const WordTable::Entry& en) { return en.value > r; });
          ++min_reduce;
        }
      }
      // A piece of one long line is counted on one thread (no line end to cut at).
      const int parts = open_end ? 1 : threads_for(e - b, threads);
      const std::vector<const char*> cuts = split_lines(b, e, parts);
      parallel_for(parts, parts, [&](int64_t t) {
        count_range(cuts[t], cuts[t + 1], states[t], open, continues && t == 0,
                    open_end && t == parts - 1);
      });
      if (provisional) {
        for (int t = 0; t < parts; ++t) writer->add(states[t], total);
      }
      if (prune) merge_states();
      counted_a_block = true;
    }
  }
  merge_states();
  if (provisional) writer->finish();
  out = CorpusVocabulary();
  for (const CountState& st : states) {
    out.tokens += st.tokens;
    out.sentences += st.sentences;
  }
  out.unique_words = static_cast<int64_t>(total.size());
  out.min_reduce = min_reduce;
  std::vector<const WordTable::Entry*> kept;
  for (const auto& en : total.entries()) {
    if (en.value >= options.min_count) kept.push_back(&en);
  }
  std::sort(kept.begin(), kept.end(), [&](const WordTable::Entry* x, const WordTable::Entry* y) {
    if (x->value != y->value) return x->value > y->value;
    const int c = std::memcmp(total.text(*x), total.text(*y), std::min(x->length, y->length));
    return c != 0 ? c < 0 : x->length < y->length;
  });
  out.words.reserve(kept.size());
  out.counts.reserve(kept.size());
  for (const auto* en : kept) {
    out.words.emplace_back(total.text(*en), en->length);
    out.counts.push_back(en->value);
    if (provisional) out.ids.push_back(static_cast<int64_t>(en - total.entries().data()));
  }
}

namespace {

struct EncodeState {
  std::string scratch;
  std::vector<int32_t> ids;
  std::vector<int64_t> ends;  // relative to the range's first kept token
  int64_t raw = 0;
};

void encode_range(const char* b, const char* e, const WordTable& vocab, int64_t max_len,
                  EncodeState& st, OpenLine& open, bool continues, bool open_end) {
  st.ids.clear();
  st.ends.clear();
  int64_t in_piece = continues ? open.in_piece : 0;  // tokens read in the current piece
  bool piece_kept = continues && open.piece_kept;
  auto end_piece = [&]() {
    if (piece_kept) st.ends.push_back(static_cast<int64_t>(st.ids.size()));
    piece_kept = false;
    in_piece = 0;
  };
  auto lookup = [&](const char* p, size_t n, uint64_t h) {
    if (in_piece == max_len) end_piece();
    ++in_piece;
    ++st.raw;
    const int64_t id = vocab.find(p, n, h, -1);
    if (id >= 0) {
      st.ids.push_back(static_cast<int32_t>(id));
      piece_kept = true;
    }
  };
  LookupRing<WordTable, decltype(lookup)> ring(vocab, e, lookup);
  tokenize(
      b, e, open_end, st.scratch, [&](const char* p, size_t n, bool in_text) { ring.add(p, n, in_text); },
      [&]() {
        ring.drain();
        end_piece();
      });
  ring.drain();
  if (open_end) {
    open.in_piece = in_piece;
    open.piece_kept = piece_kept;
  }
}

}  // namespace

CorpusEncoding encode_corpus(const std::vector<std::string>& paths,
                             const std::vector<std::string>& vocabulary,
                             const std::string& tokens_path, const std::string& ends_path,
                             int64_t max_sentence_length, int num_threads, int64_t block_bytes) {
  if (max_sentence_length < 1) throw std::invalid_argument("max_sentence_length must be positive");
  if (block_bytes < 1) throw std::invalid_argument("block_bytes must be positive");
  if (vocabulary.size() > static_cast<size_t>(INT32_MAX)) throw std::length_error("vocabulary too large");
  WordTable vocab;
  for (size_t i = 0; i < vocabulary.size(); ++i) {
    const std::string& w = vocabulary[i];
    int64_t& v = vocab.get(w.data(), w.size(), hash_bytes(w.data(), w.size()), static_cast<int64_t>(i));
    if (v != static_cast<int64_t>(i)) throw std::invalid_argument("the vocabulary has a word twice");
  }
  const int threads = std::max(1, num_threads);
  auto tok_file = open_for_writing(tokens_path);
  auto end_file = open_for_writing(ends_path);
  std::vector<EncodeState> states(static_cast<size_t>(threads));
  CorpusEncoding res;
  std::vector<int64_t> shifted;
  OpenLine open;
  for (const std::string& path : paths) {
    LineBlocks blocks(path, block_bytes);
    const char *b, *e;
    bool continues = false, open_end = false;
    for (; blocks.next(b, e, open_end); continues = open_end) {
      const int parts = open_end ? 1 : threads_for(e - b, threads);
      const std::vector<const char*> cuts = split_lines(b, e, parts);
      parallel_for(parts, parts, [&](int64_t t) {
        encode_range(cuts[t], cuts[t + 1], vocab, max_sentence_length, states[t], open,
                     continues && t == 0, open_end && t == parts - 1);
      });
      for (int t = 0; t < parts; ++t) {
        const EncodeState& st = states[t];
        write_all(tok_file.get(), st.ids.data(), st.ids.size() * sizeof(int32_t), tokens_path);
        shifted.resize(st.ends.size());
        for (size_t i = 0; i < st.ends.size(); ++i) shifted[i] = st.ends[i] + res.tokens;
        write_all(end_file.get(), shifted.data(), shifted.size() * sizeof(int64_t), ends_path);
        res.tokens += static_cast<int64_t>(st.ids.size());
        res.sentences += static_cast<int64_t>(st.ends.size());
      }
    }
  }
  for (const EncodeState& st : states) res.raw_tokens += st.raw;
  for (auto* f : {tok_file.get(), end_file.get()}) {
    if (std::fflush(f) != 0) io_error(errno, "cannot write the encoded corpus");
  }
  return res;
}

namespace {

// Reads a file of fixed-size values in buffered pieces.
template <class T>
class ValueReader {
 public:
  explicit ValueReader(const std::string& path) : file_(std::fopen(path.c_str(), "rb")), path_(path) {
    if (!file_) io_error(errno, "cannot open " + path);
  }

  // The next value in v; false at the end of the file.
  bool next(T& v) {
    if (at_ == buf_.size()) {
      buf_.resize(kValues);
      const size_t got = std::fread(buf_.data(), sizeof(T), kValues, file_.get());
      if (got == 0 && std::ferror(file_.get())) io_error(errno, "cannot read " + path_);
      buf_.resize(got);
      at_ = 0;
      if (got == 0) return false;
    }
    v = buf_[at_++];
    return true;
  }

 private:
  static constexpr size_t kValues = size_t{1} << 18;
  std::unique_ptr<std::FILE, FileCloser> file_;
  std::string path_;
  std::vector<T> buf_;
  size_t at_ = 0;
};

}  // namespace

CorpusEncoding encode_provisional(const std::string& provisional_tokens_path,
                                  const std::string& provisional_ends_path, const int32_t* final_id,
                                  int64_t num_ids, const std::string& tokens_path,
                                  const std::string& ends_path, int64_t max_sentence_length) {
  if (max_sentence_length < 1) throw std::invalid_argument("max_sentence_length must be positive");
  if (num_ids < 0) throw std::invalid_argument("num_ids must be non-negative");
  ValueReader<int32_t> in_ids(provisional_tokens_path);
  ValueReader<int64_t> in_ends(provisional_ends_path);
  auto tok_file = open_for_writing(tokens_path);
  auto end_file = open_for_writing(ends_path);
  std::vector<int32_t> ids;
  std::vector<int64_t> ends;
  CorpusEncoding res;
  auto flush = [&]() {
    write_all(tok_file.get(), ids.data(), ids.size() * sizeof(int32_t), tokens_path);
    write_all(end_file.get(), ends.data(), ends.size() * sizeof(int64_t), ends_path);
    ids.clear();
    ends.clear();
  };
  int64_t line_end = 0;
  while (in_ends.next(line_end)) {
    if (line_end <= res.raw_tokens) throw std::invalid_argument("provisional line ends must increase");
    // The line's tokens, in pieces of max_sentence_length (counted before
    // the words outside the vocabulary are dropped; empty pieces dropped).
    while (res.raw_tokens < line_end) {
      const int64_t stop = std::min(line_end, res.raw_tokens + max_sentence_length);
      bool kept = false;
      for (; res.raw_tokens < stop; ++res.raw_tokens) {
        int32_t id;
        if (!in_ids.next(id)) throw std::invalid_argument("provisional line ends beyond its tokens");
        if (id < 0 || id >= num_ids) throw std::invalid_argument("provisional id out of range");
        const int32_t f = final_id[id];
        if (f >= 0) {
          ids.push_back(f);
          ++res.tokens;
          kept = true;
        }
      }
      if (kept) {
        ends.push_back(res.tokens);
        ++res.sentences;
      }
      // after every piece, not every line: a line may hold the whole corpus
      if (ids.size() >= (size_t{1} << 20)) flush();
    }
  }
  int32_t extra;
  if (in_ids.next(extra)) throw std::invalid_argument("provisional tokens after the last line end");
  flush();
  for (auto* f : {tok_file.get(), end_file.get()}) {
    if (std::fflush(f) != 0) io_error(errno, "cannot write the encoded corpus");
  }
  return res;
}

}  // namespace pysampled
