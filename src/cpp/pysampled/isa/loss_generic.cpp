// Loss kernels compiled for the generic level (flags set in CMake).
#define PYSAMPLED_ISA_NS isa_generic
#define PYSAMPLED_VBYTES 16
#define PYSAMPLED_MR 6
#include "../kernels/loss_impl.hpp"
