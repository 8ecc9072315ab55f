// The D3PM variational bound in bits per token (Austin et al. 2021, eq. 1, the figure of their Tables 1 and
// 3; docs/math.md §3.10): L = L_T + sum_{t=2..T} L_{t-1} + L_0 with L_T = KL(q(x_T | x0) || p(x_T)),
// L_{t-1} = KL(q(x_{t-1} | x_t, x0) || p_theta(x_{t-1} | x_t)), L_0 = -log p_theta(x0 | x1) (the decoder
// choice of D3pmDecoder), every term summed over the L positions of a sequence, in nats;
// bits per token = that total / (L ln 2), averaged over the sequences.
//
// Two methods; the result always says which was used, on how many sequences and with how many network
// evaluations:
//   exact:    every t = T..1, each at a fresh x_t ~ q(x_t | x0): T network evaluations per batch of
//             sequences (the reference's discrete_diffusion_elbo with step size 1); per-t terms returned.
//             With reverse_steps < T, the exact bound of the step-skipping reverse process that visits
//             t_K = T > ... > t_1 (d3pm_reverse_steps): L_T + sum_i KL(q(x_{t_{i-1}} | x_{t_i}, x0) ||
//             p_theta(x_{t_{i-1}} | x_{t_i})) + (-log p_theta(x0 | x_{t_1})), one evaluation per visited t.
//   estimate: L_T + L_0 (at a fresh x_1) + the mean over `draws` draws of (T - 1) L_{t-1} at t ~ U{2..T},
//             an unbiased estimate of the bound at 1 + draws network evaluations per batch. L_0 is taken
//             out of the draw: for a young image model it is most of the bound (5.1 of 8.1 bits/dim after
//             544 training iterations of d3pm-cifar10-small), and a uniform t would see it once in T draws.
// Both run under NoGradGuard, and evaluate the terms in float64 from the model's logits.
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "diffusion/d3pm_diffusion.hpp"
#include "tensor/random.hpp"

namespace diffuse::diffusion {

struct D3pmElboResult {
  std::string method;               // "exact" or "estimate"
  std::string kind, decoder;        // the process (d3pm_kind_name) and the L_0 choice (d3pm_decoder_name)
  int64_t num_sequences = 0;
  int64_t seq_len = 0;              // L
  int64_t timesteps = 0;            // T
  int64_t steps = 0;                // exact: reverse steps (T, or fewer with skipping); estimate: 0
  int64_t draws = 0;                // estimate: draws per sequence; exact: 0
  int64_t network_evaluations = 0;  // model calls, each on one batch of sequences
  // exact only, one entry per visited t in increasing order: term_t[i] is the t and terms_nats[i] the term
  // of the jump from it to the next lower visited t (or to 0), nats per sequence averaged over the
  // sequences. Without skipping, term_t = 1..T and terms_nats[t - 1] = L_{t-1} (entry 0 is L_0).
  std::vector<int64_t> term_t;
  std::vector<double> terms_nats;
  double prior_nats = 0;            // L_T per sequence, averaged
  double total_nats = 0;            // the bound per sequence, averaged
  double bits_per_token = 0;        // total_nats / (L ln 2)
  double stderr_bits = 0;           // standard error of bits_per_token across sequences
  std::vector<double> per_sequence_bits;

  nlohmann::json to_json() const;   // every field, for writing next to a run's outputs
  static D3pmElboResult from_json(const nlohmann::json& j);  // the inverse of to_json
};

// Called before each network evaluation with the batch's first sequence index, the paper's t of each
// sequence (int32 [n]) and the x_t the model is given (for tests and progress lines).
using D3pmElboObserver = std::function<void(int64_t first_sequence, const Tensor& t_batch, const Tensor& x_t)>;

// x0: int32 [N, L]. batch_size 0 evaluates all sequences in one batch. reverse_steps 0 means T.
// d3pm_elbo_exact: every term of Austin et al. eq. 1 (of the strided process when reverse_steps < T);
// d3pm_elbo_estimate: the stratified estimate of eq. 1 (docs/math.md §3.10).
D3pmElboResult d3pm_elbo_exact(const X0Model& model, const D3pm& d3pm, const Tensor& x0, Philox& rng,
                               int64_t batch_size = 0, const D3pmElboObserver& observer = {},
                               int64_t reverse_steps = 0);
D3pmElboResult d3pm_elbo_estimate(const X0Model& model, const D3pm& d3pm, const Tensor& x0, Philox& rng,
                                  int64_t draws = 1, int64_t batch_size = 0, const D3pmElboObserver& observer = {});

// Combines results of one method on disjoint sets of sequences (b's after a's), weighting by
// num_sequences. Throws if the method, process, lengths, steps or draws differ.
D3pmElboResult merge_d3pm_elbo(const D3pmElboResult& a, const D3pmElboResult& b);

}  // namespace diffuse::diffusion
