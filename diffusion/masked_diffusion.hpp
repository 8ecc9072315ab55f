// Masked diffusion in continuous time (MD4: Shi et al. 2024, "Simplified and Generalized Masked Diffusion
// for Discrete Data"; MDLM: Sahoo et al. 2024, "Simple and Effective Masked Diffusion Language Models").
// docs/math.md §6.
//
// Forward process: each token of x0 is kept with probability alpha_t and replaced by the mask otherwise,
// independently, for t in [0, 1] (masked_schedule.hpp).
//
// The network mu_theta(x_t) [B, L, V] gives logits over the V data tokens only: the SUBS parameterisation
// (MDLM §3.2.3) gives the mask zero probability, and an unmasked position carries its token over, so it
// adds nothing to the bound. The negative ELBO of one sequence of L tokens (MD4 eq. 5, MDLM eq. 10):
//   L = L_prior + L_recon + int_0^1 w(t) E_q[ sum over masked n of -log mu_theta(x_t)^n[x0^n] ] dt,
//   w(t) = -alpha'_t / (1 - alpha_t),
//   L_prior = L alpha_1 log V   (KL to the prior that leaves a token unmasked with probability alpha_1 and
//                                uniform over the V tokens: MD4 takes it as 0),
//   L_recon = L (1 - alpha_0) log V  (the tokens still masked at t = 0 decoded uniformly, as MD4's recon_loss).
// With these two terms a predictor that gives 1/V to every token has L = L log V exactly, whatever the
// schedule. The integral is estimated with one t per sequence, drawn low-discrepancy across the batch:
// t_i = (u + i / B) mod 1 (MD4's antithetic time sampling).
//
// In discrete time with T steps (t_i = i / T, s_i = (i - 1) / T) the i-th term of the bound is
//   ((alpha_s - alpha_t) / (1 - alpha_t)) E_q[ sum over masked n of -log mu_theta(x_t)^n[x0^n] ],
// which is exactly D3PM's absorbing-state L_{t-1} with an x0-parameterisation (Austin et al. eq. 4) when
// abar_t = alpha_{t/T}: tests/test_masked_diffusion.cpp checks the two against each other.
//
// Shapes: x0, x_t int32 [B, L] (ids 0..V-1, the mask V); t float64 [B]; logits [B, L, V] float32 (float64
// in tests). Schedules and weights in double; the loss in the logits' dtype.
#pragma once
#include <functional>
#include <vector>

#include "diffusion/masked_schedule.hpp"
#include "tensor/random.hpp"
#include "tensor/tensor.hpp"

namespace diffuse::diffusion {

// mu_theta's logits: x_t int32 [B, L], t float64 [B] -> [B, L, V].
using MaskedX0Model = std::function<Tensor(const Tensor& x_t, const Tensor& t)>;

struct MaskedLoss {
  Tensor loss;         // scalar: the batch mean of per_example over L ln 2 (bits per token), differentiable
  Tensor per_example;  // [B]: w(t) * masked_ce, nats (the integral's one-t estimate)
  Tensor masked_ce;    // [B]: sum over masked positions of -log mu_theta(x_t)[x0], nats
};

enum class MaskedSamplingGrid { Uniform, Cosine };

struct MaskedSampleOptions {
  int64_t steps = 1000;                               // K reverse steps from t = 1 to 0
  MaskedSamplingGrid grid = MaskedSamplingGrid::Cosine;  // where the K steps fall in t (MD4's grids)
  // Reuse a row's network output while none of its tokens changed (MDLM's caching). Exact only for a
  // network that does not read t; the caller says whether it does.
  bool reuse_outputs = true;
  bool model_reads_t = false;
  // int32 [B, L] or [L]: tokens given by the user (prefix, infill), -1 where the sampler generates. The
  // given positions are never masked.
  Tensor given;
  int64_t record_every = 0;  // record x_t every this many steps (0: never) and at the end
  std::function<void()> on_step;  // called after each of the K steps (progress), or empty
};

struct MaskedSampleResult {
  Tensor x0;                              // int32 [B, L]
  int64_t network_evaluations = 0;        // rows the network was run on (one row = one sequence)
  int64_t evaluations_saved = 0;          // rows whose previous output was reused
  std::vector<double> recorded_t;         // the t of each recorded state
  std::vector<Tensor> recorded;           // x_t at those t
};

class MaskedDiffusion {
 public:
  MaskedDiffusion(const MaskedSchedule& schedule, int64_t vocab);

  const MaskedSchedule& schedule() const { return schedule_; }
  int64_t vocab() const { return vocab_; }
  int32_t mask_id() const { return static_cast<int32_t>(vocab_); }

  // t_i = (u + i / B) mod 1 with one u ~ U(0, 1) from rng (MD4's antithetic draw): float64 [batch].
  static Tensor sample_t(int64_t batch, Philox& rng);
  // float64 [batch] filled with t.
  static Tensor t_tensor(int64_t batch, double t);

  // x_t ~ q(x_t | x0): position n of row b keeps x0 when u < alpha_{t_b}, one double uniform per position
  // from rng (row-major), and is the mask otherwise. Positions where `given` (int32 like x0, or undefined)
  // is >= 0 are never masked.
  Tensor q_sample(const Tensor& x0, const Tensor& t, Philox& rng, const Tensor& given = Tensor()) const;

  // sum over masked positions of x_t of -log softmax(logits)[x0]: [B], nats, differentiable in logits.
  Tensor masked_cross_entropy(const Tensor& logits, const Tensor& x0, const Tensor& x_t) const;
  // MD4 eq. 5 at one t per example: w(t) * masked_cross_entropy, and their mean in bits per token.
  MaskedLoss loss_from_logits(const Tensor& logits, const Tensor& x0, const Tensor& x_t, const Tensor& t) const;
  MaskedLoss training_loss_at(const MaskedX0Model& model, const Tensor& x0, const Tensor& t, const Tensor& x_t) const;

  // The bound's constant terms for a sequence of `length` tokens, nats.
  double prior_nats(int64_t length) const;           // L alpha_1 log V
  double reconstruction_nats(int64_t length) const;  // L (1 - alpha_0) log V
  // The weight of the i-th of T discrete-time terms (i = 1..T): (alpha_s - alpha_t) / (1 - alpha_t) with
  // t = i / T, s = (i - 1) / T.
  double discrete_weight(int64_t i, int64_t timesteps) const;

  // Ancestral sampling (MD4 §4, MDLM §3.3): from all-mask at t = 1, K steps down a grid; at each step from
  // t to s every masked position is unmasked with probability (alpha_s - alpha_t) / (1 - alpha_t) to a
  // draw from mu_theta(x_t); the last step unmasks what is left. Two double uniforms per position per
  // step from rng whether or not they are used, so reusing outputs changes no draw.
  MaskedSampleResult sample(const MaskedX0Model& model, int64_t batch, int64_t length, Philox& rng,
                            const MaskedSampleOptions& options = {}) const;
  // The step's times on the grid: step k = 0..K-1 goes from t = grid((K - k) / K) to s = grid((K - k - 1) / K),
  // grid(u) = u (uniform) or sin(pi/2 u) (MD4's cosine grid: finer near t = 1, where the first tokens appear).
  static double grid_time(MaskedSamplingGrid grid, int64_t k, int64_t steps);

 private:
  MaskedSchedule schedule_;
  int64_t vocab_;
};

}  // namespace diffuse::diffusion
