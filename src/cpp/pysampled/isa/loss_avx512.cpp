// Loss kernels compiled for the avx512 level (flags set in CMake).
#define PYSAMPLED_ISA_NS isa_avx512
#define PYSAMPLED_VBYTES 64
#define PYSAMPLED_MR 12
#include "../kernels/loss_impl.hpp"
