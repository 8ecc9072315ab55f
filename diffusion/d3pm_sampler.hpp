// Ancestral sampling from a D3PM (Austin et al. 2021, eq. 4 and §3.3; docs/math.md §3.11): x_T from the
// prior (all mask for the absorbing and mask-and-replace kinds and the nearest-neighbour kind with its final
// mask step; uniform over the data states otherwise), then for t = T, T - k, ..., a draw from
// p_theta(x_s | x_t) with s = max(t - k, 0):
//   k = 1: p_theta(x_{t-1} | x_t) through the one-step Q_t (D3pm::p_logits);
//   k > 1: p_theta(x_s | x_t) proportional to (x_t (Q_{s+1} ... Q_t)^T) .* (ptilde Qbar_s) (D3pm::p_logits_skip);
//          when k does not divide T the last jump (to s = 0) is shorter. ceil(T / k) network evaluations;
//          or, with options.steps, the visited t of d3pm_reverse_steps.
// The step to s = 0 applies the decoder choice (D3pmDecoder). Each draw is Gumbel-max on Philox noise
// (sample_categorical: B * L * K Gumbel values per step from rng), or the argmax. Runs under NoGradGuard.
#pragma once
#include <vector>

#include "diffusion/d3pm_diffusion.hpp"
#include "diffusion/token_draw.hpp"  // argmax_last
#include "tensor/random.hpp"

namespace diffuse::diffusion {

// The t visited by a reverse process of `reverse_steps` network evaluations over T steps, from T down:
// t_i = floor(i T / reverse_steps) for i = reverse_steps..1, so the jumps differ by at most one
// (reverse_steps = T: every t; 256 of T = 1000: jumps of 3 and 4). The sampler and the strided bound
// (d3pm_elbo.hpp) share it.
std::vector<int64_t> d3pm_reverse_steps(int64_t timesteps, int64_t reverse_steps);

struct D3pmSampleOptions {
  int64_t skip = 1;                // k: steps taken per network evaluation
  int64_t steps = 0;               // > 0: instead of skip, this many evaluations at d3pm_reverse_steps(T, steps)
  bool argmax = false;             // the most likely state at each step instead of a draw
  int64_t record_every = 0;        // progressive output: x_t at every visited t divisible by this (0: none)
  std::vector<int64_t> record_at;  // ... and at these visited t (T: the prior draw, 0: the final sample)
  Tensor x_T;                      // int32 [B, L] start; undefined: a draw from the prior
};

struct D3pmSampleResult {
  Tensor x0;                        // int32 [B, L]
  std::vector<int64_t> visited;     // the t of each network evaluation, in order (T first)
  std::vector<int64_t> recorded_t;  // progressive output: the t of each recorded state, in order
  std::vector<Tensor> recorded;     // x_t at those t
  int64_t network_evaluations = 0;
};

// Draws from Austin et al. eq. 4 (k = 1) or its k-step form of §3.3, from T down to 0.
D3pmSampleResult d3pm_sample(const X0Model& model, const D3pm& d3pm, int64_t batch, int64_t length, Philox& rng,
                             const D3pmSampleOptions& options = {});

}  // namespace diffuse::diffusion
