// bfloat16 <-> float32 array conversions, one table per ISA level.
//
// The Python layer converts bfloat16 inputs to float32 and float32 results
// (losses, input gradients, gradient rows of bfloat16 parameters) back with
// these. Integer-only loops: every level gives the same bits, the bits of
// ml_dtypes' casts. The compiler vectorises them; the widths matter because
// SSE2 lacks an unsigned 32 -> 16 bit pack (the generic level converts
// float32 -> bfloat16 at about half the AVX2 rate and a third of AVX-512's).
#pragma once

#include <cstdint>

#include "../isa.hpp"

namespace pysampled {

struct ConvertKernels {
  // dst[i] = the float32 value of the bfloat16 bits src[i] (exact).
  void (*bf16_to_f32)(const uint16_t* src, float* dst, int64_t n);
  // dst[i] = src[i] rounded to bfloat16, nearest with ties to even; a NaN
  // becomes the quiet NaN of its sign (0x7fc0 | sign), as ml_dtypes does.
  void (*f32_to_bf16)(const float* src, uint16_t* dst, int64_t n);
};

namespace isa_generic { extern const ConvertKernels kConvert; }
namespace isa_avx2 { extern const ConvertKernels kConvert; }
namespace isa_avx512 { extern const ConvertKernels kConvert; }

inline const ConvertKernels& convert_kernels(Isa isa) {
  return table_for(isa, isa_generic::kConvert, isa_avx2::kConvert, isa_avx512::kConvert);
}

inline const ConvertKernels& convert_kernels() { return convert_kernels(active_isa()); }

}  // namespace pysampled
