#include "nn/layers.hpp"

#include <cmath>

#include "nn/init.hpp"
#include "tensor/conv2d.hpp"
#include "tensor/group_norm.hpp"
#include "tensor/ops.hpp"

namespace diffuse::nn {

namespace {
Tensor init_weight(const Shape& shape, Init init, Philox& rng) {
  switch (init) {
    case Init::VarianceScaling: return variance_scaling_uniform(shape, 1.0, rng);
    case Init::Zero: return Tensor::zeros(shape);
    case Init::Normal002: return normal_init(shape, 0.02, rng);
  }
  return Tensor();
}
}  // namespace

Linear::Linear(int64_t in, int64_t out, Init init, Philox& rng, bool has_bias) {
  weight = register_parameter("weight", init_weight({out, in}, init, rng));
  if (has_bias) bias = register_parameter("bias", Tensor::zeros({out}));
}

Tensor Linear::forward(const Tensor& x) const { return linear(x, weight, bias); }

Conv2d::Conv2d(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding, Init init, Philox& rng)
    : stride(stride), padding(padding) {
  weight = register_parameter("weight", init_weight({out, in, kernel, kernel}, init, rng));
  bias = register_parameter("bias", Tensor::zeros({out}));
}

Tensor Conv2d::forward(const Tensor& x) const { return conv2d(x, weight, bias, stride, padding); }
Tensor Conv2d::forward(const Tensor& x, const Tensor& add) const {
  return conv2d_add(x, weight, bias, stride, padding, add);
}

GroupNorm::GroupNorm(int64_t groups, int64_t channels, double eps) : groups(groups), eps(eps) {
  weight = register_parameter("weight", Tensor::ones({channels}));
  bias = register_parameter("bias", Tensor::zeros({channels}));
}

Tensor GroupNorm::forward(const Tensor& x) const { return group_norm(x, groups, weight, bias, eps); }
Tensor GroupNorm::forward_silu(const Tensor& x) const { return group_norm_silu(x, groups, weight, bias, eps); }

LayerNorm::LayerNorm(int64_t channels, double eps) : eps(eps) {
  weight = register_parameter("weight", Tensor::ones({channels}));
  bias = register_parameter("bias", Tensor::zeros({channels}));
}

Tensor LayerNorm::forward(const Tensor& x) const { return layer_norm(x, weight, bias, eps); }

Embedding::Embedding(int64_t vocab, int64_t dim, double std, Philox& rng) {
  weight = register_parameter("weight", normal_init({vocab, dim}, std, rng));
}

Tensor Embedding::forward(const Tensor& ids) const { return embedding(weight, ids); }

Tensor Dropout::forward(const Tensor& x, Philox& rng) const { return dropout(x, p, is_training(), rng); }

Tensor timestep_embedding(const Tensor& step, int64_t dim) {
  if ((step.dtype() != DType::I32 && step.dtype() != DType::F32) || step.dim() != 1 || dim < 4 || dim % 2 != 0)
    shape_error("timestep_embedding", "needs int32 or float32 steps [B] and an even dim >= 4; got " + describe(step) +
                                          " and dim " + std::to_string(dim));
  const int64_t B = step.shape()[0], half = dim / 2;
  Tensor emb = Tensor::empty({B, dim});
  const Tensor steps = step.contiguous();
  for (int64_t b = 0; b < B; ++b) {
    const double step_b = steps.dtype() == DType::I32 ? steps.data<int32_t>()[b] : steps.data<float>()[b];
    for (int64_t i = 0; i < half; ++i) {
      const double freq = std::exp(-std::log(kTimestepMaxPeriod) * static_cast<double>(i) / static_cast<double>(half - 1));
      emb.data<float>()[b * dim + i] = static_cast<float>(std::sin(step_b * freq));
      emb.data<float>()[b * dim + half + i] = static_cast<float>(std::cos(step_b * freq));
    }
  }
  return emb;
}

}  // namespace diffuse::nn
