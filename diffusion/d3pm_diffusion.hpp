// D3PM discrete diffusion on tensors (Austin et al. 2021, eqs. 1 and 3-5; docs/math.md §3): the forward process q, its
// posterior, the x0-parameterised reverse process p_theta, the variational bound's terms and the hybrid
// training loss. The network is a callback (X0Model) that returns the logits of ptilde(x0 | x_t).
//
// Shapes: sequences x0, x_t are int32 [B, L] (a text window, or an image's flattened subpixels); `t_batch`
// is int32 [B], each example's t in 1..T (0..T where q(x_t | x0) allows t = 0), and `s_batch` its s in
// 0..T-1; the per-example values read from them are the vectors `t`, `s`. Model logits are [B, L, K]
// float32 (float64 in gradient checks) and every result takes the logits' dtype. Index convention:
// d3pm_schedules.hpp. All constants are double until they are written into a tensor.
//
// Numerics (docs/math.md §3.13): log space with eps = 1e-20,
//   logits of p_theta(x_{t-1} | x_t) = log(x_t Q_t^T + eps) + log(ptilde Qbar_{t-1} + eps),
// the extra mask's logit of ptilde forced to -inf, KL terms clamped at >= 0 per position.
// The uniform, absorbing and mask-and-replace kinds use their closed forms (no K x K matrix); the Gaussian
// and nearest-neighbour kinds use the cached double matrices of D3pmProcess, cast to the logits' dtype.
//
// Spindle (absorbing with DiffusionBERT's token-dependent schedule): the forward process of a position
// holding token i masks it with probability spindle_mask(t, i, c), c = the sequence's mean weight. Given c,
// each position is a Markov chain whose one-step matrix depends on the current state, so every formula
// above holds with state-dependent keep probabilities. q uses c from x0; p_theta cannot see x0, so it uses
//   c_hat = mean over positions of (x_t unmasked ? w(x_t) : E_ptilde[w])
// (differentiable in ptilde): a valid reverse process, so the bound stays a bound. (DiffusionBERT's own code
// feeds p the true x0's weights during evaluation.) A perfect ptilde gives c_hat = c and L_{t-1} = 0.
#pragma once
#include <functional>

#include "diffusion/d3pm_process.hpp"
#include "tensor/tensor.hpp"

namespace diffuse {
class Philox;
}

namespace diffuse::diffusion {

// ptilde_theta(x0 | x_t): x_t int32 [B, L], step int32 [B] = t - 1 (0-based, as nn::Transformer takes it)
// -> logits [B, L, K]. The extra mask's logit is ignored (forced to -inf by the diffusion).
using X0Model = std::function<Tensor(const Tensor& x_t, const Tensor& step)>;

// One training batch's objective. The per-example term is the reference codes' (Austin et al. eq. 5; docs/math.md §3.9): the
// single term L_{t-1} at the example's sampled t (NOT T * L_{t-1}) plus lambda times the cross-entropy at
// the same x_t; each summed over the L positions (nats per sequence, as the reference text code sums). The
// loss the gradient is taken of is their batch mean, in those units or (loss_bits_per_dim) in bits per
// position, as the reference image code trains.
struct D3pmLoss {
  Tensor loss;         // scalar: the batch mean of per_example, over L ln 2 when loss_bits_per_dim (differentiable)
  Tensor per_example;  // [B]: vb + hybrid_lambda * ce
  Tensor vb;           // [B]: L_{t-1} for t >= 2, L_0 = -log p_theta(x0 | x1) for t = 1 (nats)
  Tensor ce;           // [B]: -log ptilde(x0 | x_t) summed over positions (nats)
  Tensor x_t;          // int32 [B, L]: the noised input the model saw
};

class D3pm {
 public:
  explicit D3pm(const D3pmConfig& config);

  const D3pmProcess& process() const { return process_; }
  const D3pmConfig& config() const { return process_.config(); }
  int64_t timesteps() const { return process_.timesteps(); }
  int64_t num_states() const { return process_.num_states(); }

  // int32 [batch] filled with t; uniform on 1..T from rng; the model's step t - 1.
  static Tensor t_tensor(int64_t batch, int64_t t);
  Tensor sample_t(int64_t batch, Philox& rng) const;
  static Tensor model_step(const Tensor& t_batch);

  // ---- forward process (constants: no tape) ------------------------------------------------------------
  // Austin et al. eq. 3, first line: q(x_t | x0) = x0 Qbar_t: [B, L, K] probabilities, t in 0..T.
  Tensor q_probs(const Tensor& x0, const Tensor& t_batch, DType dtype = DType::F32) const;
  // Austin et al. eq. 3, first line: x_t ~ q(x_t | x0) by inverse CDF, one double uniform per position from rng (row-major order).
  Tensor q_sample(const Tensor& x0, const Tensor& t_batch, Philox& rng) const;
  // Austin et al. eq. 3, second line (docs/math.md §3.5). Logits of q(x_{t-1} | x_t, x0) = (x_t Q_t^T) .* (x0 Qbar_{t-1}) / (x0 Qbar_t x_t^T), t in 1..T:
  // log(x_t Q_t^T + eps) + log(x0 Qbar_{t-1} + eps). [B, L, K]
  Tensor q_posterior_logits(const Tensor& x0, const Tensor& x_t, const Tensor& t_batch, DType dtype = DType::F32) const;
  // Austin et al. eq. 1, L_T (docs/math.md §3.8): KL(q(x_T | x0) || p(x_T)) summed over positions, in nats: [B] (computed in double as
  // sum q (log(q + eps) - log(p + eps)): a schedule whose q(x_T | x0) keeps mass where the prior has none,
  // e.g. absorbing with a linear beta, is charged log(q / 1e-20) there instead of infinity).
  Tensor prior_kl(const Tensor& x0, DType dtype = DType::F32) const;
  // A draw from the prior p(x_T): all mask, or uniform over the data states. int32 [batch, length].
  Tensor prior_sample(int64_t batch, int64_t length, Philox& rng) const;

  // ---- reverse process (differentiable in model_logits) -----------------------------------------------
  // log ptilde(x0 | x_t): log_softmax of the logits with the extra mask's logit at -inf. [B, L, K]
  Tensor x0_log_probs(const Tensor& model_logits) const;
  // Austin et al. eq. 4 (docs/math.md §3.6). Logits of p_theta(x_{t-1} | x_t), t in 1..T, through the one-step Q_t. At t = 1 the decoder choice
  // applies (D3pmDecoder): Posterior uses the same formula with Qbar_0 = I, Ptilde returns log ptilde.
  Tensor p_logits(const Tensor& model_logits, const Tensor& x_t, const Tensor& t_batch) const;
  // Austin et al. eq. 4 with skipping, §3.3 (docs/math.md §3.7). Logits of p_theta(x_s | x_t) for 0 <= s < t (per example), k = t - s steps at once:
  //   log(x_t (Q_{s+1} ... Q_t)^T + eps) + log(ptilde Qbar_s + eps),
  // the product taken in closed form or as dense double products. s = 0 applies the decoder choice.
  Tensor p_logits_skip(const Tensor& model_logits, const Tensor& x_t, const Tensor& t_batch, const Tensor& s_batch) const;

  // ---- the variational bound and the training loss ------------------------------------------------------
  // Austin et al. eq. 1 (docs/math.md §3.8): per example at its t, summed over positions (nats): L_{t-1} = KL(q(x_{t-1} | x_t, x0) || p_theta(x_{t-1} | x_t))
  // for t >= 2 (each position's KL clamped at >= 0), L_0 = -log p_theta(x0 | x1) for t = 1. [B]
  Tensor vb_terms(const Tensor& model_logits, const Tensor& x0, const Tensor& x_t, const Tensor& t_batch) const;
  // Austin et al. eq. 1 for the strided process (docs/math.md §3.7, §3.10): the same for a reverse process
  // that jumps from t to s < t in one step (step skipping): per example,
  // KL(q(x_s | x_t, x0) || p_theta(x_s | x_t)) for s >= 1, with q(x_s | x_t, x0) proportional to
  // (x_t (Q_{s+1} ... Q_t)^T) .* (x0 Qbar_s) and p_theta as p_logits_skip, and -log p_theta(x0 | x_t) for
  // s = 0 (the decoder choice). Summed over positions, nats: [B]. At s = t - 1 it equals vb_terms.
  Tensor vb_terms_skip(const Tensor& model_logits, const Tensor& x0, const Tensor& x_t, const Tensor& t_batch,
                       const Tensor& s_batch) const;
  // vb_terms (s_batch undefined) or vb_terms_skip, computed in float64 whatever the logits' float type: for
  // evaluation. Where the fused bound applies (dense kinds, no tape) float32 logits are widened as each
  // block is read, the same numbers as casting them first without a [B, L, K] float64 copy. [B] float64
  Tensor vb_terms_f64(const Tensor& model_logits, const Tensor& x0, const Tensor& x_t, const Tensor& t_batch,
                      const Tensor& s_batch = Tensor()) const;
  // The auxiliary term of Austin et al. eq. 5: -log ptilde(x0 | x_t) summed over positions: [B]
  Tensor x0_cross_entropy(const Tensor& model_logits, const Tensor& x0) const;
  // Austin et al. eq. 5, L_lambda with one sampled t (docs/math.md §3.9): the hybrid loss from given logits (x_t and t_batch are the ones the logits were computed at).
  // `weight` (float64 [B], optional): each example's weight in the batch mean, 1 / (T p_t) when t was drawn by
  // importance (diffusion/time_importance.hpp); per_example, vb and ce stay unweighted.
  D3pmLoss loss_from_logits(const Tensor& model_logits, const Tensor& x0, const Tensor& x_t, const Tensor& t_batch,
                            const Tensor& weight = Tensor()) const;
  // x_t = q_sample(x0, t_batch, rng), then training_loss_at.
  D3pmLoss training_loss(const X0Model& model, const Tensor& x0, const Tensor& t_batch, Philox& rng) const;
  // logits = model(x_t, model_step(t_batch)), then loss_from_logits: for an x_t drawn beforehand (a data-parallel
  // process draws the whole batch's x_t and computes its rows).
  D3pmLoss training_loss_at(const X0Model& model, const Tensor& x0, const Tensor& t_batch, const Tensor& x_t,
                            const Tensor& weight = Tensor()) const;

  // ---- for tests and tools: one position's constants, in double ---------------------------------------
  // Row x0 of Qbar_s (spindle: in a sequence of mean weight c).
  std::vector<double> qbar_row(int64_t s, int64_t x0, double c = 0) const;
  // Column x of P = Q_{s+1} ... Q_t, i.e. the vector x (Q_{s+1} ... Q_t)^T (one_step: Q_t by its own formula, s = t - 1).
  std::vector<double> product_column(int64_t s, int64_t t, int64_t x, bool one_step, double c = 0) const;
  // Spindle: the mean weight of each sequence of x0 (int32 [B, L]).
  std::vector<double> sequence_weights(const Tensor& x0) const;

 private:
  // Austin et al. eq. 4, the reverse step: log(x_t P^T + eps) + log(ptilde Qbar_s + eps) from the kind's
  // factors; with apply_decoder, examples at s = 0 get log ptilde instead when the decoder is Ptilde.
  Tensor reverse_logits(const Tensor& model_logits, const Tensor& x_t, const std::vector<int64_t>& t,
                        const std::vector<int64_t>& s, bool one_step, bool apply_decoder = true) const;
  // Austin et al. eq. 3, the posterior: log(x_t P^T + eps) + log(x0 Qbar_s + eps), P = Q_t (one_step) or
  // Q_{s+1} ... Q_t: the logits of q(x_s | x_t, x0). [B, L, K]
  Tensor posterior_logits(const Tensor& x0, const Tensor& x_t, const std::vector<int64_t>& t,
                          const std::vector<int64_t>& s, bool one_step, DType dtype) const;
  // The checks of vb_terms (s_batch undefined: s = t - 1) and vb_terms_skip; each example's jump from t
  // down to s.
  struct Jumps {
    std::vector<int64_t> t, s;
  };
  Jumps check_bound_args(const char* what, const Tensor& model_logits, const Tensor& x0, const Tensor& x_t,
                         const Tensor& t_batch, const Tensor& s_batch) const;
  // vb_terms / vb_terms_skip on checked inputs.
  Tensor bound_terms(const Tensor& model_logits, const Tensor& x0, const Tensor& x_t, const std::vector<int64_t>& t,
                     const std::vector<int64_t>& s, bool one_step) const;
  // Whether dense_bound_terms can serve these logits: the dense kinds, without a tape.
  bool fused_bound_applies(const Tensor& model_logits) const;
  // bound_terms in float64 for float32 or float64 logits without a tape, for the dense kinds: the same
  // formulas fused into one pass over blocks of positions (d3pm_dense_bound.cpp), for evaluation.
  Tensor dense_bound_terms(const Tensor& model_logits, const Tensor& x0, const Tensor& x_t,
                           const std::vector<int64_t>& t, const std::vector<int64_t>& s, bool one_step) const;

  D3pmProcess process_;
};

}  // namespace diffuse::diffusion
