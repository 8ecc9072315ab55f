// DPM-Solver++(2M) (Lu, Zhou, Bao, Chen, Li, Zhu 2022, "DPM-Solver++: Fast Solver for Guided Sampling of
// Diffusion Probabilistic Models", arXiv 2211.01095, Algorithm 2; docs/math.md §8.5-§8.7): the second-order
// multistep solver of the diffusion ODE in its data-prediction form, for a DDPM eps-model in 10-20 network
// evaluations.
//
// The discrete schedule gives, at the paper's t = 1..T (all in double):
//   alpha_t = sqrt(abar_t),  sigma_t = sqrt(1 - abar_t),  lambda_t = log(alpha_t / sigma_t)
// and the data prediction x_theta(x, t) = x0_hat of Ho et al. eq. 15 (clipped to [-1, 1] when clip_x0: the
// static thresholding of Saharia et al. 2022, which the data-prediction form makes possible). On times
// T = t_0 > t_1 > ... > t_K = 1, with h_i = lambda_{t_i} - lambda_{t_{i-1}}:
//
//   x_{t_1} = (sigma_{t_1} / sigma_{t_0}) x_{t_0} - alpha_{t_1} (e^{-h_1} - 1) x_theta(x_{t_0}, t_0)
//             (Algorithm 2, line 4: DPM-Solver++1, which is DDIM at eta = 0)
//   for i = 2..K:  r_i = h_{i-1} / h_i
//             D_i = (1 + 1/(2 r_i)) x_theta(x_{t_{i-1}}, t_{i-1}) - 1/(2 r_i) x_theta(x_{t_{i-2}}, t_{i-2})
//             x_{t_i} = (sigma_{t_i} / sigma_{t_{i-1}}) x_{t_{i-1}} - alpha_{t_i} (e^{-h_i} - 1) D_i
//             (lines 7-9)
//
// K network evaluations, at t_0..t_{K-1} (line 10: none at t_K). Like the reference code (dpm_solver_pytorch.py,
// method "multistep", lower_order_final), the last step is first order when K < 10. The output is x at t = 1
// (the reference's default denoise_to_zero = False): a sample still carrying noise of standard deviation
// sigma_1 = sqrt(beta_1) (0.01 for the paper's schedule); with denoise_to_zero, one more evaluation returns
// x_theta(x_{t_1}, 1) instead, the denoised prediction, as the ancestral sampler's last step does.
//
// The times are integers: the network was trained on the discrete steps, so it is asked only at those, at
// step t - 1 (beta_schedule.hpp). The reference maps its continuous time t_c in [1/T, 1] to the network input
// T t_c - 1 (for T = 1000) and interpolates log alpha linearly between the nodes; its times t_c are rounded here
// to the nearest node T t_c, so every alpha, sigma and lambda is the schedule's own (docs/math.md §8.6).
#pragma once
#include <string>
#include <vector>

#include "diffusion/ddim_sampler.hpp"
#include "diffusion/gaussian_diffusion.hpp"
#include "tensor/random.hpp"

namespace diffuse::diffusion {

// The spacing of the K + 1 times (the reference's skip_type).
enum class DpmSpacing {
  LogSnr,       // lambda evenly spaced from lambda_T to lambda_1: the reference's "logSNR", the one its example for
                // the DDPM CIFAR-10 checkpoint runs and its docstring recommends for low-resolution images (default)
  TimeUniform,  // t evenly spaced from T to 1: the reference's "time_uniform", sample()'s default argument
};
DpmSpacing parse_dpm_spacing(const std::string& name);  // "logsnr" | "uniform"
const char* dpm_spacing_name(DpmSpacing spacing);

struct DpmSolverOptions {
  int64_t steps = 20;                       // K: network evaluations (K + 1 with denoise_to_zero), 1..T - 1
  DpmSpacing spacing = DpmSpacing::LogSnr;
  int order = 2;                            // 2: DPM-Solver++(2M); 1: DPM-Solver++1 at every step (= DDIM, eta = 0)
  bool clip_x0 = true;                      // clip x_theta to [-1, 1], as the DDPM sampler's default (the
                                            // reference clips only with its dynamic thresholding, off by default)
  bool lower_order_final = true;            // the last step first order when K < 10 (the reference's default)
  bool denoise_to_zero = false;             // return x_theta(x_1, 1) after one more evaluation (reference: False)
  EpsGuidance guidance;                     // optional: replaces eps_theta's output (ddim_sampler.hpp)
};

// The times t_0 = T > t_1 > ... > t_K = 1, as the paper's t. Each is the reference's continuous time for the
// spacing (times T), rounded to the nearest integer; where rounding makes two equal (logSNR near t = 1, where
// lambda moves fast), the later one moves down by one, and if that reaches 1 too early the earlier ones move up
// (distinct integers always exist for K <= T - 1). Throws std::invalid_argument naming --steps unless
// 1 <= K <= T - 1.
std::vector<int64_t> dpm_solver_times(const DiffusionSchedule& schedule, int64_t steps, DpmSpacing spacing);

// lambda_t = log(alpha_t / sigma_t) = (log abar_t - log(1 - abar_t)) / 2 at the paper's t = 1..T.
double half_log_snr(const DiffusionSchedule& schedule, int64_t t);

// Solves from x at t_0 = T to t_K = 1 (Algorithm 2) and returns x_1, or x_theta(x_1, 1) with denoise_to_zero.
// on_step is called after each network evaluation with its t and x_theta (K calls, K + 1 with denoise_to_zero).
Tensor dpm_solver_reverse(const EpsModel& model, const GaussianDiffusion& diffusion, const Tensor& x_T,
                          const DpmSolverOptions& options, const StepCallback& on_step = {});

// A batch of samples of `shape`: x_T ~ N(0, I) in `dtype`, then dpm_solver_reverse. The only draw is x_T.
Tensor dpm_solver_sample(const EpsModel& model, const GaussianDiffusion& diffusion, const Shape& shape,
                         const DpmSolverOptions& options, Philox& rng, DType dtype = DType::F32,
                         const StepCallback& on_step = {});

}  // namespace diffuse::diffusion
