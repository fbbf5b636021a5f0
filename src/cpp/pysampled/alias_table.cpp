// Walker alias table with TF's exact construction (SPEC §3.4), packed for
// the bulk path (kernels/bulk.hpp: pack_alias).
#include "alias_table.hpp"

#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>

#include "kernels/bulk.hpp"

namespace pysampled {

namespace {

// Left-to-right double sum (TF's rounding), kept in a register.
__attribute__((noinline)) double ordered_sum(const float* w, size_t n) {
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) sum += static_cast<double>(w[i]);
  return sum;
}

}  // namespace

AliasTable::AliasTable(const std::vector<float>& weights) {
  const size_t n = weights.size();
  if (n == 0) throw std::invalid_argument("alias table needs at least one weight");
  if (n > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    throw std::invalid_argument("alias table supports at most 2^31-1 entries");
  }
  // TF's construction (SPEC §3.4): scaled probabilities in double from float
  // products, small and large columns paired from the back of two stacks,
  // leftovers (rounding) kept with probability 1.
  //
  // Same arithmetic and pairing order as TF, in less memory and fewer passes
  // (the build of 10^6 entries is dominated by first-touch page faults):
  // columns_ holds each entry's double probability (as raw bits) until the
  // entry is final, then its packed column. The two stacks share one array,
  // `low` growing up from the front and `high` down from the back (an entry is
  // on at most one stack, so they never meet). An entry on `low` is never
  // changed again, so it is packed as soon as it is paired.
  const double sum = ordered_sum(weights.data(), n);
  columns_ = HugeArray<uint64_t>(n);
  uint64_t* col = columns_.data();
  std::unique_ptr<int32_t[]> stack(new int32_t[n]);  // uninitialised on purpose
  int32_t* low = stack.get();       // low[0 .. nlow)
  int32_t* high = stack.get() + n;  // high[-1], high[-2], ... (nhigh of them)
  size_t nlow = 0, nhigh = 0;
  const float nf = static_cast<float>(n);
  auto bits = [](double d) {
    uint64_t u;
    std::memcpy(&u, &d, sizeof u);
    return u;
  };
  auto prob = [&](int32_t i) {
    double d;
    std::memcpy(&d, &col[i], sizeof d);
    return d;
  };
  for (size_t i = 0; i < n; ++i) {  // vectorises (the division dominates)
    const float scaled = weights[i] * nf;
    col[i] = bits(static_cast<double>(scaled) / sum);
  }
  for (size_t i = 0; i < n; ++i) {  // branch-free: weights come in any order
    const bool is_low = prob(static_cast<int32_t>(i)) < 1.0;
    low[nlow] = static_cast<int32_t>(i);
    *(high - 1 - static_cast<ptrdiff_t>(nhigh)) = static_cast<int32_t>(i);
    nlow += is_low;
    nhigh += !is_low;
  }
  while (nlow > 0 && nhigh > 0) {
    const int32_t l = low[--nlow];
    const int32_t h = *(high - nhigh--);
    const double pl = prob(l);
    const double ph = prob(h) - (1.0 - pl);
    col[l] = pack_alias(static_cast<float>(pl), h);
    col[h] = bits(ph);
    if (ph < 1.0) {
      low[nlow++] = h;
    } else {
      *(high - ++nhigh) = h;
    }
  }
  for (size_t k = 0; k < nhigh; ++k) {
    const int32_t i = *(high - 1 - static_cast<ptrdiff_t>(k));
    col[i] = pack_alias(1.0f, i);
  }
  for (size_t k = 0; k < nlow; ++k) col[low[k]] = pack_alias(1.0f, low[k]);
}

int32_t AliasTable::draw(WordStream& rng) const {
  // TF: r = RandFloat() (23-bit m / 2^23), then i = Uniform(n); keep i if r < prob[i].
  const uint64_t m = rng.next32() & 0x7FFFFFu;
  const int32_t i = static_cast<int32_t>(rng.uniform32(static_cast<uint32_t>(columns_.size())));
  return 2 * m < alias_threshold(columns_[i]) ? i : alias_index(columns_[i]);
}

}  // namespace pysampled
