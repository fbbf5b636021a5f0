// word2vec kernels compiled for the generic level (flags set in CMake).
#define PYSAMPLED_ISA_NS isa_generic
#define PYSAMPLED_VBYTES 16
#include "../kernels/w2v_impl.hpp"
