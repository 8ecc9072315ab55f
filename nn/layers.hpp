// The basic layers. Each states its parameter shapes (PyTorch layouts) and its initialisation.
#pragma once
#include "nn/module.hpp"
#include "tensor/random.hpp"

namespace diffuse::nn {

enum class Init {
  VarianceScaling,  // the DDPM reference: fan-avg uniform, scale 1 (weights); zero biases
  Zero,             // weights and biases zero (last conv of a residual block, attention output, final conv)
  Normal002,        // N(0, 0.02^2) weights, zero biases (the transformer)
};

// y = x W^T + b. weight [out, in], bias [out].
class Linear : public Module {
 public:
  Linear(int64_t in, int64_t out, Init init, Philox& rng, bool bias = true);
  Tensor forward(const Tensor& x) const;
  Tensor weight, bias;
};

// 2-D convolution on oneDNN. weight [out, in, k, k] (init as stated by `init`), bias [out] = 0.
class Conv2d : public Module {
 public:
  Conv2d(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding, Init init, Philox& rng);
  Tensor forward(const Tensor& x) const;
  Tensor forward(const Tensor& x, const Tensor& add) const;  // forward(x) + add, fused where it can be (conv2d_add)
  Tensor weight, bias;
  int64_t stride, padding;
};

// The normalisations' eps, one value each wherever the networks use them (and what a checkpoint's
// "architecture" metadata records): every GroupNorm of the U-Net (the DDPM reference's
// tf.contrib.layers.group_norm default), every LayerNorm of the transformer (PyTorch's default).
inline constexpr double kGroupNormEps = 1e-6;
inline constexpr double kLayerNormEps = 1e-5;

// Group norm over [N, C, ...]. weight [C] = 1, bias [C] = 0. forward_silu fuses the SiLU that
// follows every GroupNorm in the U-Net.
class GroupNorm : public Module {
 public:
  GroupNorm(int64_t groups, int64_t channels, double eps);
  Tensor forward(const Tensor& x) const;
  Tensor forward_silu(const Tensor& x) const;  // silu(forward(x)) in one pass
  Tensor weight, bias;
  int64_t groups;
  double eps;
};

// Layer norm over the last axis. weight [C] = 1, bias [C] = 0.
class LayerNorm : public Module {
 public:
  explicit LayerNorm(int64_t channels, double eps = kLayerNormEps);
  Tensor forward(const Tensor& x) const;
  Tensor weight, bias;
  double eps;
};

// Lookup table. weight [V, D], initialised N(0, std^2).
class Embedding : public Module {
 public:
  Embedding(int64_t vocab, int64_t dim, double std, Philox& rng);
  Tensor forward(const Tensor& ids) const;
  Tensor weight;
};

// Zeroes activations with probability p in training mode; the identity in eval mode.
class Dropout : public Module {
 public:
  explicit Dropout(double p) : p(p) {}
  Tensor forward(const Tensor& x, Philox& rng) const;
  double p;
};

// The DDPM sinusoidal timestep embedding (reference code `get_timestep_embedding`): for 0-based steps
// step [B] (int32, paper t - 1; or float32, a continuous time on the same scale) and an even dim, half = dim / 2,
// freq_i = exp(-ln(kTimestepMaxPeriod) i / (half - 1)), emb = [sin(step freq), cos(step freq)] -> [B, dim], float32.
inline constexpr double kTimestepMaxPeriod = 10000.0;
Tensor timestep_embedding(const Tensor& step, int64_t dim);

}  // namespace diffuse::nn
