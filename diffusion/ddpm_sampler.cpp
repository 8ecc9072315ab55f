#include "diffusion/ddpm_sampler.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

#include "tensor/autograd.hpp"
#include "tensor/conv2d.hpp"
#include "tensor/ops.hpp"

namespace diffuse::diffusion {

Tensor reverse_process(const EpsModel& model, const GaussianDiffusion& diffusion, const Tensor& x_t, int64_t t_start,
                       Philox& rng, bool clip_denoised, const StepCallback& on_step, const MeanGuidance& guidance) {
  const int64_t T = diffusion.timesteps();
  if (t_start < 1 || t_start > T)
    throw std::invalid_argument("reverse_process: t = " + std::to_string(t_start) + " is outside 1.." + std::to_string(T));
  if (x_t.dim() < 1) shape_error("reverse_process", "x_t needs a batch axis, got " + describe(x_t));
  NoGradGuard no_grad;
  const int64_t B = x_t.size(0);
  // sigma_t = exp(0.5 log sigma_t^2), in double, cast when it scales the noise.
  const std::vector<double>& log_var = diffusion.schedule().model_log_variance(diffusion.variance_type());
  std::vector<double> sigma(log_var.size());
  for (size_t i = 0; i < sigma.size(); ++i) sigma[i] = std::exp(0.5 * log_var[i]);

  Tensor x = x_t.contiguous();
  for (int64_t t = t_start; t >= 1; --t) {
    const Tensor step = step_tensor(B, t - 1);
    const Tensor eps = model(x, step);
    const ReverseMoments p = diffusion.p_mean_variance(eps, x, step, clip_denoised);
    const Tensor mean = guidance ? guidance(p, x, step) : p.mean;
    if (t > 1) {
      const Tensor z = randn(x.shape(), rng, x.dtype());
      x = mean + diffusion.extract(sigma, step, x) * z;
    } else {
      x = mean;  // z = 0 at t = 1: the output is the decoder's mean
    }
    if (on_step) on_step(t, p.x0_hat);
  }
  return x;
}

Tensor sample(const EpsModel& model, const GaussianDiffusion& diffusion, const Shape& shape, Philox& rng,
              bool clip_denoised, DType dtype, const StepCallback& on_step, const MeanGuidance& guidance) {
  NoGradGuard no_grad;
  FrozenWeights frozen_weights;  // the model is fixed throughout: the ops keep what they derive from its weights
  const Tensor x_T = randn(shape, rng, dtype);
  return reverse_process(model, diffusion, x_T, diffusion.timesteps(), rng, clip_denoised, on_step, guidance);
}

ProgressiveSample sample_progressive(const EpsModel& model, const GaussianDiffusion& diffusion, const Shape& shape,
                                     Philox& rng, int64_t every, bool clip_denoised, DType dtype,
                                     const StepCallback& on_step, const MeanGuidance& guidance) {
  const int64_t T = diffusion.timesteps();
  if (every < 1 || every > T)
    throw std::invalid_argument("sample_progressive: every = " + std::to_string(every) + " is outside 1.." +
                                std::to_string(T));
  NoGradGuard no_grad;
  FrozenWeights frozen_weights;  // the model is fixed throughout: the ops keep what they derive from its weights
  ProgressiveSample out;
  const int64_t records = T / every;
  out.x0_hats.reserve(static_cast<size_t>(records));
  const Tensor x_T = randn(shape, rng, dtype);
  out.x0 = reverse_process(model, diffusion, x_T, T, rng, clip_denoised, [&](int64_t t, const Tensor& x0_hat) {
    const int64_t step = t - 1;
    if (step % every == 0 && step / every < records) out.x0_hats.push_back({t, x0_hat.contiguous()});
    if (on_step) on_step(t, x0_hat);
  }, guidance);
  return out;
}

std::vector<Tensor> interpolate(const EpsModel& model, const GaussianDiffusion& diffusion, const Tensor& x0_a,
                                const Tensor& x0_b, int64_t t, const std::vector<double>& lambdas, Philox& rng,
                                bool clip_denoised, bool shared_encoder_noise) {
  const int64_t T = diffusion.timesteps();
  if (t < 1 || t > T)
    throw std::invalid_argument("interpolate: t = " + std::to_string(t) + " is outside 1.." + std::to_string(T));
  if (x0_a.shape() != x0_b.shape() || x0_a.dtype() != x0_b.dtype())
    shape_error("interpolate", "images " + describe(x0_a) + " and " + describe(x0_b) + " must have one shape and dtype");
  NoGradGuard no_grad;
  FrozenWeights frozen_weights;  // the model is fixed throughout: the ops keep what they derive from its weights
  const Tensor step = step_tensor(x0_a.size(0), t - 1);
  const Tensor eps_a = randn(x0_a.shape(), rng, x0_a.dtype());
  const Tensor eps_b = shared_encoder_noise ? eps_a : randn(x0_b.shape(), rng, x0_b.dtype());
  const Tensor xt_a = diffusion.q_sample(x0_a, step, eps_a);
  const Tensor xt_b = diffusion.q_sample(x0_b, step, eps_b);

  std::vector<Tensor> out;
  out.reserve(lambdas.size());
  Philox decode_rng = rng;  // each decode restarts from this generator state: the same reverse noise
  for (double lambda : lambdas) {
    decode_rng = rng;
    const Tensor mixed = xt_a * (1.0 - lambda) + xt_b * lambda;
    out.push_back(reverse_process(model, diffusion, mixed, t, decode_rng, clip_denoised));
  }
  rng = decode_rng;  // leave the caller's generator past every draw used
  return out;
}

}  // namespace diffuse::diffusion
