// Software prefetches that the optimiser cannot delete.
//
// GCC 12 at -O2 and above deleted every prefetch of the word2vec trainer's
// rows and of the sampled losses' gathered rows: its IPA pure-const pass
// takes a function whose only effect is __builtin_prefetch for a const
// function, and a call to a const function returning void is dead code. (The
// prefetches written inside a loop of a larger function, as in the alias
// samplers, survived.) An asm volatile statement is never deleted, so on the
// targets below the hint is written as the instruction itself; elsewhere
// __builtin_prefetch stands in. tests/test_native_build.py checks the built
// library for the instructions.
#pragma once

namespace pysampled {

// Fetch the cache line holding p into every level (x86 prefetcht0).
inline void prefetch_l1(const void* p) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  __asm__ volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p)));
#elif defined(__GNUC__) && defined(__aarch64__)
  __asm__ volatile("prfm pldl1keep, [%0]" : : "r"(p));
#else
  __builtin_prefetch(p, 0, 3);
#endif
}

// Fetch the cache line holding p into L2 and below, not L1 (x86
// prefetcht1): for data needed a few hundred cycles later, which would push
// the lines in use out of L1.
inline void prefetch_l2(const void* p) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  __asm__ volatile("prefetcht1 %0" : : "m"(*static_cast<const char*>(p)));
#elif defined(__GNUC__) && defined(__aarch64__)
  __asm__ volatile("prfm pldl2keep, [%0]" : : "r"(p));
#else
  __builtin_prefetch(p, 0, 2);
#endif
}

}  // namespace pysampled
