// Philox4x32-10 counter-based generator and the word-level primitives that
// TensorFlow's candidate samplers draw from (SPEC §2).
//
// Design: a Philox generator is a (key, 128-bit counter) pair; every call of
// next_block() returns one 128-bit block and bumps the counter by one, so any
// block of a stream can be computed directly from its index. WordStream hands
// those blocks out one 32-bit word at a time, in the order TF's single-sample
// adapter does, and implements the distributions the samplers need
// (RandFloat, RandDouble, exact-uniform integers) with TF's exact consumption
// rules, so streams can be replayed bit for bit.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>

namespace pysampled {

using Block = std::array<uint32_t, 4>;

struct Philox4x32 {
  static constexpr uint32_t kM0 = 0xD2511F53u;
  static constexpr uint32_t kM1 = 0xCD9E8D57u;
  static constexpr uint32_t kW0 = 0x9E3779B9u;
  static constexpr uint32_t kW1 = 0xBB67AE85u;

  uint32_t key[2] = {0, 0};
  uint32_t counter[4] = {0, 0, 0, 0};

  Philox4x32() = default;

  // TF's seeding: key = (lo32(seed), hi32(seed)), counter = (0, 0, lo32(seed2), hi32(seed2)).
  Philox4x32(uint64_t seed, uint64_t seed2) {
    key[0] = static_cast<uint32_t>(seed);
    key[1] = static_cast<uint32_t>(seed >> 32);
    counter[0] = 0;
    counter[1] = 0;
    counter[2] = static_cast<uint32_t>(seed2);
    counter[3] = static_cast<uint32_t>(seed2 >> 32);
  }

  // The block at `counter + offset`, without changing the generator.
  static inline Block compute(const uint32_t k_in[2], const uint32_t c_in[4]) {
    uint32_t c0 = c_in[0], c1 = c_in[1], c2 = c_in[2], c3 = c_in[3];
    uint32_t k0 = k_in[0], k1 = k_in[1];
    for (int round = 0; round < 10; ++round) {
      const uint64_t p0 = static_cast<uint64_t>(kM0) * c0;
      const uint64_t p1 = static_cast<uint64_t>(kM1) * c2;
      const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
      const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
      c0 = hi1 ^ c1 ^ k0;
      c1 = lo1;
      c2 = hi0 ^ c3 ^ k1;
      c3 = lo0;
      k0 += kW0;
      k1 += kW1;
    }
    return Block{c0, c1, c2, c3};
  }

  // Adds n to the 128-bit little-endian counter.
  static inline void add_to_counter(uint32_t c[4], uint64_t n) {
    const uint64_t low = (static_cast<uint64_t>(c[1]) << 32) | c[0];
    const uint64_t sum = low + n;
    c[0] = static_cast<uint32_t>(sum);
    c[1] = static_cast<uint32_t>(sum >> 32);
    if (sum < low) {  // carry into the high 64 bits
      if (++c[2] == 0) ++c[3];
    }
  }

  Block next_block() {
    Block b = compute(key, counter);
    add_to_counter(counter, 1);
    return b;
  }

  void skip(uint64_t blocks) { add_to_counter(counter, blocks); }

  // The block `offset` blocks ahead of the current counter (no state change).
  Block block_at(uint64_t offset) const {
    uint32_t c[4] = {counter[0], counter[1], counter[2], counter[3]};
    add_to_counter(c, offset);
    return compute(key, c);
  }

  bool operator==(const Philox4x32& o) const {
    return std::memcmp(key, o.key, sizeof key) == 0 &&
           std::memcmp(counter, o.counter, sizeof counter) == 0;
  }
};

// One 32-bit word at a time from a Philox generator, words 0..3 of each block
// in order; the unused words of the last block are dropped with the stream.
class WordStream {
 public:
  explicit WordStream(const Philox4x32& gen) : gen_(gen) {}

  uint32_t next32() {
    if (used_ == 4) {
      block_ = gen_.next_block();
      used_ = 0;
    }
    return block_[used_++];
  }

  uint64_t next64() {
    const uint64_t lo = next32();
    const uint64_t hi = next32();
    return lo | (hi << 32);
  }

  // [0, 1) from the 23 low bits of one word.
  float rand_float() {
    const uint32_t bits = (127u << 23) | (next32() & 0x7FFFFFu);
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f - 1.0f;
  }

  // [0, 1) from 52 bits of two words: 20 low bits of the first, all of the second.
  double rand_double() {
    const uint64_t x0 = next32();
    const uint64_t x1 = next32();
    const uint64_t bits = (uint64_t{1023} << 52) | ((x0 & 0xFFFFFu) << 32) | x1;
    double d;
    std::memcpy(&d, &bits, sizeof d);
    return d - 1.0;
  }

  // Exactly uniform in [0, n) by rejection on 32-bit words.
  uint32_t uniform32(uint32_t n) {
    if (n == 0) {
      next32();
      return 0;
    }
    if ((n & (n - 1)) == 0) return next32() & (n - 1);
    const uint32_t reject_below = UINT32_MAX % n + 1;
    for (;;) {
      const uint32_t w = next32();
      if (w >= reject_below) return w % n;
    }
  }

  // Exactly uniform in [0, n) by rejection on 64-bit words.
  uint64_t uniform64(uint64_t n) {
    if (n == 0) {
      next64();
      return 0;
    }
    if ((n & (n - 1)) == 0) return next64() & (n - 1);
    const uint64_t reject_below = UINT64_MAX % n + 1;
    for (;;) {
      const uint64_t w = next64();
      if (w >= reject_below) return w % n;
    }
  }

 private:
  Philox4x32 gen_;
  Block block_{};
  int used_ = 4;
};

}  // namespace pysampled
