// The few x86 vector operations the bulk kernels need, behind one interface
// per level (struct Avx2: 256-bit, struct Avx512: 512-bit), so that each
// kernel in bulk_impl.hpp is written once as a template over the level.
//
// Included by bulk_impl.hpp inside `namespace pysampled::<isa> { namespace {`
// (every unit gets its own copy, compiled with its own flags: nothing here may
// be shared between units, or the linker could hand an AVX-512 body to the
// AVX2 level). <immintrin.h> is included by bulk_impl.hpp at file scope.
// No include guard for the same reason.
//
// Conventions: integer vectors hold 64-bit lanes. `mul32` multiplies the low
// 32 bits of each lane into a 64-bit product (vpmuludq), so values whose high
// half is garbage can be multiplied without masking. Double arithmetic is
// plain IEEE add / sub / mul / floor / min / max (the bulk units are built
// with -ffp-contract=off and no intrinsic here fuses), so every level rounds
// exactly as the portable code does.

#if defined(__AVX2__)
struct Avx2 {
  using I = __m256i;
  using D = __m256d;
  static constexpr int kLanes = 4;

  static I load(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
  static void store(void* p, I v) { _mm256_storeu_si256(static_cast<__m256i*>(p), v); }
  static I set1(uint64_t x) { return _mm256_set1_epi64x(static_cast<long long>(x)); }
  static I iota(uint64_t first) {
    return _mm256_add_epi64(set1(first), _mm256_setr_epi64x(0, 1, 2, 3));
  }
  template <int S>
  static I srl(I v) { return _mm256_srli_epi64(v, S); }
  template <int S>
  static I sll(I v) { return _mm256_slli_epi64(v, S); }
  static I add(I a, I b) { return _mm256_add_epi64(a, b); }
  static I sub(I a, I b) { return _mm256_sub_epi64(a, b); }
  static I bit_and(I a, I b) { return _mm256_and_si256(a, b); }
  static I bit_or(I a, I b) { return _mm256_or_si256(a, b); }
  static I xor3(I a, I b, I c) { return _mm256_xor_si256(_mm256_xor_si256(a, b), c); }
  static I mul32(I a, I b) { return _mm256_mul_epu32(a, b); }
  // a < b (signed 64-bit) ? x : y
  static I select_lt(I a, I b, I x, I y) {
    return _mm256_blendv_epi8(y, x, _mm256_cmpgt_epi64(b, a));
  }
  // low 32 bits of each lane from lo, high 32 bits from the low half of hi
  static I pack_halves(I lo, I hi) { return _mm256_blend_epi32(lo, sll<32>(hi), 0xAA); }
  static I gather(const uint64_t* base, I idx) {
    return _mm256_i64gather_epi64(reinterpret_cast<const long long*>(base), idx, 8);
  }
  // words[2b], words[2b+1] = w0[b], w1[b] for the kLanes lanes b
  static void store_interleaved(uint64_t* words, I w0, I w1) {
    const I a = _mm256_unpacklo_epi64(w0, w1);  // w0_0 w1_0 | w0_2 w1_2
    const I b = _mm256_unpackhi_epi64(w0, w1);  // w0_1 w1_1 | w0_3 w1_3
    store(words, _mm256_permute2x128_si256(a, b, 0x20));
    store(words + 4, _mm256_permute2x128_si256(a, b, 0x31));
  }

  static D as_double(I v) { return _mm256_castsi256_pd(v); }
  static I as_int(D v) { return _mm256_castpd_si256(v); }
  static D set1d(double x) { return _mm256_set1_pd(x); }
  static D addd(D a, D b) { return _mm256_add_pd(a, b); }
  static D subd(D a, D b) { return _mm256_sub_pd(a, b); }
  static D muld(D a, D b) { return _mm256_mul_pd(a, b); }
  static D floord(D a) { return _mm256_round_pd(a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); }
  // Neither argument is ever NaN here, so these are the scalar ternaries.
  static D maxd(D a, D b) { return _mm256_max_pd(a, b); }
  static D mind(D a, D b) { return _mm256_min_pd(a, b); }
  static void stored(double* p, D v) { _mm256_storeu_pd(p, v); }
};
#endif

#if defined(__AVX512F__) && defined(__AVX512DQ__)
struct Avx512 {
  using I = __m512i;
  using D = __m512d;
  static constexpr int kLanes = 8;

  static I load(const void* p) { return _mm512_loadu_si512(p); }
  static void store(void* p, I v) { _mm512_storeu_si512(p, v); }
  static I set1(uint64_t x) { return _mm512_set1_epi64(static_cast<long long>(x)); }
  static I iota(uint64_t first) {
    return _mm512_add_epi64(set1(first), _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7));
  }
  template <int S>
  static I srl(I v) { return _mm512_srli_epi64(v, S); }
  template <int S>
  static I sll(I v) { return _mm512_slli_epi64(v, S); }
  static I add(I a, I b) { return _mm512_add_epi64(a, b); }
  static I sub(I a, I b) { return _mm512_sub_epi64(a, b); }
  static I bit_and(I a, I b) { return _mm512_and_si512(a, b); }
  static I bit_or(I a, I b) { return _mm512_or_si512(a, b); }
  static I xor3(I a, I b, I c) { return _mm512_ternarylogic_epi64(a, b, c, 0x96); }
  static I mul32(I a, I b) { return _mm512_mul_epu32(a, b); }
  static I select_lt(I a, I b, I x, I y) {
    return _mm512_mask_blend_epi64(_mm512_cmplt_epi64_mask(a, b), y, x);
  }
  static I pack_halves(I lo, I hi) { return _mm512_mask_blend_epi32(0xAAAA, lo, sll<32>(hi)); }
  static I gather(const uint64_t* base, I idx) { return _mm512_i64gather_epi64(idx, base, 8); }
  static void store_interleaved(uint64_t* words, I w0, I w1) {
    const I lo = _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11);
    const I hi = _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15);
    store(words, _mm512_permutex2var_epi64(w0, lo, w1));
    store(words + 8, _mm512_permutex2var_epi64(w0, hi, w1));
  }

  static D as_double(I v) { return _mm512_castsi512_pd(v); }
  static I as_int(D v) { return _mm512_castpd_si512(v); }
  static D set1d(double x) { return _mm512_set1_pd(x); }
  static D addd(D a, D b) { return _mm512_add_pd(a, b); }
  static D subd(D a, D b) { return _mm512_sub_pd(a, b); }
  static D muld(D a, D b) { return _mm512_mul_pd(a, b); }
  static D floord(D a) {
    return _mm512_roundscale_pd(a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  }
  static D maxd(D a, D b) { return _mm512_max_pd(a, b); }
  static D mind(D a, D b) { return _mm512_min_pd(a, b); }
  static void stored(double* p, D v) { _mm512_storeu_pd(p, v); }
};
#endif
