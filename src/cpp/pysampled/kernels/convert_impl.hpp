// bfloat16 <-> float32 array conversions (convert.hpp). Included once per ISA
// translation unit with PYSAMPLED_ISA_NS set to that unit's namespace; the
// unit's flags decide the vector width.
#include <cstring>

#include "convert.hpp"

namespace pysampled {
namespace PYSAMPLED_ISA_NS {
namespace {

void bf16_to_f32(const uint16_t* __restrict src, float* __restrict dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t u = static_cast<uint32_t>(src[i]) << 16;
    std::memcpy(dst + i, &u, sizeof u);
  }
}

void f32_to_bf16(const float* __restrict src, uint16_t* __restrict dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, src + i, sizeof u);
    const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    const uint32_t nan = ((u >> 16) & 0x8000u) | 0x7fc0u;
    // |u| is below 2^31, so the signed compare is the unsigned one (SSE2 has only signed)
    const bool is_nan = static_cast<int32_t>(u & 0x7fffffffu) > 0x7f800000;
    dst[i] = static_cast<uint16_t>(is_nan ? nan : rounded);
  }
}

}  // namespace

extern const ConvertKernels kConvert = {bf16_to_f32, f32_to_bf16};

}  // namespace PYSAMPLED_ISA_NS
}  // namespace pysampled
