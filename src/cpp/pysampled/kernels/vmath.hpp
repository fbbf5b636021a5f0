// Vector math shared by the per-ISA kernels: GCC vector types of the unit's
// width, loads/stores, exp and log1p on the ranges the kernels need, and
// horizontal reductions. Included inside `namespace pysampled::<isa> {
// namespace {` by the *_impl.hpp files, with PYSAMPLED_VBYTES defined.
// (No include guard: each including unit defines its own copy.)

constexpr int kVBytes = PYSAMPLED_VBYTES;

template <class T, int BYTES>
struct VecOf {
  typedef T type __attribute__((vector_size(BYTES)));
};
template <class T>
using Vec = typename VecOf<T, kVBytes>::type;

template <class T>
struct Traits;
template <>
struct Traits<float> {
  using Int = int32_t;
  static constexpr int kMantissa = 23;
  static constexpr int kBias = 127;
  static constexpr float kMinExp = -87.0f;  // below: exp flushes to 0
};
template <>
struct Traits<double> {
  using Int = int64_t;
  static constexpr int kMantissa = 52;
  static constexpr int kBias = 1023;
  static constexpr double kMinExp = -708.0;
};

template <class T>
constexpr int lanes() {
  return kVBytes / static_cast<int>(sizeof(T));
}

template <class T>
inline Vec<T> load(const T* p) {
  Vec<T> v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class T>
inline void store(T* p, Vec<T> v) {
  std::memcpy(p, &v, sizeof v);
}
template <class T>
inline Vec<T> splat(T x) {
  return Vec<T>{} + x;
}

// exp(x) for x <= 0 (NaN propagates; x below the float range gives 0).
template <class T>
inline Vec<T> vexp_nonpos(Vec<T> x) {
  using V = Vec<T>;
  using I = typename Traits<T>::Int;
  using VI = typename VecOf<I, kVBytes>::type;
  const T lo = Traits<T>::kMinExp;
  const V xc = x >= lo ? x : splat<T>(lo);  // also maps NaN to lo (no UB in the int conversion)
  const T magic = sizeof(T) == 4 ? T(12582912.0) : T(6755399441055744.0);  // 1.5 * 2^mantissa
  const V t = xc * T(1.4426950408889634);
  const V k = (t + magic) - magic;  // round to nearest
  const V r = (xc - k * T(0.693145751953125)) - k * T(1.42860682030941723212e-6);
  V p;
  if constexpr (sizeof(T) == 4) {
    p = splat<T>(T(1.0 / 5040));
    p = p * r + T(1.0 / 720);
    p = p * r + T(1.0 / 120);
    p = p * r + T(1.0 / 24);
    p = p * r + T(1.0 / 6);
    p = p * r + T(0.5);
    p = p * r + T(1);
    p = p * r + T(1);
  } else {
    p = splat<T>(T(1.0 / 6227020800.0));
    p = p * r + T(1.0 / 479001600.0);
    p = p * r + T(1.0 / 39916800.0);
    p = p * r + T(1.0 / 3628800.0);
    p = p * r + T(1.0 / 362880.0);
    p = p * r + T(1.0 / 40320.0);
    p = p * r + T(1.0 / 5040.0);
    p = p * r + T(1.0 / 720.0);
    p = p * r + T(1.0 / 120.0);
    p = p * r + T(1.0 / 24.0);
    p = p * r + T(1.0 / 6.0);
    p = p * r + T(0.5);
    p = p * r + T(1);
    p = p * r + T(1);
  }
  const VI ki = __builtin_convertvector(k, VI);
  const VI bits = (ki + I(Traits<T>::kBias)) << Traits<T>::kMantissa;
  V scale;
  std::memcpy(&scale, &bits, sizeof scale);
  const V res = p * scale;
  return x >= lo ? res : (x != x ? x : V{});
}

// log1p(e) for 0 <= e <= 1 (NaN propagates).
template <class T>
inline Vec<T> vlog1p_unit(Vec<T> e) {
  using V = Vec<T>;
  const V u = e + T(1);
  const V big = u > T(1.4142135623730951) ? splat<T>(T(1)) : V{};
  const V y = u * (T(1) - T(0.5) * big);
  const V s = (y - T(1)) / (y + T(1));
  const V s2 = s * s;
  V q;
  if constexpr (sizeof(T) == 4) {
    q = splat<T>(T(1.0 / 11));
    q = q * s2 + T(1.0 / 9);
    q = q * s2 + T(1.0 / 7);
  } else {
    q = splat<T>(T(1.0 / 23));
    q = q * s2 + T(1.0 / 21);
    q = q * s2 + T(1.0 / 19);
    q = q * s2 + T(1.0 / 17);
    q = q * s2 + T(1.0 / 15);
    q = q * s2 + T(1.0 / 13);
    q = q * s2 + T(1.0 / 11);
    q = q * s2 + T(1.0 / 9);
    q = q * s2 + T(1.0 / 7);
  }
  q = q * s2 + T(1.0 / 5);
  q = q * s2 + T(1.0 / 3);
  q = q * s2 + T(1);
  const V log_u = T(2) * s * q + big * T(0.6931471805599453);
  // log1p(e) = log(u + c) = log(u) + c / u + O(c^2), with c = e - (u - 1)
  // the rounding error of u = 1 + e (exact: |c| <= 2^-24 for float, and e,
  // u - 1 are within a factor of two). c / u is taken as c (2 - u) (no
  // division): the error, c (u - 1)^2 / u, is below c (u - 1), under an ulp
  // of the result (which is at least 0.69 (u - 1)). e below half an ulp of
  // 1 gives u = 1, log_u = 0 and the result e.
  const V c = e - (u - T(1));
  return log_u + c * (T(2) - u);
}

// Reduces the lanes by halving (log2(lanes) shuffles, then the last pair),
// op(a, b) applied to vectors and then to two scalars: a fixed order per ISA.
template <class T, class Op>
inline T hreduce(Vec<T> v, Op op) {
  using I = typename Traits<T>::Int;
  using VI = typename VecOf<I, kVBytes>::type;
  constexpr int L = lanes<T>();
  if constexpr (L >= 16) {
    v = op(v, __builtin_shuffle(v, VI{8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7}));
  }
  if constexpr (L == 8) {
    v = op(v, __builtin_shuffle(v, VI{4, 5, 6, 7, 0, 1, 2, 3}));
  } else if constexpr (L >= 16) {
    v = op(v, __builtin_shuffle(v, VI{4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11}));
  }
  if constexpr (L == 4) {
    v = op(v, __builtin_shuffle(v, VI{2, 3, 0, 1}));
  } else if constexpr (L == 8) {
    v = op(v, __builtin_shuffle(v, VI{2, 3, 0, 1, 6, 7, 4, 5}));
  } else if constexpr (L >= 16) {
    v = op(v, __builtin_shuffle(v, VI{2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13}));
  }
  T out[L];
  std::memcpy(out, &v, sizeof v);
  return L >= 2 ? op(out[0], out[1]) : out[0];
}

// Sum of the lanes.
template <class T>
inline T hsum(Vec<T> v) {
  return hreduce<T>(v, [](auto a, auto b) { return a + b; });
}

// Largest lane (a short row's softmax pays this twice). The callers' lanes
// never hold NaN (they start at -inf and take x only where x > lane), so the
// order of the comparisons cannot change the result.
template <class T>
inline T hmax(Vec<T> v) {
  return hreduce<T>(v, [](auto a, auto b) { return b > a ? b : a; });
}

// ------------------------------------------- row operations of both kernels
// (the sampled losses and the word2vec trainer): one implementation, so both
// round the same way.

// x . y over n elements: two vector accumulators, then one horizontal sum,
// then the scalar tail (none when n is a multiple of the width, as for the
// word2vec rows).
template <class T>
T dot(const T* x, const T* y, int64_t n) {
  using V = Vec<T>;
  constexpr int L = lanes<T>();
  V a0{}, a1{};
  int64_t i = 0;
  for (; i + 2 * L <= n; i += 2 * L) {
    a0 += load<T>(x + i) * load<T>(y + i);
    a1 += load<T>(x + i + L) * load<T>(y + i + L);
  }
  for (; i + L <= n; i += L) a0 += load<T>(x + i) * load<T>(y + i);
  T s = hsum<T>(a0 + a1);
  for (; i < n; ++i) s += x[i] * y[i];
  return s;
}

// y += a * x over n elements.
template <class T>
void axpy(T a, const T* x, T* y, int64_t n) {
  constexpr int L = lanes<T>();
  int64_t i = 0;
  for (; i + L <= n; i += L) store<T>(y + i, load<T>(y + i) + a * load<T>(x + i));
  for (; i < n; ++i) y[i] += a * x[i];
}

// Sigmoid cross-entropy of logits x against targets z, lane by lane, in the
// stable form max(x, 0) - x z + log1p(exp(-|x|)); sig receives sigmoid(x).
// (NaN stays NaN.) Used by NCE and by word2vec's negative sampling.
template <class T>
inline Vec<T> logistic_xent(Vec<T> x, Vec<T> z, Vec<T>& sig) {
  using V = Vec<T>;
  const V ax = x < T(0) ? -x : x;
  const V e = vexp_nonpos<T>(-ax);
  const V pos = x > T(0) ? x : V{};
  // One division: the numerator chosen per lane (as two selected divisions
  // the compiler emits both, and division is this function's dearest part).
  sig = (x >= T(0) ? splat<T>(T(1)) : e) / (T(1) + e);
  return pos - x * z + vlog1p_unit<T>(e);
}
