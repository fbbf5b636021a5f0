// Loss kernels compiled for the avx2 level (flags set in CMake).
#define PYSAMPLED_ISA_NS isa_avx2
#define PYSAMPLED_VBYTES 32
#define PYSAMPLED_MR 6
#include "../kernels/loss_impl.hpp"
