// bfloat16 <-> float32 conversions compiled for the generic level (flags set in CMake).
#define PYSAMPLED_ISA_NS isa_generic
#include "../kernels/convert_impl.hpp"
