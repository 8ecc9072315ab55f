// D3PM noise schedules (Austin et al. 2021, §3.2 and Appendix A.7; docs/math.md §3.4), in double precision,
// and the mutual information that the MI schedule equalises.
//
// ---- How the paper's t maps to arrays and tensors (the one place this is decided for D3PM) ----------
// Paper steps run t = 1..T; t = 0 is the data. Every per-step array of the D3PM code has T + 1 entries and
// is indexed by the paper's t itself: betas[t] = beta_t (betas[0] = 0, unused), abar[t] = abar_t with
// abar[0] = 1, exponents[t] = e_t with e_0 = 0, the cached matrices Qbar[t] = Qbar_t with Qbar_0 = I, and
// Q_t for t = 1..T. The int32 tensors named `t` in the D3PM API (d3pm_diffusion.hpp, d3pm_elbo.hpp,
// d3pm_sampler.hpp) hold the paper's t in 1..T too. The network alone sees a 0-based step: X0Model receives
// step = t - 1 (what nn::Transformer's timestep embedding takes, and the DDPM code's `step`).
// Loops over the reverse process are written for t = T..1. docs/math.md §1.2 and §1.4 restate this and list
// the names in the code that still differ from `t`, `s` and `step`.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "diffusion/d3pm_matrix.hpp"

namespace diffuse::diffusion {

enum class D3pmScheduleKind {
  Linear,      // beta_t linear from beta_start to beta_end over t = 1..T
  Cosine,      // abar_t = f(t)/f(0), f(t) = cos(((t/T) + s)/(1 + s) pi/2) (no square: the D3PM code's form),
               // beta_t = min(1 - abar_t/abar_{t-1}, max_beta)
  Jsd,         // beta_t = 1/(T - t + 1): abar_t = 1 - t/T, all mass moved at T
  MutualInfo,  // I(x_t; x0) = (1 - t/T) H(x0) under a unigram distribution, solved numerically
  VqDiffusion, // mask-and-replace: abar_t and gammabar_t linear in t (VQ-Diffusion's cumulative schedule)
  Spindle,     // absorbing only: DiffusionBERT's token-dependent masking probability
};
D3pmScheduleKind parse_d3pm_schedule(const std::string& name);  // "linear" | "cosine" | "jsd" | "mi" | "vq" | "spindle"
const char* d3pm_schedule_name(D3pmScheduleKind kind);

// ---- beta schedules: T + 1 entries, betas[0] = 0 -------------------------------------------------------
std::vector<double> d3pm_linear_betas(int64_t timesteps, double beta_start, double beta_end);
std::vector<double> d3pm_cosine_betas(int64_t timesteps, double cosine_s = 0.008, double max_beta = 0.999);
std::vector<double> d3pm_jsd_betas(int64_t timesteps);  // 1/(T - t + 1): Austin et al. §3.2, Appendix A.6-A.7
// abar[t] = prod_{s=1..t} (1 - betas[s]), abar[0] = 1.
std::vector<double> cumulative_alphas(const std::vector<double>& betas);
// e[t] = sum_{s=1..t} betas[s], e[0] = 0: the nearest-neighbour kind's cumulative exponent under a beta
// schedule (the reference code's choice: Q_t = expm(beta_t R)). Austin et al. eq. 16's sum of exponents.
std::vector<double> cumulative_exponents(const std::vector<double>& betas);

// ---- mutual information ----------------------------------------------------------------------------------
// H(p) in nats (0 log 0 = 0).
double entropy_nats(const std::vector<double>& p);
// I(x_t; x0) in nats for x0 ~ p and q(x_t | x0) = row x0 of qbar:
//   sum_i p_i sum_j Qbar_ij log(Qbar_ij / (p Qbar)_j). O(K^2). The I(x_t; x0) of Austin et al. eq. 17.
double mutual_information(const std::vector<double>& p, const DenseMatrix& qbar);

// The MI schedule for a kind whose Qbar_t is set by one number abar_t in [0, 1] and whose information
// info(abar) increases with it (uniform, absorbing): abar[t] for t = 0..T with info(abar_t) = (1 - t/T) H,
// by bisection on abar in [0, abar_{t-1}] to full double precision; abar_0 = 1, abar_T = 0. Austin et al.
// eq. 17, solved.
std::vector<double> mutual_info_abar(const std::function<double(double)>& info, double entropy, int64_t timesteps);
// The MI schedule for a kind whose Qbar_t = expm(e_t R) (nearest neighbour): e[t] for t = 0..last with
// info(e_t) = (1 - t/T) H (info decreasing in e), by bisection on e in [e_{t-1}, e_max] (bracket grown
// geometrically from e_{t-1}). The target 0 at t = T (reached only at e = infinity) is replaced by 1e-12 H;
// a target below info(e_max) (a disconnected graph) gives e_max. Entries after `last` are not solved (left
// equal to e_last). Austin et al. eq. 17, solved for the exponents of eq. 16.
std::vector<double> mutual_info_exponents(const std::function<double(double)>& info, double entropy,
                                          int64_t timesteps, int64_t last, double e_max);

// I(x_t; x0) in O(K) for the closed-form kinds, p over all K states (zero on an extra mask):
//   uniform over the data states `is_data` with Qbar = abar I + (1 - abar)/K_d 11^T there (an extra mask
//   isolated), and absorbing with Qbar = abar I + (1 - abar) 1 e_m^T.
double uniform_mutual_information(const std::vector<double>& p, const std::vector<char>& is_data, double abar);
double absorbing_mutual_information(const std::vector<double>& p, int64_t mask, double abar);

// ---- mask-and-replace (VQ-Diffusion) ------------------------------------------------------------------
// The cumulative values set directly: abar_t linear from abar_start (t = 1) to abar_end (t = T), gammabar_t
// linear from gbar_start to gbar_end; abar_0 = 1, gbar_0 = 0. Per step: alpha_t = abar_t/abar_{t-1},
// gamma_t = 1 - (1 - gbar_t)/(1 - gbar_{t-1}), beta_t = (1 - alpha_t - gamma_t)/K_d. T + 1 entries each.
// Gu et al. 2022 (VQ-Diffusion); docs/math.md §3.4.5.
struct MaskReplaceSchedule {
  std::vector<double> abar, gbar, bbar;   // bbar_t = (1 - abar_t - gbar_t)/K_d
  std::vector<double> alpha, beta, gamma; // entry 0 unused (alpha 1, beta 0, gamma 0)
};
MaskReplaceSchedule vq_diffusion_schedule(int64_t timesteps, int64_t num_data, double abar_start = 0.99999,
                                          double abar_end = 0.000009, double gbar_start = 0.000009,
                                          double gbar_end = 0.99999);

// ---- spindle (DiffusionBERT), absorbing only --------------------------------------------------------
// w_i = log(count_i + 1) / max_j log(count_j + 1) from training-set token counts.
std::vector<double> spindle_weights(const std::vector<double>& counts);
// The masking probability of a token of weight w in a sequence whose mean weight is c, at t:
//   clip(t/T + lambda sin(pi t/T) (w - c), 0, 0.999) for t < T, and 1 at t = T
// (our choice: the literal clip would leave 0.1% of tokens unmasked at T, with an all-mask prior whose KL
// is then infinite; DiffusionBERT's code sets abar_T = 0 the same way). A token's abar_t is 1 minus this.
// Monotone in t when |lambda| pi <= 1 (|w - c| <= 1), which the process checks. He et al. 2022
// (DiffusionBERT); docs/math.md §3.4.6.
double spindle_mask_prob(int64_t t, int64_t timesteps, double lambda, double w, double c);

}  // namespace diffuse::diffusion
