// Runtime instruction-set dispatch.
//
// Design: the hot kernels are written once, in portable C++ that GCC
// vectorises (kernels/*_impl.hpp), and compiled three times, for baseline
// x86-64, AVX2+FMA and AVX-512, into separate translation units that each
// export a table of function pointers. `active_isa()` picks the best one the
// CPU supports; tests force each level in turn and compare the results.
#pragma once

namespace pysampled {

enum class Isa : int { kGeneric = 0, kAvx2 = 1, kAvx512 = 2 };

// The best level this CPU (and build) supports.
Isa detected_isa();
// The level kernels use now: detected_isa() unless lowered by set_isa().
Isa active_isa();
// Force a level (for tests and benchmarks); throws if the CPU lacks it.
void set_isa(Isa isa);
const char* isa_name(Isa isa);
// The table of kernels compiled for `isa`, out of one per level.
template <class Table>
const Table& table_for(Isa isa, const Table& generic, const Table& avx2, const Table& avx512) {
  switch (isa) {
    case Isa::kAvx512: return avx512;
    case Isa::kAvx2: return avx2;
    default: return generic;
  }
}

}  // namespace pysampled
