// Vectorised exp, sigmoid and erf over float arrays, for the softmax of attention, the SiLU of
// group_norm_silu and the GELU of the transformer's MLP.
//
// Why not std::exp in a loop: glibc's expf becomes SIMD code only under -ffast-math, which this project
// does not use. Why not a polynomial in a plain loop: with the range clamps the compiler turns the
// clamped cases into branches (their results are constants) and then, as float operations may trap,
// refuses to vectorise. So the float kernels are written with GCC / Clang vector types: one SIMD
// register of lanes at a time (8 floats with AVX, 16 with AVX-512, 4 otherwise), every lane computing
// the same formula; the tail of an array goes through the same code in a zero-padded register, so every
// element is computed identically whatever its position.
//
// The double overloads call std::exp: float64 exists for gradient checks, where accuracy matters and
// speed does not.
#pragma once
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

// In place: p[i] = exp(p[i]), p[i] = sigmoid(p[i]) = 1 / (1 + exp(-p[i])), p[i] = silu(p[i]) = p[i] sigmoid(p[i]).
inline void exp_inplace(float* p, int64_t n) { apply_lanes(p, n, [](floatv v) { return exp(v); }); }
inline void exp_inplace(double* p, int64_t n) {
  for (int64_t i = 0; i < n; ++i) p[i] = std::exp(p[i]);
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
