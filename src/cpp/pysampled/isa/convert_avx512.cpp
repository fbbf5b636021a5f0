// bfloat16 <-> float32 conversions compiled for the avx512 level (flags set in CMake).
#define PYSAMPLED_ISA_NS isa_avx512
#include "../kernels/convert_impl.hpp"
