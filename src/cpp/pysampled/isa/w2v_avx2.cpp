// word2vec kernels compiled for the avx2 level (flags set in CMake).
#define PYSAMPLED_ISA_NS isa_avx2
#define PYSAMPLED_VBYTES 32
#include "../kernels/w2v_impl.hpp"
