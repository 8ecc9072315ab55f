// DDIM: denoising diffusion implicit models (Song, Meng, Ermon 2021, "Denoising Diffusion Implicit Models",
// arXiv 2010.02502; docs/math.md §8.1-§8.4). The eps-model of a DDPM (GaussianDiffusion) sampled in K <= T
// network evaluations along a sub-sequence tau of 1..T, from stochastic (eta = 1) to deterministic (eta = 0);
// the deterministic encoder x0 -> x_{tau_K}; interpolation between two images through it.
//
// One reverse step from tau_i down to tau_{i-1}, with a = abar_{tau_i} and a' = abar_{tau_{i-1}} (a' = abar_0 = 1
// after tau_1), all constants in double:
//
//   eps     = eps_theta(x, tau_i), or guidance(eps_theta(x, tau_i), x, tau_i) when a hook is given
//   x0_hat  = (x - sqrt(1 - a) eps) / sqrt(a)                                   Ho et al. eq. 15; Song et al. eq. 9
//   sigma   = eta sqrt((1 - a') / (1 - a)) sqrt(1 - a / a')                      Song et al. eq. 16
//   x'      = sqrt(a') x0_hat + sqrt(1 - a' - sigma^2) eps + sigma z,  z ~ N(0, I)   Song et al. eq. 12
//
// With clip_x0, x0_hat is clipped to [-1, 1] and eps is replaced by the noise that the clipped x0_hat implies,
// (x - sqrt(a) x0_hat) / sqrt(1 - a) (eq. 4 solved for eps; guided-diffusion's ddim_sample does the same), so
// that at eta = 1 the step is mu~_t(clip(x0_hat), x_t) exactly as the ancestral sampler's (docs/math.md §8.2).
//
// Shapes: x, x0 [B, C, H, W] (any [B, ...]); float32 in sampling, float64 in tests; every result has x's dtype.
// The model is asked at int32 [B] steps tau_i - 1 (0-based, beta_schedule.hpp). Everything runs under NoGradGuard.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "diffusion/ddpm_sampler.hpp"
#include "diffusion/gaussian_diffusion.hpp"
#include "tensor/random.hpp"

namespace diffuse::diffusion {

// Which K of the T steps DDIM visits (Song et al. §4.2 and Appendix D.2; the reference code's --skip_type).
enum class DdimSpacing {
  Uniform,    // tau_i = 1 + floor((i - 1) T / K), i = 1..K: the reference's range(0, T, T // K) when K divides T
  Quadratic,  // tau_i = 1 + floor(c (i - 1)^2), c = 0.8 T / (K - 1)^2: the reference's "quad" (the paper's CIFAR-10 choice)
};
DdimSpacing parse_ddim_spacing(const std::string& name);  // "uniform" | "quadratic"
const char* ddim_spacing_name(DdimSpacing spacing);

// The hook that lets guidance shift the predicted noise: given eps_theta(x_t, step), x_t and the int32 [B]
// 0-based step, it returns the eps every later line uses in its place (same shape and dtype). Classifier
// guidance for DDIM (Dhariwal & Nichol 2021, eq. 14 and Algorithm 2) is
//   eps - s sqrt(1 - abar_t) grad_{x_t} log p_phi(c | x_t),
// with s the guidance scale; the classifier is not part of this unit, only the hook. Empty: eps_theta as is.
using EpsGuidance = std::function<Tensor(const Tensor& eps, const Tensor& x_t, const Tensor& step)>;

// eps_theta(x, step), passed through the guidance hook when there is one. The one place both fast samplers
// (this file and dpm_solver.hpp) ask the network.
Tensor guided_eps(const EpsModel& model, const EpsGuidance& guidance, const Tensor& x, const Tensor& step);

struct DdimOptions {
  int64_t steps = 50;                         // K: network evaluations, 1..T
  DdimSpacing spacing = DdimSpacing::Uniform;
  double eta = 0.0;                           // 0: deterministic; 1: the ancestral step with beta~_t (eq. 16)
  bool clip_x0 = true;                        // clip x0_hat to [-1, 1], as the DDPM sampler's default (the
                                              // reference DDIM code does not clip; docs/math.md §8.2)
  EpsGuidance guidance;                       // optional: replaces eps_theta's output (see EpsGuidance)
};

// The sub-sequence tau_1 < ... < tau_K of 1..T, as the paper's t (the network is asked at tau_i - 1). Throws
// std::invalid_argument naming --steps unless 1 <= K <= T.
std::vector<int64_t> ddim_timesteps(int64_t timesteps, int64_t steps, DdimSpacing spacing);

// The coefficients of eq. 12 for a step from abar_t = a down to abar_prev = a' (a < a' <= 1), in double:
// x' = x0 * x0_hat + direction * eps + sigma * z, with sigma of eq. 16. Throws unless 0 <= eta <= 1.
struct DdimCoefficients {
  double x0;         // sqrt(a')
  double direction;  // sqrt(1 - a' - sigma^2), "the direction pointing to x_t"
  double sigma;      // eta sqrt((1 - a')/(1 - a)) sqrt(1 - a/a')
};
DdimCoefficients ddim_coefficients(double abar_t, double abar_prev, double eta);

// One reverse step's distribution N(mean, sigma^2 I) from x at the paper's t down to t_prev (0 = the data, where
// abar_0 = 1), and what it was built from.
struct DdimStep {
  Tensor mean;    // sqrt(a') x0_hat + sqrt(1 - a' - sigma^2) eps       [B, C, H, W]
  double sigma;   // eq. 16
  Tensor x0_hat;  // clipped when clip_x0
  Tensor eps;     // the eps the mean used (guided; re-derived from the clipped x0_hat when clip_x0)
};
DdimStep ddim_step(const EpsModel& model, const GaussianDiffusion& diffusion, const Tensor& x, int64_t t,
                   int64_t t_prev, double eta, bool clip_x0, const EpsGuidance& guidance = {});

// The generative process from x at t = tau_K down to x_0: for i = K..1 one ddim_step from tau_i to tau_{i-1}
// (tau_0 = 0), adding sigma z where sigma > 0 (one draw of z per such step, from the top down; none at eta = 0).
// on_step is called after each step with tau_i and that step's x0_hat. Returns x_0.
Tensor ddim_reverse(const EpsModel& model, const GaussianDiffusion& diffusion, const Tensor& x_tau_K,
                    const DdimOptions& options, Philox& rng, const StepCallback& on_step = {});

// A batch of samples of `shape`: x ~ N(0, I) in `dtype` taken as x_{tau_K} (the reference's start: with uniform
// spacing tau_K = T - T/K + 1, not T), then ddim_reverse. The draws: x, then the steps' z in order.
Tensor ddim_sample(const EpsModel& model, const GaussianDiffusion& diffusion, const Shape& shape,
                   const DdimOptions& options, Philox& rng, DType dtype = DType::F32,
                   const StepCallback& on_step = {});

// The deterministic encoder x0 -> x_{tau_K}: the eta = 0 process run forwards along tau (Song et al. §4.3 and
// §5.4, the Euler discretisation of eq. 14 in the encoding direction). Each step from tau_{i-1} to tau_i
// (tau_0 = 0, x_0 = x0) is eq. 12 at eta = 0 solved for the upper end,
//   x_{tau_i} = sqrt(abar_{tau_i}) x0_hat + sqrt(1 - abar_{tau_i}) eps,  x0_hat from x_{tau_{i-1}} and eps,
// with eps = eps_theta(x_{tau_{i-1}}, tau_i): the network is asked at the step being moved to with the point
// at hand, the one explicit choice, so the first step never asks it at t = 0 (docs/math.md §8.3). The encoder
// is deterministic and never clips (options.eta and options.clip_x0 are not read); the guidance hook applies.
// x0: [B, ...] in [-1, 1].
Tensor ddim_encode(const EpsModel& model, const GaussianDiffusion& diffusion, const Tensor& x0,
                   const DdimOptions& options, const StepCallback& on_step = {});

// Spherical interpolation per example (Song et al. Appendix D.5, the slerp of their Figure 6; the reference's
// sample_interpolation): with theta_b = arccos(<a_b, b_b> / (|a_b| |b_b|)) for each example b,
//   slerp = sin((1 - lambda) theta) / sin(theta) a + sin(lambda theta) / sin(theta) b,
// linear interpolation where sin(theta) < 1e-8. a, b: one shape and dtype [B, ...]. Coefficients in double.
Tensor slerp(const Tensor& a, const Tensor& b, double lambda);

// Interpolation between two batches of images through DDIM's latent space: encode both (ddim_encode), slerp the
// two latents, decode each mix with ddim_reverse. At eta > 0 every decode uses the same noise (the generator
// restarts from one state, as interpolate() in ddpm_sampler.hpp does), so only lambda changes between
// outputs; at eta = 0 nothing is drawn. Returns one [B, C, H, W] tensor per lambda, in order.
std::vector<Tensor> ddim_interpolate(const EpsModel& model, const GaussianDiffusion& diffusion, const Tensor& x0_a,
                                     const Tensor& x0_b, const std::vector<double>& lambdas,
                                     const DdimOptions& options, Philox& rng);

}  // namespace diffuse::diffusion
