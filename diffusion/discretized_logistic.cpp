#include "diffusion/discretized_logistic.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <stdexcept>

#include "tensor/autograd.hpp"
#include "tensor/vec_math.hpp"

namespace diffuse::diffusion {

namespace {
template <class T> T softplus(T x) { return std::max(x, T(0)) + std::log1p(std::exp(-std::abs(x))); }
template <class T> T sigmoid(T x) { return x >= 0 ? T(1) / (T(1) + std::exp(-x)) : std::exp(x) / (T(1) + std::exp(x)); }

// The bin edges of element i in units of its scale: a_k, b_k for bin k (see the header).
template <class T>
struct Bins {
  T inv_scale, lo0, step, half;  // a_k = inv_scale (c_k - half - mu): lo0 = -1 - half - mu, c_k = -1 + k step
  Bins(T mu, T log_scale, int64_t K)
      : inv_scale(std::exp(T(2) - log_scale)), lo0(T(-1) - T(1) / T(K - 1) - mu), step(T(2) / T(K - 1)),
        half(T(1) / T(K - 1)) {}
  T a(int64_t k) const { return inv_scale * (lo0 + T(k) * step); }
  T b(int64_t k) const { return inv_scale * (lo0 + T(k) * step + 2 * half); }
};
// out[k] = -softplus(-b_k) - softplus(a_k) for k < K, a SIMD register of bins at a time (vec_math's
// softplus); the last register is cut to the bins that exist.
void logits_in_lanes(const Bins<float>& bins, float* out, int64_t K) {
  vec::floatv lane{};
  for (int j = 0; j < vec::kLanes; ++j) lane[j] = static_cast<float>(j);
  for (int64_t k = 0; k < K; k += vec::kLanes) {
    const vec::floatv pos = bins.lo0 + (lane + static_cast<float>(k)) * bins.step;
    const vec::floatv a = bins.inv_scale * pos, b = bins.inv_scale * (pos + 2 * bins.half);
    const vec::floatv y = -vec::softplus(-b) - vec::softplus(a);
    std::memcpy(out + k, &y, static_cast<size_t>(std::min<int64_t>(vec::kLanes, K - k)) * sizeof(float));
  }
}
}  // namespace

// loc, log_scale [n...] -> logits [n..., K]; forward and backward side by side.
Tensor truncated_logistic_logits(const Tensor& loc, const Tensor& log_scale, int64_t K) {
  if (K < 2) throw std::invalid_argument("truncated_logistic_logits: need at least 2 bins");
  if (loc.shape() != log_scale.shape() || loc.dtype() != log_scale.dtype())
    throw std::invalid_argument("truncated_logistic_logits: loc " + describe(loc) + " and log_scale " + describe(log_scale) +
                                " must have the same shape and dtype");
  const Tensor mu = loc.contiguous().detach(), ls = log_scale.contiguous().detach();
  Shape out_shape = loc.shape();
  out_shape.push_back(K);
  const int64_t n = loc.numel();
  Tensor out = Tensor::empty(out_shape, loc.dtype());
  dispatch_float(loc.dtype(), "truncated_logistic_logits", [&]<class T>() {
    const T* m = mu.data<T>();
    const T* s = ls.data<T>();
    T* o = out.data<T>();
#pragma omp parallel for
    for (int64_t i = 0; i < n; ++i) {
      const Bins<T> bins(m[i], s[i], K);
      if constexpr (std::is_same_v<T, float>) {
        logits_in_lanes(bins, o + i * K, K);
      } else {
        for (int64_t k = 0; k < K; ++k) o[i * K + k] = -softplus(-bins.b(k)) - softplus(bins.a(k));
      }
    }
  });
  return record("truncated_logistic_logits", out, {loc, log_scale}, [loc, log_scale, mu, ls, K, n](const Tensor& g) {
    const Tensor gc = g.contiguous();
    Tensor d_mu = Tensor::empty(mu.shape(), mu.dtype()), d_ls = Tensor::empty(ls.shape(), ls.dtype());
    dispatch_float(mu.dtype(), "truncated_logistic_logits backward", [&]<class T>() {
      const T* m = mu.data<T>();
      const T* s = ls.data<T>();
      const T* gv = gc.data<T>();
      T* dm = d_mu.data<T>();
      T* dl = d_ls.data<T>();
#pragma omp parallel for
      for (int64_t i = 0; i < n; ++i) {
        const Bins<T> bins(m[i], s[i], K);
        T sum_mu = 0, sum_ls = 0;
        for (int64_t k = 0; k < K; ++k) {
          const T a = bins.a(k), b = bins.b(k), sa = sigmoid(a), snb = sigmoid(-b), gk = gv[i * K + k];
          sum_mu += gk * (sa - snb);
          sum_ls += gk * (a * sa - b * snb);
        }
        dm[i] = sum_mu * bins.inv_scale;
        dl[i] = sum_ls;
      }
    });
    accumulate_grad(loc, d_mu);
    accumulate_grad(log_scale, d_ls);
  });
}

}  // namespace diffuse::diffusion
