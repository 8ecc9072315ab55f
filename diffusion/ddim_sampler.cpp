#include "diffusion/ddim_sampler.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "tensor/autograd.hpp"
#include "tensor/conv2d.hpp"
#include "tensor/ops.hpp"

namespace diffuse::diffusion {

namespace {

// abar at the paper's t, with abar_0 = 1 (the data) for the step below tau_1.
double abar_at(const DiffusionSchedule& schedule, int64_t t) {
  return t == 0 ? 1.0 : schedule.alphas_cumprod.at(static_cast<size_t>(t - 1));
}

void check_eta(double eta) {
  if (!(eta >= 0.0 && eta <= 1.0))
    throw std::invalid_argument("--eta: DDIM's eta must be in [0, 1] (0: deterministic, 1: the ancestral step's "
                                "variance beta~_t), got " + std::to_string(eta));
}

}  // namespace

DdimSpacing parse_ddim_spacing(const std::string& name) {
  if (name == "uniform") return DdimSpacing::Uniform;
  if (name == "quadratic") return DdimSpacing::Quadratic;
  throw std::invalid_argument("--grid: DDIM's spacing is 'uniform' or 'quadratic', got '" + name + "'");
}

const char* ddim_spacing_name(DdimSpacing spacing) { return spacing == DdimSpacing::Uniform ? "uniform" : "quadratic"; }

Tensor guided_eps(const EpsModel& model, const EpsGuidance& guidance, const Tensor& x, const Tensor& step) {
  const Tensor eps = model(x, step);
  if (!guidance) return eps;
  const Tensor shifted = guidance(eps, x, step);
  if (shifted.shape() != x.shape() || shifted.dtype() != x.dtype())
    shape_error("guided_eps", "the guidance hook returned " + describe(shifted) + " for x_t " + describe(x));
  return shifted;
}

// ---- the sub-sequence tau (Song et al. §4.2, Appendix D.2) -----------------------------------------------

std::vector<int64_t> ddim_timesteps(int64_t timesteps, int64_t steps, DdimSpacing spacing) {
  const int64_t T = timesteps, K = steps;
  if (K < 1 || K > T)
    throw std::invalid_argument("--steps: DDIM takes 1..T = " + std::to_string(T) +
                                " steps (a sub-sequence of the diffusion's t = 1..T), got " + std::to_string(K));
  std::vector<int64_t> tau(static_cast<size_t>(K));
  if (spacing == DdimSpacing::Uniform) {
    // tau_i - 1 = floor((i - 1) T / K): the reference's range(0, T, T // K) when K divides T. When it does not,
    // that range holds ceil(T / (T // K)) > K steps; this one holds exactly K, evenly spread.
    for (int64_t i = 0; i < K; ++i) tau[i] = 1 + (i * T) / K;
  } else {
    // The reference's np.linspace(0, sqrt(0.8 T), K) ** 2, truncated to integers: the last step is 0.8 T, not T.
    // Where truncation repeats a step (small i, large K) the reference takes a step of zero length, a network
    // evaluation that changes nothing; here the step moves up by one instead, so K steps stay K distinct t.
    const double top = std::sqrt(0.8 * static_cast<double>(T));
    for (int64_t i = 0; i < K; ++i) {
      const double v = (K == 1) ? 0.0 : (i == K - 1 ? top : static_cast<double>(i) * (top / static_cast<double>(K - 1)));
      int64_t step = static_cast<int64_t>(v * v);  // 0-based, as the reference's int()
      if (i > 0) step = std::max(step, tau[i - 1]);  // at least one above the previous step, tau[i - 1] - 1
      tau[i] = 1 + step;
    }
  }
  for (int64_t i = 0; i < K; ++i)
    if (tau[i] < 1 || tau[i] > T || (i > 0 && tau[i] <= tau[i - 1]))
      throw std::logic_error("ddim_timesteps: tau is not increasing inside 1..T");  // cannot happen for K <= T
  return tau;
}

// ---- one step (Song et al. eqs. 12 and 16) -----------------------------------------------------------

DdimCoefficients ddim_coefficients(double abar_t, double abar_prev, double eta) {
  check_eta(eta);
  if (!(abar_t > 0.0 && abar_t < abar_prev && abar_prev <= 1.0))
    throw std::invalid_argument("ddim_coefficients: need 0 < abar_t < abar_prev <= 1, got " + std::to_string(abar_t) +
                                " and " + std::to_string(abar_prev));
  DdimCoefficients c;
  c.x0 = std::sqrt(abar_prev);
  // eq. 16: sigma_tau_i(eta) = eta sqrt((1 - a')/(1 - a)) sqrt(1 - a/a'); at eta = 1 this is beta~ of the jump.
  c.sigma = eta * std::sqrt((1.0 - abar_prev) / (1.0 - abar_t)) * std::sqrt(1.0 - abar_t / abar_prev);
  // eq. 12's sqrt(1 - a' - sigma^2) >= 0 exactly (it is (1 - a') a (1/a' - 1)/(1 - a) at eta = 1); rounding may
  // make the argument a hair below 0 when a' = 1.
  c.direction = std::sqrt(std::max(0.0, 1.0 - abar_prev - c.sigma * c.sigma));
  return c;
}

DdimStep ddim_step(const EpsModel& model, const GaussianDiffusion& diffusion, const Tensor& x, int64_t t, int64_t t_prev,
                   double eta, bool clip_x0, const EpsGuidance& guidance) {
  const int64_t T = diffusion.timesteps();
  if (t < 1 || t > T || t_prev < 0 || t_prev >= t)
    throw std::invalid_argument("ddim_step: need 0 <= t_prev < t <= T = " + std::to_string(T) + ", got t = " +
                                std::to_string(t) + ", t_prev = " + std::to_string(t_prev));
  if (x.dim() < 1) shape_error("ddim_step", "x needs a batch axis, got " + describe(x));
  const double a = abar_at(diffusion.schedule(), t), a_prev = abar_at(diffusion.schedule(), t_prev);
  const DdimCoefficients c = ddim_coefficients(a, a_prev, eta);

  const Tensor step = step_tensor(x.size(0), t - 1);
  DdimStep out;
  out.sigma = c.sigma;
  out.eps = guided_eps(model, guidance, x, step);
  out.x0_hat = diffusion.predict_x0_from_eps(x, step, out.eps);  // Ho et al. eq. 15 (Song et al. eq. 9)
  if (clip_x0) {
    out.x0_hat = clamp(out.x0_hat, -1.0, 1.0);
    out.eps = (x - out.x0_hat * std::sqrt(a)) * (1.0 / std::sqrt(1.0 - a));  // the noise clip(x0_hat) implies
  }
  out.mean = out.x0_hat * c.x0 + out.eps * c.direction;  // eq. 12 without its sigma z
  return out;
}

// ---- sampling ------------------------------------------------------------------------------------

Tensor ddim_reverse(const EpsModel& model, const GaussianDiffusion& diffusion, const Tensor& x_tau_K,
                    const DdimOptions& options, Philox& rng, const StepCallback& on_step) {
  check_eta(options.eta);
  const std::vector<int64_t> tau = ddim_timesteps(diffusion.timesteps(), options.steps, options.spacing);
  if (x_tau_K.dim() < 1) shape_error("ddim_reverse", "x needs a batch axis, got " + describe(x_tau_K));
  NoGradGuard no_grad;
  Tensor x = x_tau_K.contiguous();
  for (int64_t i = static_cast<int64_t>(tau.size()) - 1; i >= 0; --i) {
    const int64_t t = tau[i], t_prev = i > 0 ? tau[i - 1] : 0;
    const DdimStep p = ddim_step(model, diffusion, x, t, t_prev, options.eta, options.clip_x0, options.guidance);
    x = p.sigma > 0.0 ? p.mean + randn(x.shape(), rng, x.dtype()) * p.sigma : p.mean;
    if (on_step) on_step(t, p.x0_hat);
  }
  return x;
}

Tensor ddim_sample(const EpsModel& model, const GaussianDiffusion& diffusion, const Shape& shape,
                   const DdimOptions& options, Philox& rng, DType dtype, const StepCallback& on_step) {
  check_eta(options.eta);
  ddim_timesteps(diffusion.timesteps(), options.steps, options.spacing);  // refuse a bad K before drawing
  NoGradGuard no_grad;
  FrozenWeights frozen_weights;  // the model is fixed throughout: the ops keep what they derive from its weights
  const Tensor x = randn(shape, rng, dtype);
  return ddim_reverse(model, diffusion, x, options, rng, on_step);
}

// ---- the encoder and interpolation (Song et al. §4.3, §5.4, eq. 14) -------------------------------------

Tensor ddim_encode(const EpsModel& model, const GaussianDiffusion& diffusion, const Tensor& x0,
                   const DdimOptions& options, const StepCallback& on_step) {
  const std::vector<int64_t> tau = ddim_timesteps(diffusion.timesteps(), options.steps, options.spacing);
  if (x0.dim() < 1) shape_error("ddim_encode", "x0 needs a batch axis, got " + describe(x0));
  NoGradGuard no_grad;
  FrozenWeights frozen_weights;
  const int64_t B = x0.size(0);
  Tensor x = x0.contiguous();
  int64_t t_from = 0;  // x is x_{t_from}; t = 0 is the data
  for (const int64_t t : tau) {
    const Tensor eps = guided_eps(model, options.guidance, x, step_tensor(B, t - 1));  // at the step moved to
    // x0_hat of the point at hand (eq. 15 at t_from; at t_from = 0 it is x itself, abar_0 = 1).
    const Tensor x0_hat = t_from == 0 ? x : diffusion.predict_x0_from_eps(x, step_tensor(B, t_from - 1), eps);
    const double a = abar_at(diffusion.schedule(), t);
    x = x0_hat * std::sqrt(a) + eps * std::sqrt(1.0 - a);  // eq. 12 at eta = 0, from t_from up to t
    if (on_step) on_step(t, x0_hat);
    t_from = t;
  }
  return x;
}

Tensor slerp(const Tensor& a, const Tensor& b, double lambda) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype() || a.dim() < 1)
    shape_error("slerp", "a " + describe(a) + " and b " + describe(b) + " must have one shape and dtype, with a batch axis");
  const int64_t B = a.size(0), D = a.numel() / std::max<int64_t>(B, 1);
  const std::vector<double> va = a.to_vector(), vb = b.to_vector();
  std::vector<double> ca(static_cast<size_t>(B)), cb(static_cast<size_t>(B));
  for (int64_t i = 0; i < B; ++i) {
    double dot = 0, na = 0, nb = 0;
    for (int64_t j = i * D; j < (i + 1) * D; ++j) {
      dot += va[j] * vb[j];
      na += va[j] * va[j];
      nb += vb[j] * vb[j];
    }
    const double cosine = std::clamp(dot / std::sqrt(na * nb), -1.0, 1.0);
    const double theta = std::acos(cosine), s = std::sin(theta);
    if (s < 1e-8) {  // parallel latents: the arc is the chord
      ca[i] = 1.0 - lambda;
      cb[i] = lambda;
    } else {
      ca[i] = std::sin((1.0 - lambda) * theta) / s;
      cb[i] = std::sin(lambda * theta) / s;
    }
  }
  Shape coef_shape(static_cast<size_t>(a.dim()), 1);
  coef_shape[0] = B;
  return a * Tensor::from_vector(ca, coef_shape).to(a.dtype()) + b * Tensor::from_vector(cb, coef_shape).to(a.dtype());
}

std::vector<Tensor> ddim_interpolate(const EpsModel& model, const GaussianDiffusion& diffusion, const Tensor& x0_a,
                                     const Tensor& x0_b, const std::vector<double>& lambdas,
                                     const DdimOptions& options, Philox& rng) {
  check_eta(options.eta);
  if (x0_a.shape() != x0_b.shape() || x0_a.dtype() != x0_b.dtype())
    shape_error("ddim_interpolate", "images " + describe(x0_a) + " and " + describe(x0_b) + " must have one shape and dtype");
  NoGradGuard no_grad;
  FrozenWeights frozen_weights;
  const Tensor z_a = ddim_encode(model, diffusion, x0_a, options);
  const Tensor z_b = ddim_encode(model, diffusion, x0_b, options);
  std::vector<Tensor> out;
  out.reserve(lambdas.size());
  Philox decode_rng = rng;  // each decode restarts from this state: the same noise for every lambda
  for (const double lambda : lambdas) {
    decode_rng = rng;
    out.push_back(ddim_reverse(model, diffusion, slerp(z_a, z_b, lambda), options, decode_rng));
  }
  rng = decode_rng;  // leave the caller's generator past every draw used
  return out;
}

}  // namespace diffuse::diffusion
