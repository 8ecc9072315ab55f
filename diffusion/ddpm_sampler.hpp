// DDPM ancestral sampling (Ho et al. 2020, Algorithm 2), progressive generation (x0_hat recorded every
// k steps, the paper's Figure 6) and interpolation through the latent x_t (§4.3, Figure 8).
//
//   x_T ~ N(0, I); for t = T..1: z ~ N(0, I) if t > 1 else z = 0; x_{t-1} = mu_theta(x_t, t) + sigma_t z
//
// sigma_t = exp(0.5 log sigma_t^2) with the diffusion's fixed clipped log-variance ("large" or "small",
// beta_schedule.hpp). mu_theta is mu~_t(clip(x0_hat, -1, 1), x_t) when clip_denoised (the reference
// sampler, the default) and Algorithm 2's unclipped eps form otherwise (GaussianDiffusion::p_mean_variance).
// Every draw comes from the Philox generator passed in, in a fixed order (x_T, then one z per step
// t = T..2), so a seed reproduces a sample exactly. Everything runs under NoGradGuard.
#pragma once
#include <functional>
#include <vector>

#include "diffusion/gaussian_diffusion.hpp"
#include "tensor/random.hpp"

namespace diffuse::diffusion {

// Called after each reverse step with the paper's t of the step just taken (x_{t-1} was produced from
// x_t) and that step's x0_hat.
using StepCallback = std::function<void(int64_t t, const Tensor& x0_hat)>;

// The hook that lets guidance move the mean x_{t-1} is drawn around: given the step's moments p (p.mean =
// mu_theta(x_t, t), p.variance = Sigma = sigma_t^2), x_t and the int32 [B] step t - 1, it returns the mean to use.
// Classifier guidance (Dhariwal & Nichol 2021, Algorithm 1) is p.mean + s Sigma grad_{x_t} log p_phi(y | x_t)
// (diffusion/guidance.hpp classifier_guided_mean); the classifier is not part of this unit. Empty: p.mean.
using MeanGuidance = std::function<Tensor(const ReverseMoments& p, const Tensor& x_t, const Tensor& step)>;

// Runs the reverse process from x_t at the paper's t = t_start (1..T) down to x_0 and returns x_0: Ho et al.
// Algorithm 2, lines 2-6, started at t_start.
Tensor reverse_process(const EpsModel& model, const GaussianDiffusion& diffusion, const Tensor& x_t, int64_t t_start,
                       Philox& rng, bool clip_denoised = true, const StepCallback& on_step = {}, const MeanGuidance& guidance = {});

// A batch of samples of `shape` ([B, C, H, W]): x_T ~ N(0, I) in `dtype`, then reverse_process from T.
// Ho et al. Algorithm 2.
Tensor sample(const EpsModel& model, const GaussianDiffusion& diffusion, const Shape& shape, Philox& rng,
              bool clip_denoised = true, DType dtype = DType::F32, const StepCallback& on_step = {},
              const MeanGuidance& guidance = {});

struct RecordedX0 {
  int64_t t;      // the paper's t of the step whose x0_hat this is
  Tensor x0_hat;  // [B, C, H, W]
};

struct ProgressiveSample {
  Tensor x0;                       // the final samples
  std::vector<RecordedX0> x0_hats;  // in generation order: largest t first
};

// sample(), also recording x0_hat (Ho et al. eq. 15) every `every` steps: at the steps whose 0-based index
// t - 1 is a multiple of `every`, T / every (integer division) records in all, the last at t = 1 (the
// reference code's p_sample_loop_progressive keeps the same steps). every = 1 records all T steps.
ProgressiveSample sample_progressive(const EpsModel& model, const GaussianDiffusion& diffusion, const Shape& shape,
                                     Philox& rng, int64_t every, bool clip_denoised = true,
                                     DType dtype = DType::F32, const StepCallback& on_step = {},
                                     const MeanGuidance& guidance = {});

// Interpolation in the latent space of the forward process (§4.3): encode both images stochastically,
// x_t = q_sample(x0_a, t, eps_a) and x'_t = q_sample(x0_b, t, eps_b), mix the latents
// xbar_t = (1 - lambda) x_t + lambda x'_t, and decode xbar_t by the reverse process from t.
// As in the paper, the noise is fixed across lambdas: x_t and x'_t are drawn once, and every decode
// uses the same reverse-process noise (the generator restarts from one counter for each lambda), so
// only lambda changes between outputs. eps_a and eps_b are independent draws unless
// shared_encoder_noise, which uses eps_a for both. x0_a, x0_b: [B, C, H, W] in [-1, 1]; t in 1..T.
// Returns one [B, C, H, W] tensor per lambda, in order.
std::vector<Tensor> interpolate(const EpsModel& model, const GaussianDiffusion& diffusion, const Tensor& x0_a,
                                const Tensor& x0_b, int64_t t, const std::vector<double>& lambdas, Philox& rng,
                                bool clip_denoised = true, bool shared_encoder_noise = false);

}  // namespace diffuse::diffusion
