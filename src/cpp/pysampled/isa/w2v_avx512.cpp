// word2vec kernels compiled for the avx512 level (flags set in CMake).
#define PYSAMPLED_ISA_NS isa_avx512
#define PYSAMPLED_VBYTES 64
#include "../kernels/w2v_impl.hpp"
