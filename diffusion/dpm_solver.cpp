#include "diffusion/dpm_solver.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "tensor/autograd.hpp"
#include "tensor/conv2d.hpp"
#include "tensor/ops.hpp"

namespace diffuse::diffusion {

namespace {

double abar(const DiffusionSchedule& schedule, int64_t t) { return schedule.alphas_cumprod.at(static_cast<size_t>(t - 1)); }

// The continuous t in [1, T] whose log alpha is log_alpha, by linear interpolation of log alpha_t = (log abar_t)/2
// between the integer nodes t = 1..T: the reference's NoiseScheduleVP.inverse_lambda for schedule "discrete",
// in units of steps (its time times T). log alpha falls with t.
double time_of_log_alpha(const DiffusionSchedule& schedule, double log_alpha) {
  const int64_t T = schedule.timesteps;
  auto node = [&](int64_t t) { return 0.5 * std::log(abar(schedule, t)); };
  if (log_alpha >= node(1)) return 1.0;
  if (log_alpha <= node(T)) return static_cast<double>(T);
  int64_t lo = 1, hi = T;  // node(lo) > log_alpha >= node(hi)
  while (hi - lo > 1) {
    const int64_t mid = (lo + hi) / 2;
    if (node(mid) > log_alpha) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return static_cast<double>(lo) + (node(lo) - log_alpha) / (node(lo) - node(hi));
}

}  // namespace

DpmSpacing parse_dpm_spacing(const std::string& name) {
  if (name == "logsnr") return DpmSpacing::LogSnr;
  if (name == "uniform") return DpmSpacing::TimeUniform;
  throw std::invalid_argument("--grid: DPM-Solver's spacing is 'logsnr' or 'uniform' (in time), got '" + name + "'");
}

const char* dpm_spacing_name(DpmSpacing spacing) { return spacing == DpmSpacing::LogSnr ? "logsnr" : "uniform"; }

double half_log_snr(const DiffusionSchedule& schedule, int64_t t) {
  if (t < 1 || t > schedule.timesteps)
    throw std::invalid_argument("half_log_snr: t = " + std::to_string(t) + " is outside 1.." + std::to_string(schedule.timesteps));
  const size_t step = static_cast<size_t>(t - 1);
  return 0.5 * (std::log(schedule.alphas_cumprod[step]) - schedule.log_one_minus_alphas_cumprod[step]);
}

std::vector<int64_t> dpm_solver_times(const DiffusionSchedule& schedule, int64_t steps, DpmSpacing spacing) {
  const int64_t T = schedule.timesteps, K = steps;
  if (K < 1 || K > T - 1)
    throw std::invalid_argument("--steps: DPM-Solver++ takes 1..T - 1 = " + std::to_string(T - 1) +
                                " steps (K + 1 distinct times from t = T down to t = 1), got " + std::to_string(K));
  // The reference's times (get_time_steps), in steps: t_c(i) for i = 0..K, from T down to 1.
  std::vector<double> continuous(static_cast<size_t>(K + 1));
  const double lambda_T = half_log_snr(schedule, T), lambda_1 = half_log_snr(schedule, 1);
  for (int64_t i = 0; i <= K; ++i) {
    const double u = static_cast<double>(i) / static_cast<double>(K);
    if (spacing == DpmSpacing::TimeUniform) {
      continuous[i] = static_cast<double>(T) - u * static_cast<double>(T - 1);  // linspace(T, 1, K + 1)
    } else {
      const double lambda = lambda_T + u * (lambda_1 - lambda_T);  // linspace(lambda_T, lambda_1, K + 1)
      continuous[i] = time_of_log_alpha(schedule, -0.5 * std::log1p(std::exp(-2.0 * lambda)));  // alpha^2 = sigmoid(2 lambda)
    }
  }
  // Nearest integers, the ends exact; then distinct: down from the top, each below the one before; up from the
  // bottom, each above the one after. Both passes change nothing where rounding kept the times apart.
  std::vector<int64_t> t(static_cast<size_t>(K + 1));
  for (int64_t i = 0; i <= K; ++i) t[i] = static_cast<int64_t>(std::llround(continuous[i]));
  t[0] = T;
  t[K] = 1;
  for (int64_t i = 1; i < K; ++i) t[i] = std::min(t[i], t[i - 1] - 1);
  for (int64_t i = K - 1; i >= 1; --i) t[i] = std::max(t[i], t[i + 1] + 1);
  for (int64_t i = 1; i <= K; ++i)
    if (t[i] >= t[i - 1] || t[i] < 1) throw std::logic_error("dpm_solver_times: times not decreasing");  // cannot happen
  return t;
}

Tensor dpm_solver_reverse(const EpsModel& model, const GaussianDiffusion& diffusion, const Tensor& x_T,
                          const DpmSolverOptions& options, const StepCallback& on_step) {
  if (options.order != 1 && options.order != 2)
    throw std::invalid_argument("dpm_solver: order must be 1 or 2, got " + std::to_string(options.order));
  const DiffusionSchedule& schedule = diffusion.schedule();
  const std::vector<int64_t> t = dpm_solver_times(schedule, options.steps, options.spacing);
  if (x_T.dim() < 1) shape_error("dpm_solver_reverse", "x_T needs a batch axis, got " + describe(x_T));
  NoGradGuard no_grad;
  const int64_t B = x_T.size(0), K = options.steps;

  // The data prediction x_theta(x, t): eps_theta (through the guidance hook), then Ho et al. eq. 15.
  auto x_theta = [&](const Tensor& x, int64_t at) {
    const Tensor step = step_tensor(B, at - 1);
    Tensor x0 = diffusion.predict_x0_from_eps(x, step, guided_eps(model, options.guidance, x, step));
    if (options.clip_x0) x0 = clamp(x0, -1.0, 1.0);
    if (on_step) on_step(at, x0);
    return x0;
  };
  auto alpha = [&](int64_t at) { return std::sqrt(abar(schedule, at)); };
  auto sigma = [&](int64_t at) { return std::sqrt(1.0 - abar(schedule, at)); };

  Tensor x = x_T.contiguous();
  Tensor x0_last = x_theta(x, t[0]);  // x_theta(x_{t_{i-1}}, t_{i-1}); line 3
  Tensor x0_before;                    // x_theta(x_{t_{i-2}}, t_{i-2})
  double h_last = 0.0;                 // h_{i-1}
  for (int64_t i = 1; i <= K; ++i) {
    const double h = half_log_snr(schedule, t[i]) - half_log_snr(schedule, t[i - 1]);  // line 1
    const bool first_order = i == 1 || options.order == 1 || (options.lower_order_final && K < 10 && i == K);
    Tensor D;
    if (first_order) {
      D = x0_last;  // line 4
    } else {
      const double r = h_last / h;  // line 7
      D = x0_last * (1.0 + 1.0 / (2.0 * r)) - x0_before * (1.0 / (2.0 * r));  // line 8
    }
    // Lines 4 and 9: x_{t_i} = (sigma_{t_i} / sigma_{t_{i-1}}) x_{t_{i-1}} - alpha_{t_i} (e^{-h_i} - 1) D_i.
    x = x * (sigma(t[i]) / sigma(t[i - 1])) - D * (alpha(t[i]) * std::expm1(-h));
    h_last = h;
    x0_before = x0_last;
    if (i < K) x0_last = x_theta(x, t[i]);  // line 10: not at t_K
  }
  if (options.denoise_to_zero) x = x_theta(x, 1);  // the reference's denoise_to_zero_fn: x_theta at t_K = 1
  return x;
}

Tensor dpm_solver_sample(const EpsModel& model, const GaussianDiffusion& diffusion, const Shape& shape,
                         const DpmSolverOptions& options, Philox& rng, DType dtype, const StepCallback& on_step) {
  dpm_solver_times(diffusion.schedule(), options.steps, options.spacing);  // refuse a bad K before drawing
  NoGradGuard no_grad;
  FrozenWeights frozen_weights;  // the model is fixed throughout: the ops keep what they derive from its weights
  const Tensor x_T = randn(shape, rng, dtype);
  return dpm_solver_reverse(model, diffusion, x_T, options, on_step);
}

}  // namespace diffuse::diffusion
