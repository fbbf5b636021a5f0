// bfloat16 <-> float32 conversions compiled for the avx2 level (flags set in CMake).
#define PYSAMPLED_ISA_NS isa_avx2
#include "../kernels/convert_impl.hpp"
