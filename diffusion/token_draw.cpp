#include "diffusion/token_draw.hpp"

#include <algorithm>
#include <cmath>

#include "tensor/vec_math.hpp"

namespace diffuse::diffusion {

namespace {
// scratch[j] = exp((logits[j] - m) * a), m the row's largest; returns Z, their sum (in double). A token's
// log-probability is then (logits[j] - m) * a - log Z.
double exponentiate(const float* logits, int64_t K, float m, float a, std::vector<float>& scratch) {
  scratch.resize(static_cast<size_t>(K));
  float* s = scratch.data();
  for (int64_t j = 0; j < K; ++j) s[j] = (logits[j] - m) * a;
  vec::exp_inplace(s, K);
  double z = 0;
  for (int64_t j = 0; j < K; ++j) z += s[j];
  return z;
}
}  // namespace

TokenDraw draw_token(const float* logits, int64_t K, double u, std::vector<float>& scratch, double temperature) {
  const float m = vec::max_of(logits, K), a = static_cast<float>(1.0 / temperature);
  const double z = exponentiate(logits, K, m, a, scratch), target = u * z;
  double c = 0;
  int64_t j = 0;
  for (; j + 1 < K; ++j) {
    c += scratch[static_cast<size_t>(j)];
    if (target < c) break;
  }
  return {static_cast<int32_t>(j), static_cast<double>((logits[j] - m) * a) - std::log(z)};
}

TokenDraw most_probable_token(const float* logits, int64_t K, std::vector<float>& scratch) {
  const int64_t j = std::max_element(logits, logits + K) - logits;
  const float m = logits[j];
  return {static_cast<int32_t>(j), -std::log(exponentiate(logits, K, m, 1.0f, scratch))};
}

Tensor argmax_last(const Tensor& scores) {
  const Tensor x = scores.contiguous();
  const int64_t K = x.shape().back(), rows = K > 0 ? x.numel() / K : 0;
  Tensor out = Tensor::empty(Shape(x.shape().begin(), x.shape().end() - 1), DType::I32);
  int32_t* ids = out.data<int32_t>();
  dispatch_float(x.dtype(), "argmax_last", [&]<class T>() {
    const T* v = x.data<T>();
    for (int64_t r = 0; r < rows; ++r) ids[r] = static_cast<int32_t>(std::max_element(v + r * K, v + (r + 1) * K) - (v + r * K));
  });
  return out;
}

}  // namespace diffuse::diffusion
