#include "diffusion/gaussian_diffusion.hpp"

#include <cmath>
#include <numbers>
#include <stdexcept>

#include "diffusion/gaussian_likelihood.hpp"
#include "tensor/ops.hpp"
#include "tensor/random.hpp"

namespace diffuse::diffusion {

namespace {

// The int32 steps of a [B] tensor, checked against the batch and T.
std::vector<int32_t> read_steps(const Tensor& step, int64_t batch, int64_t T, const char* op) {
  if (step.dtype() != DType::I32 || step.dim() != 1 || step.size(0) != batch)
    shape_error(op, "step must be int32 [" + std::to_string(batch) + "], got " + describe(step));
  const Tensor packed = step.contiguous();
  std::vector<int32_t> steps(packed.data<int32_t>(), packed.data<int32_t>() + batch);
  for (int32_t value : steps)
    if (value < 0 || value >= T)
      shape_error(op, "step " + std::to_string(value) + " is outside 0.." + std::to_string(T - 1) +
                          " (steps are 0-based: paper t - 1)");
  return steps;
}

void check_same_shape(const Tensor& a, const Tensor& b, const char* op, const char* na, const char* nb) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype())
    shape_error(op, std::string(na) + " " + describe(a) + " and " + nb + " " + describe(b) +
                        " must have one shape and dtype");
  if (a.dim() < 1) shape_error(op, std::string(na) + " needs a batch axis, got " + describe(a));
}

const double kLn2 = std::numbers::ln2;

}  // namespace

LossType parse_loss_type(const std::string& name) {
  if (name == "simple") return LossType::Simple;
  if (name == "vb" || name == "kl") return LossType::Vb;
  throw std::invalid_argument("loss type: unknown \"" + name + "\" (expected simple or vb)");
}

const char* loss_type_name(LossType type) { return type == LossType::Simple ? "simple" : "vb"; }

Tensor step_tensor(int64_t batch, int64_t step) {
  return Tensor::from_vector(std::vector<int32_t>(static_cast<size_t>(batch), static_cast<int32_t>(step)), {batch});
}

Tensor sample_steps(int64_t batch, int64_t timesteps, Philox& rng) { return randint({batch}, 0, timesteps, rng); }

GaussianDiffusion::GaussianDiffusion(DiffusionSchedule schedule, VarianceType variance)
    : schedule_(std::move(schedule)), variance_(variance) {}

GaussianDiffusion::GaussianDiffusion(const DiffusionConfig& config)
    : GaussianDiffusion(make_schedule(config.schedule), config.variance) {}

Tensor GaussianDiffusion::extract(const std::vector<double>& a, const Tensor& step, const Tensor& like) const {
  if (like.dim() < 1) shape_error("extract", "expected a batch axis, got " + describe(like));
  const int64_t B = like.size(0);
  const std::vector<int32_t> steps = read_steps(step, B, timesteps(), "extract");
  std::vector<double> values(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) values[b] = a.at(static_cast<size_t>(steps[b]));
  Shape shape(static_cast<size_t>(like.dim()), 1);
  shape[0] = B;
  return Tensor::from_vector(values, shape).to(like.dtype());  // double until here
}

// ---- forward process ------------------------------------------------------------------------------

GaussianMoments GaussianDiffusion::q_mean_variance(const Tensor& x0, const Tensor& step) const {
  std::vector<double> one_minus_abar(schedule_.alphas_cumprod.size());
  for (size_t i = 0; i < one_minus_abar.size(); ++i) one_minus_abar[i] = 1.0 - schedule_.alphas_cumprod[i];
  return {extract(schedule_.sqrt_alphas_cumprod, step, x0) * x0, extract(one_minus_abar, step, x0),
          extract(schedule_.log_one_minus_alphas_cumprod, step, x0)};
}

Tensor GaussianDiffusion::q_sample(const Tensor& x0, const Tensor& step, const Tensor& noise) const {
  check_same_shape(x0, noise, "q_sample", "x0", "noise");
  return extract(schedule_.sqrt_alphas_cumprod, step, x0) * x0 +
         extract(schedule_.sqrt_one_minus_alphas_cumprod, step, x0) * noise;
}

GaussianMoments GaussianDiffusion::q_posterior(const Tensor& x0, const Tensor& x_t, const Tensor& step) const {
  check_same_shape(x0, x_t, "q_posterior", "x0", "x_t");
  return {extract(schedule_.posterior_mean_coef1, step, x_t) * x0 + extract(schedule_.posterior_mean_coef2, step, x_t) * x_t,
          extract(schedule_.posterior_variance, step, x_t),
          extract(schedule_.posterior_log_variance_clipped, step, x_t)};
}

// ---- reverse process ------------------------------------------------------------------------------

Tensor GaussianDiffusion::predict_x0_from_eps(const Tensor& x_t, const Tensor& step, const Tensor& eps) const {
  check_same_shape(x_t, eps, "predict_x0_from_eps", "x_t", "eps");
  return extract(schedule_.sqrt_recip_alphas_cumprod, step, x_t) * x_t -
         extract(schedule_.sqrt_recipm1_alphas_cumprod, step, x_t) * eps;
}

Tensor GaussianDiffusion::mean_from_eps(const Tensor& x_t, const Tensor& step, const Tensor& eps) const {
  check_same_shape(x_t, eps, "mean_from_eps", "x_t", "eps");
  return extract(schedule_.sqrt_recip_alphas, step, x_t) * (x_t - extract(schedule_.eps_coef, step, x_t) * eps);
}

ReverseMoments GaussianDiffusion::p_mean_variance(const Tensor& eps, const Tensor& x_t, const Tensor& step,
                                                  bool clip_denoised) const {
  check_same_shape(x_t, eps, "p_mean_variance", "x_t", "eps");
  ReverseMoments r;
  r.variance = extract(schedule_.model_variance(variance_), step, x_t);
  r.log_variance = extract(schedule_.model_log_variance(variance_), step, x_t);
  const Tensor x0_hat = predict_x0_from_eps(x_t, step, eps);
  if (clip_denoised) {
    r.x0_hat = clamp(x0_hat, -1.0, 1.0);
    r.mean = q_posterior(r.x0_hat, x_t, step).mean;  // mu~_t(clip(x0_hat), x_t): the reference sampler
  } else {
    r.x0_hat = x0_hat;
    r.mean = mean_from_eps(x_t, step, eps);  // Algorithm 2's eps form
  }
  return r;
}

// ---- the variational bound ------------------------------------------------------------------------

Tensor GaussianDiffusion::vb_terms_bpd(const Tensor& eps, const Tensor& x0, const Tensor& x_t, const Tensor& step,
                                       bool clip_denoised) const {
  return vb_terms_bpd(eps, x0, x_t, step, clip_denoised, nullptr);
}

Tensor GaussianDiffusion::vb_terms_bpd(const Tensor& eps, const Tensor& x0, const Tensor& x_t, const Tensor& step,
                                       bool clip_denoised, Tensor* x0_hat) const {
  check_same_shape(x0, x_t, "vb_terms_bpd", "x0", "x_t");
  const int64_t B = x0.size(0);
  const std::vector<int32_t> steps = read_steps(step, B, timesteps(), "vb_terms_bpd");
  const GaussianMoments q = q_posterior(x0, x_t, step);
  const ReverseMoments p = p_mean_variance(eps, x_t, step, clip_denoised);
  if (x0_hat) *x0_hat = p.x0_hat;

  // Both terms for every example, then per example the decoder NLL at step 0 (t = 1) and the KL elsewhere.
  // The unselected branch is finite (probabilities are clamped at 1e-12), so its zero gradient stays zero.
  const Tensor kl = mean_flat(normal_kl(q.mean, q.log_variance, p.mean, p.log_variance)) / kLn2;
  const Tensor log_scales = (0.5 * p.log_variance).expand(x0.shape()).contiguous();
  const Tensor decoder_nll = neg(mean_flat(discretized_gaussian_log_likelihood(x0, p.mean, log_scales))) / kLn2;

  std::vector<double> at_first(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) at_first[b] = steps[b] == 0 ? 1.0 : 0.0;
  const Tensor first = Tensor::from_vector(at_first, {B}).to(x0.dtype());
  return where(first, decoder_nll, kl);
}

Tensor GaussianDiffusion::prior_bpd(const Tensor& x0) const {
  const GaussianMoments q = q_mean_variance(x0, step_tensor(x0.size(0), timesteps() - 1));
  const Tensor zero = Tensor::zeros({}, x0.dtype());
  return mean_flat(normal_kl(q.mean, q.log_variance, zero, zero)) / kLn2;
}

// ---- training -------------------------------------------------------------------------------------

Tensor simple_loss(const Tensor& eps_pred, const Tensor& noise) {
  check_same_shape(eps_pred, noise, "simple_loss", "eps_pred", "noise");
  return mean_flat(square(noise - eps_pred));
}

TrainingLoss GaussianDiffusion::training_loss(const EpsModel& model, const Tensor& x0, const Tensor& step,
                                              const Tensor& noise, LossType type, bool clip_denoised) const {
  TrainingLoss out;
  out.x_t = q_sample(x0, step, noise);
  const Tensor eps = model(out.x_t, step);
  check_same_shape(out.x_t, eps, "training_loss", "x_t", "model output");
  out.per_example = type == LossType::Simple ? simple_loss(eps, noise)
                                             : vb_terms_bpd(eps, x0, out.x_t, step, clip_denoised);
  out.loss = mean(out.per_example);
  return out;
}

}  // namespace diffuse::diffusion
