// DDPM Gaussian diffusion (Ho, Jain, Abbeel 2020; docs/math.md §2; reference code
// `diffusion_utils_2.GaussianDiffusion2` with model_mean_type = eps and a fixed variance): the forward
// process q, its posterior, the reverse process p_theta parameterized by eps_theta, and the two
// training objectives. The network is a callback (EpsModel).
//
// Shapes: images x0, x_t, eps are [B, C, H, W] (any [B, ...] works), float32 in training and sampling,
// float64 in gradient checks; every result has the images' dtype. `step` is int32 [B], one step per
// example, 0-based: step = paper t - 1 (see beta_schedule.hpp, where this is decided). Schedule
// constants stay double until they multiply a tensor, then take the tensor's dtype.
#pragma once
#include <functional>
#include <string>

#include "diffusion/beta_schedule.hpp"
#include "tensor/tensor.hpp"

namespace diffuse {
class Philox;
}

namespace diffuse::diffusion {

// eps_theta(x_t, step): x_t [B, C, H, W], step int32 [B] = paper t - 1 (what the U-Net's timestep
// embedding takes) -> the predicted noise, same shape and dtype as x_t.
using EpsModel = std::function<Tensor(const Tensor& x_t, const Tensor& step)>;

// Simple: L_simple = || eps - eps_theta ||^2 averaged over dimensions. Vb: the variational-bound term
// L_{t-1} (L_0 at t = 1) in bits/dim, as the reference code's loss_type = "kl".
enum class LossType { Simple, Vb };
LossType parse_loss_type(const std::string& name);  // "simple" | "vb" (or "kl", the reference's name)
const char* loss_type_name(LossType type);

struct DiffusionConfig {
  BetaScheduleConfig schedule;
  VarianceType variance = VarianceType::Large;  // the released CIFAR-10 config
  LossType loss = LossType::Simple;
  bool clip_denoised = true;                    // mu_theta from clip(x0_hat); see p_mean_variance
};

// A Gaussian per element: mean, variance and log-variance, each broadcastable to the images' shape
// (variances are [B, 1, 1, 1]).
struct GaussianMoments {
  Tensor mean, variance, log_variance;
};

// p_theta(x_{t-1} | x_t) and the x0 prediction it was built from.
struct ReverseMoments {
  Tensor mean;          // mu_theta(x_t, t)                   [B, C, H, W]
  Tensor variance;      // sigma_t^2 (unclipped)             [B, 1, 1, 1]
  Tensor log_variance;  // clipped log sigma_t^2             [B, 1, 1, 1]
  Tensor x0_hat;        // x0 predicted from eps (clipped to [-1, 1] when clip_denoised)
};

// A training objective for one batch.
struct TrainingLoss {
  Tensor loss;         // scalar: the batch mean of per_example (differentiable)
  Tensor per_example;  // [B]
  Tensor x_t;          // the noised input the model saw
};

// int32 [batch] filled with one 0-based step.
Tensor step_tensor(int64_t batch, int64_t step);
// int32 [batch] of steps uniform on 0..T-1 (paper t uniform on 1..T), drawn from rng. Algorithm 1, line 3.
Tensor sample_steps(int64_t batch, int64_t timesteps, Philox& rng);

class GaussianDiffusion {
 public:
  GaussianDiffusion(DiffusionSchedule schedule, VarianceType variance);
  explicit GaussianDiffusion(const DiffusionConfig& config);

  const DiffusionSchedule& schedule() const { return schedule_; }
  int64_t timesteps() const { return schedule_.timesteps; }
  VarianceType variance_type() const { return variance_; }

  // a[step_b] for each example b, shaped [B, 1, ..., 1] to broadcast against `like` and cast to its
  // dtype. Throws unless step is int32 [B] with B = like's first axis and 0 <= step < T.
  Tensor extract(const std::vector<double>& a, const Tensor& step, const Tensor& like) const;

  // ---- forward process ----------------------------------------------------------------------------
  // q(x_t | x0) = N(sqrt(abar_t) x0, (1 - abar_t) I). Ho et al. eq. 4.
  GaussianMoments q_mean_variance(const Tensor& x0, const Tensor& step) const;
  // x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise. Ho et al. eq. 4, reparameterised as in their §3.2.
  Tensor q_sample(const Tensor& x0, const Tensor& step, const Tensor& noise) const;
  // q(x_{t-1} | x_t, x0) = N(mu~_t, beta~_t I), mu~_t = coef1_t x0 + coef2_t x_t: Ho et al. eqs. 6-7.
  // log_variance is the clipped one (log beta~_2 at t = 1), as the reference uses in the KL.
  GaussianMoments q_posterior(const Tensor& x0, const Tensor& x_t, const Tensor& step) const;

  // ---- reverse process ----------------------------------------------------------------------------
  // x0_hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t), computed as the reference does:
  // sqrt(1/abar_t) x_t - sqrt(1/abar_t - 1) eps. Not clipped. Ho et al. eq. 15 (also inside eq. 11).
  Tensor predict_x0_from_eps(const Tensor& x_t, const Tensor& step, const Tensor& eps) const;
  // The eps form of the mean, (1/sqrt(alpha_t)) (x_t - beta_t/sqrt(1 - abar_t) eps): Ho et al. eq. 11 and
  // Algorithm 2, line 4.
  Tensor mean_from_eps(const Tensor& x_t, const Tensor& step, const Tensor& eps) const;
  // p_theta(x_{t-1} | x_t) from the model output eps_theta (differentiable in eps): Ho et al. eq. 11 with the
  // fixed variance of their §3.2 (docs/math.md §2.5). The mean is
  //   clip_denoised = true  (the reference sampler and bound, our default):
  //       mu~_t(clip(x0_hat, -1, 1), x_t), which departs from the eps form wherever x0_hat leaves [-1, 1];
  //   clip_denoised = false: the unclipped eps form, mean_from_eps (equal to mu~_t(x0_hat, x_t)).
  // The variance is fixed: sigma_t^2 = beta_t ("large") or beta~_t ("small"), with the clipped
  // log-variance of beta_schedule.hpp.
  ReverseMoments p_mean_variance(const Tensor& eps, const Tensor& x_t, const Tensor& step,
                                 bool clip_denoised = true) const;

  // ---- the variational bound, in bits per dimension -----------------------------------------------
  // Per example b at its step: L_{t-1} = KL(q(x_{t-1} | x_t, x0) || p_theta(x_{t-1} | x_t)) for t > 1,
  // L_0 = -log p_theta(x0 | x1) (the discretized Gaussian decoder with mean mu_theta and standard
  // deviation exp(0.5 log sigma_1^2)) for t = 1; each averaged over dimensions and divided by ln 2
  // (the reference's _vb_terms_bpd). Returns [B], differentiable in eps. x0 on the 256-level grid.
  // Ho et al. eq. 5's L_{t-1} and L_0, the decoder of eq. 13. With clip_denoised = false, L_{t-1} is eq. 12
  // (plus a constant) computed as a Gaussian KL; no function evaluates eq. 12's squared-error form
  // (docs/math.md §2.6-§2.7).
  Tensor vb_terms_bpd(const Tensor& eps, const Tensor& x0, const Tensor& x_t, const Tensor& step,
                      bool clip_denoised = true) const;
  // The same, also returning x0_hat (for the per-step x0 error that the bits/dim evaluation reports).
  Tensor vb_terms_bpd(const Tensor& eps, const Tensor& x0, const Tensor& x_t, const Tensor& step,
                      bool clip_denoised, Tensor* x0_hat) const;
  // L_T = KL(q(x_T | x0) || N(0, I)), averaged over dimensions, / ln 2: [B]. No network involved. Ho et al.
  // eq. 5's L_T.
  Tensor prior_bpd(const Tensor& x0) const;

  // ---- training -----------------------------------------------------------------------------------
  // x_t = q_sample(x0, step, noise), eps_theta = model(x_t, step), then per example
  //   Simple: mean over dimensions of (noise - eps_theta)^2   (L_simple, Ho et al. eq. 14; Algorithm 1)
  //   Vb:     vb_terms_bpd(eps_theta, x0, x_t, step, clip_denoised)  (the true bound's term: eq. 5's L_{t-1},
  //           eq. 12 as a KL)
  // and loss = the batch mean. Both are differentiable through the model output.
  // On clip_denoised for Vb: our bound clips x0_hat (docs/math.md §2.5-§2.6; the default here; the gradient
  // is then zero for elements whose x0_hat is clipped); the reference code's training_losses with
  // loss_type = "kl" passes clip_denoised = False, so pass false to reproduce its training exactly.
  TrainingLoss training_loss(const EpsModel& model, const Tensor& x0, const Tensor& step, const Tensor& noise,
                             LossType type, bool clip_denoised = true) const;

 private:
  DiffusionSchedule schedule_;
  VarianceType variance_;
};

// Per example, the mean over dimensions of (noise - eps_pred)^2: [B] (L_simple before the batch mean).
// Ho et al. eq. 14.
Tensor simple_loss(const Tensor& eps_pred, const Tensor& noise);

}  // namespace diffuse::diffusion
