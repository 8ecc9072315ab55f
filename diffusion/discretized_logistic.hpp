// The truncated discretized logistic of D3PM's image model (Austin et al. 2021, §3.3 and Appendix A.8;
// docs/math.md §3.12): the network gives a location mu and a log-scale per subpixel, and ptilde(x0 = k | x_t)
// is the mass of a logistic(mu, s) on bin k of K bins centred on c_k = -1 + 2k/(K-1) with width 2/(K-1),
// renormalised over the K bins (no open edge bins), with s = exp(log_scale - 2), the reference code's scale.
//
// The mass of bin k, with a_k = (c_k - 1/(K-1) - mu)/s and b_k = (c_k + 1/(K-1) - mu)/s (so b_k - a_k =
// 2/((K-1)s) for every k), is sigma(b_k) - sigma(a_k) = sigma(b_k) sigma(-a_k) (1 - e^{-(b_k - a_k)}), hence
//   log mass_k = -softplus(-b_k) - softplus(a_k) + log(1 - e^{-2/((K-1)s)}),
// a form with no cancellation however far mu lies outside [-1, 1] or however small s is. The last term is
// the same for every k and cancels in the renormalisation, so the op returns
//   logits_k = -softplus(-b_k) - softplus(a_k)
// and log ptilde = log_softmax(logits) (which D3pm::x0_log_probs applies).
#pragma once
#include <cstdint>

#include "tensor/tensor.hpp"

namespace diffuse::diffusion {

// loc, log_scale [...] (the same shape, float32 or float64) -> logits [..., K]. Differentiable in both:
//   d logits_k / d mu        = (sigma(a_k) - sigma(-b_k)) / s
//   d logits_k / d log_scale = a_k sigma(a_k) - b_k sigma(-b_k)
// Austin et al. Appendix A.8 (given there as code, without an equation number).
Tensor truncated_logistic_logits(const Tensor& loc, const Tensor& log_scale, int64_t num_bins);

}  // namespace diffuse::diffusion
