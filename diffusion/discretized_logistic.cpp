#include "diffusion/discretized_logistic.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "tensor/autograd.hpp"
#include "tensor/vec_math.hpp"

namespace diffuse::diffusion {

namespace {
template <class T> T softplus(T x) { return std::max(x, T(0)) + std::log1p(std::exp(-std::abs(x))); }
template <class T> T sigmoid(T x) { return x >= 0 ? T(1) / (T(1) + std::exp(-x)) : std::exp(x) / (T(1) + std::exp(x)); }

// The bin edges of element i in units of its scale: bin k spans [e_k, e_{k+1}], e_j = inv_scale (lo0 + j step)
// (a_k = e_k, b_k = e_{k+1} in the header; lo0 = -1 - 1/(K - 1) - mu, the lowest edge before scaling).
template <class T>
struct Bins {
  T inv_scale, lo0, step;
  Bins(T mu, T log_scale, int64_t K)
      : inv_scale(std::exp(T(2) - log_scale)), lo0(T(-1) - T(1) / T(K - 1) - mu), step(T(2) / T(K - 1)) {}
  T a(int64_t k) const { return inv_scale * (lo0 + T(k) * step); }
  T b(int64_t k) const { return a(k + 1); }
};
// out[k] = -softplus(-e_{k+1}) - softplus(e_k) for k < K, a SIMD register at a time. softplus(x) = max(x, 0)
// + r(x) and softplus(-x) = max(-x, 0) + r(x) with r(x) = log1p(e^-|x|) (vec_math's softplus_tail), so each
// edge's r serves the two bins that share it: K + 1 exps and logs per row instead of 2K, with no
// cancellation. tails: scratch for the K + 1 edges, rounded up to whole registers.
void logits_in_lanes(const Bins<float>& bins, float* out, int64_t K, std::vector<float>& tails) {
  const int64_t edges = K + 1, padded = (edges + vec::kLanes - 1) / vec::kLanes * vec::kLanes;
  tails.resize(static_cast<size_t>(padded + vec::kLanes));
  vec::floatv lane{};
  for (int j = 0; j < vec::kLanes; ++j) lane[j] = static_cast<float>(j);
  auto edge = [&](int64_t j) { return bins.inv_scale * (bins.lo0 + (lane + static_cast<float>(j)) * bins.step); };
  for (int64_t j = 0; j < padded; j += vec::kLanes) vec::store(tails.data() + j, vec::softplus_tail(edge(j)));
  for (int64_t k = 0; k < K; k += vec::kLanes) {
    const vec::floatv a = edge(k), b = edge(k + 1);
    const vec::floatv y = -(b < 0.0f ? -b : vec::broadcast(0.0f)) - (a > 0.0f ? a : vec::broadcast(0.0f)) -
                          vec::load(tails.data() + k + 1) - vec::load(tails.data() + k);
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
    T* logits = out.data<T>();
#pragma omp parallel
    {
      std::vector<float> tails;
#pragma omp for
      for (int64_t i = 0; i < n; ++i) {
        const Bins<T> bins(m[i], s[i], K);
        if constexpr (std::is_same_v<T, float>) {
          logits_in_lanes(bins, logits + i * K, K, tails);
        } else {
          for (int64_t k = 0; k < K; ++k) logits[i * K + k] = -softplus(-bins.b(k)) - softplus(bins.a(k));
        }
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
