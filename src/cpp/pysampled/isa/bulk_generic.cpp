// Bulk-sampling kernels compiled for the generic level (flags set in CMake).
#define PYSAMPLED_ISA_NS isa_generic
#include "../kernels/bulk_impl.hpp"
