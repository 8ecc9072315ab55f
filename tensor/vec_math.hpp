// Vectorised exp, log, softplus, sigmoid and erf over float arrays, for the softmaxes, exp and log, the
// SiLU of group_norm_silu, the GELU of the transformer's MLP and D3PM's truncated logistic.
//
// Why not std::exp in a loop: glibc's expf becomes SIMD code only under -ffast-math, which this project
// does not use. Why not a polynomial in a plain loop: with the range clamps the compiler turns the
// clamped cases into branches (their results are constants) and then, as float operations may trap,
// refuses to vectorise. So the float kernels are written with GCC / Clang vector types: one SIMD
// register of lanes at a time (8 floats with AVX, 16 with AVX-512, 4 otherwise), every lane computing
// the same formula; the tail of an array goes through the same code in a zero-padded register, so every
// element is computed identically whatever its position.
//
// exp and log also come in double lanes (after Cephes' double routines, about 1 ulp): D3PM's bound is
// computed in float64, and its softmaxes and logs over 256 states per subpixel are most of an
// evaluation. The other double overloads call the standard library: float64 is there for gradient
// checks, where accuracy matters and speed does not.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace diffuse::vec {

#if defined(__AVX512F__)
constexpr int kLanes = 16;
#elif defined(__AVX__)
constexpr int kLanes = 8;
#else
constexpr int kLanes = 4;
#endif
using floatv = float __attribute__((vector_size(4 * kLanes)));
using intv = int32_t __attribute__((vector_size(4 * kLanes)));
constexpr int kDoubleLanes = kLanes / 2;  // the same register width
using doublev = double __attribute__((vector_size(8 * kDoubleLanes)));
using longv = int64_t __attribute__((vector_size(8 * kDoubleLanes)));

inline floatv broadcast(float v) { return floatv{} + v; }
inline floatv load(const float* p) {  // p needs no alignment
  floatv v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, floatv v) { std::memcpy(p, &v, sizeof v); }

// The sum of the lanes, added pairwise (a tree of depth log2(kLanes)).
inline float hsum(floatv v) {
  float a[kLanes];
  std::memcpy(a, &v, sizeof v);
  for (int width = kLanes / 2; width > 0; width /= 2)
    for (int i = 0; i < width; ++i) a[i] += a[i + width];
  return a[0];
}

// exp(x) lane by lane, after Cephes' expf: x = n ln2 + r with n = round(x / ln2) and |r| <= ln2 / 2, so
// exp(x) = 2^n exp(r); exp(r) is a degree-7 polynomial (Cephes' coefficients) and 2^n is written
// directly into the exponent bits. Relative error about 1 ulp (8.3e-8 measured) on [-87.3, 88.3];
// exactly 0 below -87.3 (so a -inf mask gives 0), +inf above 88.3 (the true value is then within a
// factor 1.6 of FLT_MAX), NaN for NaN.
inline floatv exp(floatv x) {
  const floatv lo = broadcast(-87.33654f), hi = broadcast(88.3f);
  const floatv xc = x >= lo ? (x <= hi ? x : hi) : lo;  // clamped; a NaN lane becomes lo here
  const floatv n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round(x / ln2): 1.5 * 2^23 trick
  const floatv r = (xc - n * 0.693359375f) - n * -2.12194440e-4f;  // ln2 in two parts, n * the first is exact
  floatv p = broadcast(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const intv e = __builtin_convertvector(n, intv);  // in [-126, 127]: 2^n is a normal float
  floatv y = p * (floatv)((e + 127) << 23);
  y = x < lo ? broadcast(0.0f) : y;
  y = x > hi ? broadcast(std::numeric_limits<float>::infinity()) : y;
  return x == x ? y : x;
}

inline floatv sigmoid(floatv x) { return 1.0f / (1.0f + exp(-x)); }

// log(x) lane by lane, after Cephes' logf: x = m 2^e with m in [sqrt(1/2), sqrt 2) read from the bits
// (subnormals scaled by 2^23 first), log(m) = f - f^2/2 + f^3 P(f) with f = m - 1 (P: Cephes' degree-8
// polynomial), plus e ln2 in two parts. Relative error about 1 ulp (checked against std::log from
// subnormals to FLT_MAX in test_elementwise); log(0) = -inf, log(+inf) = +inf, NaN below 0 and for NaN.
inline floatv log(floatv x) {
  const intv subnormal = x < std::numeric_limits<float>::min();
  const intv bits = (intv)(subnormal ? x * 8388608.0f : x);  // 2^23
  const intv e = ((bits >> 23) & 0xff) - 126 - (subnormal & 23);
  const floatv m = (floatv)((bits & 0x807fffff) | 0x3f000000);  // in [1/2, 1)
  const intv low = m < 0.707106781186547524f;
  const floatv ef = __builtin_convertvector(e, floatv) - (low ? broadcast(1.0f) : broadcast(0.0f));
  const floatv f = low ? m + m - 1.0f : m - 1.0f;
  const floatv z = f * f;
  floatv p = broadcast(7.0376836292e-2f);
  p = p * f - 1.1514610310e-1f;
  p = p * f + 1.1676998740e-1f;
  p = p * f - 1.2420140846e-1f;
  p = p * f + 1.4249322787e-1f;
  p = p * f - 1.6668057665e-1f;
  p = p * f + 2.0000714765e-1f;
  p = p * f - 2.4999993993e-1f;
  p = p * f + 3.3333331174e-1f;
  floatv y = p * f * z + ef * -2.12194440e-4f - 0.5f * z;
  y = (f + y) + ef * 0.693359375f;
  y = x == 0.0f ? broadcast(-std::numeric_limits<float>::infinity()) : y;
  y = x < 0.0f ? broadcast(std::numeric_limits<float>::quiet_NaN()) : y;
  y = x == std::numeric_limits<float>::infinity() ? x : y;
  return x == x ? y : x;
}

// softplus(x) = log(1 + e^x) = max(x, 0) + log1p(e^-|x|), with log1p(u) = log(w) u / (w - 1), w = 1 + u
// (Goldberg's correction: exact to rounding even where 1 + u loses digits of u), and u itself where
// w rounds to 1.
inline floatv softplus_tail(floatv x) {  // log1p(e^-|x|): softplus(x) and softplus(-x) both end in it
  const floatv u = exp(x >= 0.0f ? -x : x), w = 1.0f + u;
  return w == 1.0f ? u : log(w) * u / (w - 1.0f);
}
inline floatv softplus(floatv x) { return (x > 0.0f ? x : broadcast(0.0f)) + softplus_tail(x); }

// erf(x) lane by lane, Abramowitz & Stegun 7.1.26: erf(|x|) = 1 - t (a1 + t (a2 + t (a3 + t (a4 + t a5))))
// exp(-x^2) with t = 1 / (1 + p |x|), and erf(-x) = -erf(x). Absolute error below 1.5e-7 (about two
// float ulps of 1); exactly +-1 beyond |x| = 9.3, where exp(-x^2) is 0.
inline floatv erf(floatv x) {
  const floatv a = x >= 0.0f ? x : -x;
  const floatv t = 1.0f / (1.0f + 0.3275911f * a);
  floatv q = broadcast(1.061405429f);
  q = q * t - 1.453152027f;
  q = q * t + 1.421413741f;
  q = q * t - 0.284496736f;
  q = q * t + 0.254829592f;
  const floatv y = 1.0f - q * t * exp(-(a * a));
  return x >= 0.0f ? y : -y;
}

// ---- double lanes: D3PM's bound is computed in float64 -------------------------------------------

inline doublev broadcast_double(double v) { return doublev{} + v; }

// exp(x) lane by lane, after Cephes' exp: x = n ln2 + r, |r| <= ln2 / 2, exp(r) = 1 + 2 r P(r^2) /
// (Q(r^2) - r P(r^2)) (Cephes' Pade coefficients), times 2^n written into the exponent bits. Relative
// error about 1 ulp (checked against std::exp in test_elementwise) on [-708.39, 709.78]; 0 below
// (where the true value is subnormal, under 2.3e-308), +inf above, NaN for NaN.
inline doublev exp(doublev x) {
  const doublev lo = broadcast_double(-708.3964185322641), hi = broadcast_double(709.782712893384);
  const doublev xc = x >= lo ? (x <= hi ? x : hi) : lo;
  const doublev n = (xc * 1.4426950408889634 + 6755399441055744.0) - 6755399441055744.0;  // round: 1.5 * 2^52
  const doublev r = (xc - n * 6.93145751953125e-1) - n * 1.42860682030941723212e-6;
  const doublev rr = r * r;
  const doublev px = r * ((1.26177193074810590878e-4 * rr + 3.02994407707441961300e-2) * rr +
                          9.99999999999999999910e-1);
  const doublev qx = ((3.00198505138664455042e-6 * rr + 2.52448340349684104192e-3) * rr +
                      2.27265548208155028766e-1) * rr + 2.00000000000000000009e0;
  const doublev e = 1.0 + 2.0 * (px / (qx - px));
  // 2^n as two factors, so that n = 1024 (x near the top of the range) stays representable
  const longv ni = __builtin_convertvector(n, longv), half = ni >> 1;
  doublev y = e * (doublev)((half + 1023) << 52) * (doublev)((ni - half + 1023) << 52);
  y = x < lo ? broadcast_double(0.0) : y;
  y = x > hi ? broadcast_double(std::numeric_limits<double>::infinity()) : y;
  return x == x ? y : x;
}

// log(x) lane by lane, after Cephes' log: x = m 2^e, f = m - 1 with m in [sqrt(1/2), sqrt 2),
// log(m) = f - f^2/2 + f^3 P(f) / Q(f) (Cephes' rational coefficients), plus e ln2 in two parts.
// Relative error about 1 ulp for normal x (checked against std::log); subnormals are scaled by 2^52
// first; log(0) = -inf, log(+inf) = +inf, NaN below 0 and for NaN.
inline doublev log(doublev x) {
  const longv subnormal = x < std::numeric_limits<double>::min();
  const longv bits = (longv)(subnormal ? x * 4503599627370496.0 : x);  // 2^52
  const longv e = ((bits >> 52) & 0x7ff) - 1022 - (subnormal & 52);
  const doublev m = (doublev)((bits & 0x800fffffffffffffLL) | 0x3fe0000000000000LL);  // in [1/2, 1)
  const longv low = m < 0.70710678118654752440;
  const doublev ef = __builtin_convertvector(e, doublev) - (low ? broadcast_double(1.0) : broadcast_double(0.0));
  const doublev f = low ? m + m - 1.0 : m - 1.0;
  const doublev z = f * f;
  const doublev p = ((((1.01875663804580931796e-4 * f + 4.97494994976747001425e-1) * f + 4.70579119878881725854e0) * f +
                      1.44989225341610930846e1) * f + 1.79368678507819816313e1) * f + 7.70838733755885391666e0;
  const doublev q = ((((f + 1.12873587189167450590e1) * f + 4.52279145837532221105e1) * f + 8.29875266912776603211e1) * f +
                     7.11544750618563894466e1) * f + 2.31251620126765340583e1;
  doublev y = f * (z * p / q) + ef * -2.121944400546905827679e-4 - 0.5 * z;
  y = (f + y) + ef * 0.693359375;
  y = x == 0.0 ? broadcast_double(-std::numeric_limits<double>::infinity()) : y;
  y = x < 0.0 ? broadcast_double(std::numeric_limits<double>::quiet_NaN()) : y;
  y = x == std::numeric_limits<double>::infinity() ? x : y;
  return x == x ? y : x;
}

// ---- reductions over a row ------------------------------------------------------------------------

template <class T> struct Lanes;
template <> struct Lanes<float> {
  using type = floatv;
  static constexpr int count = kLanes;
};
template <> struct Lanes<double> {
  using type = doublev;
  static constexpr int count = kDoubleLanes;
};

// The largest and the sum of p[0..n), four registers at a time (four independent chains, where a plain
// loop is one chain of dependent max or add instructions: the compiler may not reorder float
// arithmetic), then across the lanes; the tail is folded in one element at a time. A NaN gives NaN in
// the sum and may be skipped by the max (as std::max skips it).
template <class T>
T max_of(const T* p, int64_t n) {
  using V = typename Lanes<T>::type;
  constexpr int L = Lanes<T>::count;
  constexpr T lowest = -std::numeric_limits<T>::infinity();
  V acc[4] = {V{} + lowest, V{} + lowest, V{} + lowest, V{} + lowest};
  int64_t i = 0;
  for (; i + 4 * L <= n; i += 4 * L)
    for (int j = 0; j < 4; ++j) {
      V v;
      std::memcpy(&v, p + i + j * L, sizeof v);
      acc[j] = acc[j] < v ? v : acc[j];
    }
  T m = lowest;
  for (int j = 0; j < 4; ++j)
    for (int k = 0; k < L; ++k) m = std::max(m, acc[j][k]);
  for (; i < n; ++i) m = std::max(m, p[i]);
  return m;
}
template <class T>
T sum_of(const T* p, int64_t n) {
  using V = typename Lanes<T>::type;
  constexpr int L = Lanes<T>::count;
  V acc[4] = {};
  int64_t i = 0;
  for (; i + 4 * L <= n; i += 4 * L)
    for (int j = 0; j < 4; ++j) {
      V v;
      std::memcpy(&v, p + i + j * L, sizeof v);
      acc[j] += v;
    }
  const V total = (acc[0] + acc[1]) + (acc[2] + acc[3]);
  T s = 0;
  for (int k = 0; k < L; ++k) s += total[k];
  for (; i < n; ++i) s += p[i];
  return s;
}

// p[i] = f(p[i]) for i < n, a register at a time; the tail is padded with zeros.
template <class F>
void apply_lanes(float* p, int64_t n, F f) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) store(p + i, f(load(p + i)));
  if (i < n) {
    floatv v{};
    std::memcpy(&v, p + i, (n - i) * sizeof(float));
    v = f(v);
    std::memcpy(p + i, &v, (n - i) * sizeof(float));
  }
}
template <class F>
void apply_lanes(double* p, int64_t n, F f) {
  int64_t i = 0;
  doublev v;
  for (; i + kDoubleLanes <= n; i += kDoubleLanes) {
    std::memcpy(&v, p + i, sizeof v);
    v = f(v);
    std::memcpy(p + i, &v, sizeof v);
  }
  if (i < n) {
    v = doublev{};
    std::memcpy(&v, p + i, (n - i) * sizeof(double));
    v = f(v);
    std::memcpy(p + i, &v, (n - i) * sizeof(double));
  }
}

inline void log_inplace(float* p, int64_t n) { apply_lanes(p, n, [](floatv v) { return log(v); }); }
inline void log_inplace(double* p, int64_t n) { apply_lanes(p, n, [](doublev v) { return log(v); }); }

// In place: p[i] = exp(p[i]), p[i] = sigmoid(p[i]) = 1 / (1 + exp(-p[i])), p[i] = silu(p[i]) = p[i] sigmoid(p[i]).
inline void exp_inplace(float* p, int64_t n) { apply_lanes(p, n, [](floatv v) { return exp(v); }); }

// p[i] = exp(p[i] - m) for i < n, returning the sum of the results: a softmax's numerator and denominator in one
// pass (m >= every p[i]; the tail is padded with -inf, whose exp is exactly 0).
inline float exp_shifted_sum(float* p, int64_t n, float m) {
  const floatv mv = broadcast(m);
  floatv acc{};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const floatv e = exp(load(p + i) - mv);
    store(p + i, e);
    acc += e;
  }
  if (i < n) {
    floatv v = broadcast(-std::numeric_limits<float>::infinity());
    std::memcpy(&v, p + i, (n - i) * sizeof(float));
    const floatv e = exp(v - mv);
    std::memcpy(p + i, &e, (n - i) * sizeof(float));
    acc += e;
  }
  return hsum(acc);
}
inline double exp_shifted_sum(double* p, int64_t n, double m) {
  for (int64_t i = 0; i < n; ++i) p[i] -= m;
  apply_lanes(p, n, [](doublev v) { return exp(v); });
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += p[i];
  return sum;
}
inline void exp_inplace(double* p, int64_t n) { apply_lanes(p, n, [](doublev v) { return exp(v); }); }

// The sum of exp(p[i] - m) over i < n, p unchanged (m >= every p[i]): a log-sum-exp's sum. The lanes add in
// float (each about n / kLanes terms, all in (0, 1]), their total in double.
inline double exp_shifted_total(const float* p, int64_t n, float m) {
  const floatv mv = broadcast(m);
  floatv acc{};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) acc += exp(load(p + i) - mv);
  if (i < n) {
    floatv v = broadcast(-std::numeric_limits<float>::infinity());
    std::memcpy(&v, p + i, (n - i) * sizeof(float));
    acc += exp(v - mv);
  }
  float a[kLanes];
  std::memcpy(a, &acc, sizeof acc);
  double total = 0;
  for (float x : a) total += x;
  return total;
}
inline double exp_shifted_total(const double* p, int64_t n, double m) {
  double total = 0;
  for (int64_t i = 0; i < n; ++i) total += std::exp(p[i] - m);
  return total;
}

// out[i] = scale * exp(in[i] - m) for i < n: a softmax row from its log-sum-exp m, scaled.
inline void scaled_exp_shifted(const float* in, float* out, int64_t n, float m, float scale) {
  const floatv mv = broadcast(m), sv = broadcast(scale);
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) store(out + i, sv * exp(load(in + i) - mv));
  for (; i < n; ++i) out[i] = scale * std::exp(in[i] - m);
}
inline void scaled_exp_shifted(const double* in, double* out, int64_t n, double m, double scale) {
  for (int64_t i = 0; i < n; ++i) out[i] = scale * std::exp(in[i] - m);
}
inline void sigmoid_inplace(float* p, int64_t n) { apply_lanes(p, n, [](floatv v) { return sigmoid(v); }); }
inline void sigmoid_inplace(double* p, int64_t n) {
  for (int64_t i = 0; i < n; ++i) p[i] = 1.0 / (1.0 + std::exp(-p[i]));
}

inline void silu_inplace(float* p, int64_t n) { apply_lanes(p, n, [](floatv v) { return v * sigmoid(v); }); }
inline void silu_inplace(double* p, int64_t n) {
  for (int64_t i = 0; i < n; ++i) p[i] = p[i] / (1.0 + std::exp(-p[i]));
}

// In place, the GELU (erf form) and its derivative:
//   y = x Phi(x) = 0.5 x (1 + erf(x / sqrt 2)),  dy/dx = Phi(x) + x phi(x), phi(x) = exp(-x^2 / 2) / sqrt(2 pi).
inline void gelu_inplace(float* p, int64_t n) {
  apply_lanes(p, n, [](floatv v) { return 0.5f * v * (1.0f + erf(v * 0.70710678118654752f)); });
}
inline void gelu_derivative_inplace(float* p, int64_t n) {
  apply_lanes(p, n, [](floatv v) {
    return 0.5f * (1.0f + erf(v * 0.70710678118654752f)) + v * 0.39894228040143268f * exp(-0.5f * v * v);
  });
}

}  // namespace diffuse::vec
