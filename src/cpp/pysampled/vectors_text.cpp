#include "vectors_text.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "parallel.hpp"

namespace pysampled {

namespace {

// Rows [r0, r1) of append_text_rows, appended to `out`.
void format_rows(const char* words, const int64_t* word_ends, const float* rows, int64_t r0,
                 int64_t r1, int64_t dim, int64_t ld, std::string& out) {
  // "%.9g" of a float32 takes at most 15 characters ("-1.17549435e-38"),
  // plus the separating space.
  constexpr int64_t kMaxValue = 16;
  for (int64_t i = r0; i < r1; ++i) {
    const int64_t start = i > 0 ? word_ends[i - 1] : 0, end = word_ends[i];
    const size_t at = out.size();
    out.resize(at + static_cast<size_t>(end - start + dim * kMaxValue + 1));
    char* p = out.data() + at;
    std::memcpy(p, words + start, static_cast<size_t>(end - start));
    p += end - start;
    char* const last = out.data() + out.size();
    const float* row = rows + i * ld;
    for (int64_t d = 0; d < dim; ++d) {
      *p++ = ' ';
      if (std::isnan(row[d])) {
        std::memcpy(p, "nan", 3);
        p += 3;
        continue;
      }
      const std::to_chars_result r = std::to_chars(p, last, row[d], std::chars_format::general, 9);
      if (r.ec != std::errc()) throw std::length_error("append_text_rows: value longer than expected");
      p = r.ptr;
    }
    *p++ = '\n';
    out.resize(static_cast<size_t>(p - out.data()));
  }
}

}  // namespace

void append_text_rows(const char* words, const int64_t* word_ends, const float* rows, int64_t n,
                      int64_t dim, int64_t ld, int num_threads, std::string& out) {
  for (int64_t i = 0; i < n; ++i) {
    if (word_ends[i] < (i > 0 ? word_ends[i - 1] : 0)) {
      throw std::invalid_argument("word ends must not decrease");
    }
  }
  constexpr int64_t kRowsPerTask = 512;
  const int64_t tasks = (n + kRowsPerTask - 1) / kRowsPerTask;
  if (tasks <= 1 || num_threads <= 1) {
    format_rows(words, word_ends, rows, 0, n, dim, ld, out);
    return;
  }
  std::vector<std::string> parts(static_cast<size_t>(tasks));
  parallel_for(tasks, num_threads, [&](int64_t t) {
    format_rows(words, word_ends, rows, t * kRowsPerTask, std::min(n, (t + 1) * kRowsPerTask), dim,
                ld, parts[static_cast<size_t>(t)]);
  });
  size_t total = out.size();
  for (const std::string& part : parts) total += part.size();
  out.reserve(total);
  for (const std::string& part : parts) out += part;
}

}  // namespace pysampled
