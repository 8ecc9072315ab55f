// The Gaussian pieces of the DDPM variational bound (docs/math.md §2.7; reference code
// `diffusion_utils_2.normal_kl` and `utils.discretized_gaussian_log_likelihood`), as differentiable
// tensor ops: gradients flow to every floating input that requires one.
#pragma once
#include "tensor/tensor.hpp"

namespace diffuse::diffusion {

// [B, ...] -> [B]: the mean over every axis but the first (the reference code's `meanflat`).
Tensor mean_flat(const Tensor& x);

// Elementwise KL(N(mean1, exp(logvar1)) || N(mean2, exp(logvar2))) in nats, in closed form:
//   0.5 (-1 + logvar2 - logvar1 + exp(logvar1 - logvar2) + (mean1 - mean2)^2 exp(-logvar2)).
// All four broadcast together. The KL of Ho et al. eq. 5's L_T and L_{t-1}.
Tensor normal_kl(const Tensor& mean1, const Tensor& logvar1, const Tensor& mean2, const Tensor& logvar2);

// The reference code's approximation of the standard normal CDF (the tanh form of GELU):
//   Phi(z) ~ 0.5 (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3))).
// We use it, not erf, so that the decoder term matches the paper's reported bits/dim.
Tensor approx_standard_normal_cdf(const Tensor& z);

// log p(x) for data x on the 256-level grid of [-1, 1] (x = k/127.5 - 1) under the discretized
// Gaussian decoder with means mu and log standard deviations log_scales (all the same shape):
//   p(x) = Phi((x + 1/255 - mu)/sigma) - Phi((x - 1/255 - mu)/sigma),
// the lowest bin (x < -0.999) open to -inf (Phi((x + 1/255 - mu)/sigma)) and the highest (x > 0.999)
// to +inf (1 - Phi((x - 1/255 - mu)/sigma)), each probability clamped below at 1e-12 before the log.
// Phi is approx_standard_normal_cdf. x is data: no gradient flows to it. Ho et al. eq. 13.
Tensor discretized_gaussian_log_likelihood(const Tensor& x, const Tensor& means, const Tensor& log_scales);

}  // namespace diffuse::diffusion
