// DDPM noise schedules and every constant derived from them (Ho et al. 2020; docs/math.md §2.2), in
// double precision. Nothing here touches a tensor: GaussianDiffusion casts a constant to the tensor's
// dtype only at the moment it multiplies a tensor.
//
// ---- How the paper's t maps to arrays (the one place this is decided) ------------------------------
// The paper's steps run t = 1..T. Every per-step array below has T entries and entry step = t - 1 holds
// the value at the paper's t: betas[0] = beta_1, alphas_cumprod[T-1] = abar_T. The int32 `step` tensors
// that the diffusion API and the network take hold the same 0-based step = t - 1 (the reference code's
// convention, and what the U-Net's timestep embedding expects). abar_0 = 1 is not stored in
// alphas_cumprod; it appears as alphas_cumprod_prev[0]. Loops over the reverse process are written in
// paper terms (for t = T..1) and index with step = t - 1. docs/math.md §1.2-§1.3 restates this.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace diffuse::diffusion {

enum class BetaScheduleKind {
  Linear,  // linspace(beta_start, beta_end, T)                       (the paper: 1e-4 .. 0.02, T = 1000)
  Cosine,  // Nichol & Dhariwal 2021: abar(t) = f(t)/f(0), f(t) = cos^2(((t/T + s)/(1 + s)) pi/2),
           // beta_t = min(1 - abar(t)/abar(t-1), max_beta)
  Quad,    // linspace(sqrt(beta_start), sqrt(beta_end), T)^2       (the reference code's "quad")
  Const,   // beta_end everywhere
  Jsd,     // beta_t = 1/(T - t + 1): 1/T, 1/(T-1), ..., 1
  Sqrt,    // Diffusion-LM (Li et al. 2022, Appendix A): abar(u) = 1 - sqrt(u + s), s = sqrt_s, at u = t/T;
           // beta_t = min(1 - abar(t/T)/abar((t-1)/T), max_beta). The product of the alphas is therefore
           // abar(t/T)/abar(0) = (1 - sqrt(t/T + s))/(1 - sqrt(s)) until the clip; abar(1) < 0, so beta_T is
           // always the clip (the reference code's betas_for_alpha_bar).
};

struct BetaScheduleConfig {
  BetaScheduleKind kind = BetaScheduleKind::Linear;
  int64_t timesteps = 1000;  // T
  double beta_start = 1e-4;  // linear, quad
  double beta_end = 0.02;    // linear, quad, const
  double cosine_s = 0.008;   // cosine offset s
  double max_beta = 0.999;   // cosine and sqrt clip
  double sqrt_s = 1e-4;      // sqrt offset s
};

// "linear", "cosine", "quad", "const", "jsd", "sqrt" (throws std::invalid_argument naming the choices).
BetaScheduleKind parse_beta_schedule(const std::string& name);
const char* beta_schedule_name(BetaScheduleKind kind);

// The T betas of a schedule, betas[t-1] = beta_t.
std::vector<double> make_betas(const BetaScheduleConfig& config);

// The linear schedule rescaled for T steps (Nichol & Dhariwal's convention): endpoints
// 1e-4 * 1000/T and 0.02 * 1000/T, so a short chain still ends near pure noise. For tests and
// CPU-sized runs; the paper's T = 1000 gives back 1e-4 .. 0.02. Valid for T >= 21 (below, beta_T > 1,
// which make_schedule refuses).
BetaScheduleConfig scaled_linear(int64_t timesteps);

// The fixed reverse-process variance sigma_t^2 (Ho et al. §3.2; docs/math.md §2.5): "large" beta_t, "small" beta~_t.
enum class VarianceType { Large, Small };
VarianceType parse_variance_type(const std::string& name);  // "large" | "small"
const char* variance_type_name(VarianceType type);

// All constants of the diffusion, each an array of T doubles indexed by step = t - 1.
struct DiffusionSchedule {
  int64_t timesteps = 0;  // T

  std::vector<double> betas;                        // beta_t
  std::vector<double> alphas;                       // alpha_t = 1 - beta_t
  std::vector<double> alphas_cumprod;               // abar_t = prod_{s<=t} alpha_s  (Ho et al. eq. 4)
  std::vector<double> alphas_cumprod_prev;          // abar_{t-1}, with abar_0 = 1
  std::vector<double> sqrt_alphas_cumprod;          // sqrt(abar_t)
  std::vector<double> sqrt_one_minus_alphas_cumprod;  // sqrt(1 - abar_t)
  std::vector<double> log_one_minus_alphas_cumprod;   // log(1 - abar_t)
  std::vector<double> sqrt_recip_alphas_cumprod;      // 1/sqrt(abar_t)
  std::vector<double> sqrt_recipm1_alphas_cumprod;    // sqrt(1/abar_t - 1)
  std::vector<double> sqrt_recip_alphas;              // 1/sqrt(alpha_t)            (eps form of mu_theta)
  std::vector<double> eps_coef;                       // beta_t / sqrt(1 - abar_t)  (eps form of mu_theta)

  // q(x_{t-1} | x_t, x0) = N(coef1 x0 + coef2 x_t, beta~_t I)  (Ho et al. eqs. 6-7)
  std::vector<double> posterior_variance;           // beta~_t = beta_t (1 - abar_{t-1}) / (1 - abar_t); beta~_1 = 0
  std::vector<double> posterior_mean_coef1;         // sqrt(abar_{t-1}) beta_t / (1 - abar_t)
  std::vector<double> posterior_mean_coef2;         // sqrt(alpha_t) (1 - abar_{t-1}) / (1 - abar_t)

  // Clipped log-variances (the reference code's): beta~_1 = 0 has no logarithm, so step 0 borrows
  // beta~_2 in both.
  //   small: log[beta~_2, beta~_2, beta~_3, ..., beta~_T]  (also the true posterior's log-variance in the KL)
  //   large: log[beta~_2, beta_2,  beta_3,  ..., beta_T]
  std::vector<double> posterior_log_variance_clipped;  // = the "small" array
  std::vector<double> log_variance_large;

  // The reverse process's variance sigma_t^2 and its (clipped) logarithm for a variance type. The
  // unclipped variance is what the reference reports; only the log-variance enters sampling and the bound.
  const std::vector<double>& model_variance(VarianceType type) const;
  const std::vector<double>& model_log_variance(VarianceType type) const;
};

// Derives every constant from betas (each in (0, 1], at least two steps); throws std::invalid_argument
// otherwise. The constants of Ho et al. eq. 4 (abar_t), eq. 7 (mu~_t's coefficients, beta~_t) and eq. 11
// (1/sqrt(alpha_t), beta_t/sqrt(1 - abar_t)); docs/math.md §2.2.
DiffusionSchedule make_schedule(std::vector<double> betas);
inline DiffusionSchedule make_schedule(const BetaScheduleConfig& config) { return make_schedule(make_betas(config)); }

}  // namespace diffuse::diffusion
