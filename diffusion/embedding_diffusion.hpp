// Gaussian diffusion on learned word embeddings: Diffusion-LM (Li et al. 2022) and, with a mask of clean
// positions, DiffuSeq's partial noising (Gong et al. 2022). docs/math.md §7.
//
// Words w (int32 ids [B, L]) are embedded by a learned table EMB [V, d]. The chain starts at
//     q_phi(x0 | w) = N(EMB(w), sigma0^2 I),  sigma0^2 = 1 - abar_1            Diffusion-LM §4.1
// (the paper leaves sigma0 open; 1 - abar_1 is its reference code's choice) and runs DDPM's forward process
// on x0 [B, L, d] with a beta schedule, by default the sqrt schedule abar_t = 1 - sqrt(t/T + s)
// (Diffusion-LM Appendix A; beta_schedule.hpp):
//     q(x_t | x0) = N(sqrt(abar_t) x0, (1 - abar_t) I)                          Ho et al. eq. 4
// The network f_theta(x_t, t) predicts x0 (Diffusion-LM §4.2, the x0-parameterisation), and the reverse
// step is the posterior at the prediction: mu_theta(x_t, t) = mu~_t(f_theta(x_t, t), x_t) (Ho et al. eq. 7),
// with DDPM's fixed variance sigma_t^2 (large: beta_t; small: beta~_t).
// Rounding (§4.1): p_theta(w_i | x0_i) = softmax(EMB x0_i), the head tied to the embedding.
//
// The training loss L_e2e_simple (§4.1, with §4.2's x0 form of L_simple), per example at t uniform on 1..T:
//     t >= 2:  ||f_theta(x_t, t) - x0||^2           the x0 form of L_simple
//     t = 1:   ||f_theta(x_1, 1) - EMB(w)||^2       the term that ties x0 to EMB (in place of the t = 1 error)
//     + ||sqrt(abar_T) x0||^2                        the mean part of the prior term L_T
//     - log p_theta(w | x0)                          the rounding term
// each squared norm a mean over the L x d numbers and the rounding term a mean over the L positions: the
// weighting of the reference code's training_losses_e2e. The loss is differentiable in the network and in
// EMB (x0 = EMB(w) + sigma0 eps depends on it).
//
// Clean positions (DiffuSeq's partial noising, and the infilling of Diffusion-LM's §7.2): an optional int32
// mask clean [B, L], 1 where a position is given. There x_t = x0 at every t (the condition is seen clean),
// and the squared errors and the rounding term average over the other positions only; the bound counts only
// them. In sampling, given positions hold EMB(w) at every step.
//
// The bound (Diffusion-LM §4.1, L_vlb^e2e; Ho et al. eq. 5 with the embedding and rounding at the bottom):
//     -log p(w) <= E_q[ L_T + sum_{t=2}^T L_{t-1} + L_0 ],
//     L_T     = KL(q(x_T | x0) || N(0, I))
//     L_{t-1} = KL(q(x_{t-1} | x_t, x0) || p_theta(x_{t-1} | x_t))
//     L_0     = -log p_theta(x0 | x1) + log q_phi(x0 | w) - log p_theta(w | x0)
// in nats per sequence, summed over the noised positions (bound_terms). Its one-t estimate is
// L_T + T L_{t-1} at t uniform on 1..T.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "diffusion/beta_schedule.hpp"
#include "tensor/tensor.hpp"

namespace diffuse {
class Philox;
}

namespace diffuse::diffusion {

// f_theta(x_t, step): x_t [B, L, d], step int32 [B] = paper t - 1 -> the x0 prediction [B, L, d].
using EmbeddingX0Model = std::function<Tensor(const Tensor& x_t, const Tensor& step)>;

// L_e2e_simple and its parts, each [B] before the batch mean.
struct EmbeddingLoss {
  Tensor loss;        // scalar: batch mean of the sum of the three parts (differentiable)
  Tensor mse;         // ||f - x0||^2 (t >= 2) or ||f - EMB(w)||^2 (t = 1), mean over L x d
  Tensor prior;       // ||sqrt(abar_T) x0||^2, mean over L x d
  Tensor rounding;    // -log p(w | x0), mean over positions
  Tensor x_t;         // what the network saw
};

// The bound's terms for one example at one t, nats per sequence ([B] each, no tape).
struct EmbeddingBoundTerms {
  Tensor prior;  // L_T
  Tensor term;   // L_{t-1} at t >= 2; L_0 (with its embedding and rounding parts) at t = 1
};

struct EmbeddingSampleOptions {
  int64_t steps = 0;          // K network evaluations on evenly spaced t (0: all T; respaced_steps)
  bool clamp = true;          // the clamping trick: each f_theta is replaced by its nearest embedding (§4.2)
  Tensor given;               // int32 [L] or [B, L]: a token id where the position is given (held at EMB(w)), -1 elsewhere
  // At each reverse step but the last, a change of the mean mu of p_theta(x_s | x_t) before the noise is
  // added (classifier guidance, diffusion/guidance.hpp): (mu, sigma_t^2, the chain's step k = K-1..1, the
  // 0-based model step of x_s) -> the new mean. Empty: none.
  std::function<Tensor(const Tensor& mean, double variance, int64_t chain_step, int64_t model_step)> guide;
  std::function<void()> on_step;  // after every step (progress)
};

struct EmbeddingSampleResult {
  Tensor words;  // int32 [B, L]: argmax of the rounding logits of the final x0
  Tensor x0;     // float [B, L, d]: the final x0
  int64_t network_evaluations = 0;
};

class EmbeddingDiffusion {
 public:
  EmbeddingDiffusion(DiffusionSchedule schedule, VarianceType variance = VarianceType::Large);

  const DiffusionSchedule& schedule() const { return schedule_; }
  int64_t timesteps() const { return schedule_.timesteps; }
  double sigma0() const;  // sqrt(1 - abar_1)

  // x0 = EMB(w) + sigma0 noise: [B, L, d]. `embedding` is EMB [V, d] (differentiable), w int32 [B, L].
  Tensor embed(const Tensor& embedding, const Tensor& words, const Tensor& noise) const;
  // q(x_t | x0) with the clean positions held at x0: [B, L, d].
  Tensor q_sample(const Tensor& x0, const Tensor& step, const Tensor& noise, const Tensor& clean = Tensor()) const;
  // The rounding logits EMB x0: [B, L, V].
  static Tensor rounding_logits(const Tensor& x0, const Tensor& embedding);
  // The id of the row of EMB nearest to each position of x0 (Euclidean): int32 [B, L]. The clamping trick.
  static Tensor nearest_words(const Tensor& x0, const Tensor& embedding);
  // The posterior over the vocabulary of each position of x_t [B, L, d] at step [B], under a uniform prior on
  // the words: x0 ~ N(EMB_w, sigma0^2 I) then q(x_t | x0) give x_t | w ~ N(sqrt(abar_t) EMB_w, v_t I) with
  // v_t = 1 - abar_t + abar_t sigma0^2, so
  //     log q(w | x_t) = (sqrt(abar_t) <x_t, EMB_w> - abar_t ||EMB_w||^2 / 2) / v_t + const(x_t).
  // Returns those logits [B, L, V] (their softmax over V is q(w | x_t)); differentiable in x_t and EMB.
  // The verse classifiers' word_posterior input (apps/text_classifier.hpp; docs/math.md §7.6).
  Tensor word_posterior_logits(const Tensor& x_t, const Tensor& step, const Tensor& embedding) const;
  // Whether each word appears anywhere in the sequence, from the posteriors q [B, L, V] of its positions taken
  // as independent (the noisy-OR): P(w in x | x_t) = 1 - prod_i (1 - q_i(w | x_t)). Returns its logit,
  // log P - log(1 - P), [B, V], with log1p and expm1 (a word absent from every position has P of order L q,
  // far below float's resolution of 1 - P); differentiable in q below 1 - 1e-6. The words
  // guide's presence term (apps/text_classifier.hpp; docs/math.md §7.6).
  static Tensor word_presence_logits(const Tensor& posterior);

  // L_e2e_simple at the given steps (int32 [B], paper t - 1), noises [B, L, d] for x0 and for x_t.
  EmbeddingLoss training_loss(const EmbeddingX0Model& model, const Tensor& embedding, const Tensor& words,
                              const Tensor& step, const Tensor& noise0, const Tensor& noise,
                              const Tensor& clean = Tensor()) const;

  // The bound's terms at one step per example (see the header comment), with x0 = EMB(w) + sigma0 noise0
  // and x_t from noise. No tape.
  EmbeddingBoundTerms bound_terms(const EmbeddingX0Model& model, const Tensor& embedding, const Tensor& words,
                                  const Tensor& step, const Tensor& noise0, const Tensor& noise,
                                  const Tensor& clean = Tensor()) const;

  // The reverse process from x_T ~ N(0, I), K steps (Diffusion-LM §4.2: clamping; step skipping as
  // improved-diffusion's respacing), then rounding. No tape.
  EmbeddingSampleResult sample(const EmbeddingX0Model& model, const Tensor& embedding, int64_t batch, int64_t length,
                               Philox& rng, const EmbeddingSampleOptions& options = {}) const;

  // The K 0-based steps a K-step sampler visits, ascending: round(i (T - 1)/(K - 1)) for i = 0..K-1
  // (improved-diffusion's space_timesteps with one section), so step 0 and T - 1 are always in. K = T: all.
  static std::vector<int64_t> respaced_steps(int64_t timesteps, int64_t steps);

 private:
  DiffusionSchedule schedule_;
  VarianceType variance_;
};

}  // namespace diffuse::diffusion
