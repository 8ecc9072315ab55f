// Guidance: steering a trained diffusion model's reverse process towards a condition c without
// retraining it.
//
// Classifier guidance of Diffusion-LM (Li et al. 2022, §5.2): a classifier p_phi(c | x_t, t) on noisy
// vectors, and at each reverse step a few gradient updates of x_{t-1} on
//     log p_phi(c | x_{t-1}) + lambda log p_theta(x_{t-1} | x_t),
// where p_theta(x_{t-1} | x_t) = N(mu, sigma_t^2 I), so the second term is -lambda ||x - mu||^2 / (2 sigma_t^2)
// plus a constant: it keeps x_{t-1} where the language model puts it (fluency), while the first moves it
// towards the condition. The paper takes 3 Adagrad updates per step (step size 0.1), lambda = 0.01, and
// none in the last steps near t = 0 (the reference code: none while the chain's t < 10). Every constant
// is a field of VectorGuidance.
//
// How this unit does it (guide_mean), and where it departs from the reference code (langevin_fn3):
//   - The updates move the mean mu and the sampler adds sigma_t z afterwards (the reference starts from the
//     drawn x_{t-1} = mu + sigma_t z). That is the mean shift of Dhariwal & Nichol's classifier guidance, and
//     it makes lambda -> infinity give back the unguided chain exactly, at the same seed.
//   - Each update is an Adagrad step on the classifier's gradient g = -grad log p_phi(c | x) with the
//     fluency term taken exactly (a proximal step): with eta = step_size / (sqrt(G) + 1e-10), G the running
//     sum of g^2,
//         x <- argmin_y <g, y> + ||y - x||^2 / (2 eta) + lambda ||y - mu||^2 / sigma_t^2
//            = (x - eta g + c mu) / (1 + c),   c = 2 lambda eta / sigma_t^2,
//     stable for any lambda. The reference creates a new Adagrad optimiser for each update, so each of its
//     updates is step_size * sign(g) of the total gradient; here G accumulates over a step's updates.
//
// For images (the DDPM family):
//   classifier-free guidance (Ho & Salimans 2021, eq. 6): one network trained with and without the label
//   (the null class), eps~(x_t, c) = (1 + w) eps(x_t, c) - w eps(x_t, null);
//   classifier guidance (Dhariwal & Nichol 2021): a noise-aware classifier's gradient g = grad_x log p_phi(c | x_t, t)
//   shifts the ancestral step's mean, mu + s Sigma g (their Algorithm 1), or DDIM's eps, eps - s sqrt(1 - abar_t) g
//   (their Algorithm 2, eq. 14).
//
// For tokens (VQ-Diffusion, Gu et al. 2022; docs/math.md §12.4), on the x0 distribution ptilde(x0 | x_t) the D3PM
// reverse step reads (d3pm_diffusion.hpp), each an X0Model wrapper, so the sampler is unchanged:
//   classifier-free guidance (Tang et al. 2022, "Improved VQ-Diffusion" §3.2, in Ho & Salimans' w):
//     log ptilde~ = log ptilde(x0 | x_t, c) + w (log ptilde(x0 | x_t, c) - log ptilde(x0 | x_t, null)), renormalised;
//   the truncation trick (Gu et al. §4.1, "truncation rate" r = 0.86): per position, keep the smallest set of
//     states, most probable first, whose probabilities sum to at least r; renormalise over it (-inf elsewhere).
#pragma once
#include <cstdint>
#include <functional>

#include "diffusion/d3pm_diffusion.hpp"
#include "diffusion/gaussian_diffusion.hpp"
#include "tensor/random.hpp"
#include "tensor/tensor.hpp"

namespace diffuse::diffusion {

struct VectorGuidance {
  int64_t updates = 3;       // gradient updates per reverse step
  double step_size = 0.1;    // Adagrad's learning rate
  double fluency = 0.01;     // lambda, the weight of log p_theta(x_{t-1} | x_t)
  int64_t skip_last = 10;    // no updates while the chain's 0-based step k < skip_last (near t = 0)
};

// log p_phi(c_b | x_b, step) per example, [B], differentiable in x [B, ...]; step int32 [B] 0-based.
using ClassLogProb = std::function<Tensor(const Tensor& x, const Tensor& step)>;

// The guided mean of one reverse step (see the header comment): mean [B, ...] of p_theta(x_s | x_t),
// variance sigma_t^2, the chain's 0-based step k of x_t, and the model step of x_s for the classifier.
Tensor guide_mean(const VectorGuidance& guidance, const ClassLogProb& log_prob, const Tensor& mean, double variance,
                  int64_t chain_step, int64_t model_step);

// ---- images ------------------------------------------------------------------------------------------

// eps_theta(x_t, step, labels): a class-conditional network; labels int32 [B], the null class where unlabelled.
using ConditionalEpsModel = std::function<Tensor(const Tensor& x_t, const Tensor& step, const Tensor& labels)>;

// Classifier-free guidance's training (Ho & Salimans Algorithm 1, line 3: c <- null with probability p_uncond):
// labels int32 [B] with each one replaced by null_label where its uniform draw u_b (in (0, 1), one per label in
// order from rng, whatever p_uncond) is below p_uncond, so that the stream moves by B draws every call and a
// run resumed from its stream's counter drops exactly the labels an uninterrupted one drops. Throws unless
// 0 <= p_uncond <= 1 (p_uncond 0: none dropped, 1: all).
Tensor drop_labels(const Tensor& labels, int32_t null_label, double p_uncond, Philox& rng);

// The classifier-free guided eps of `labels` at scale w (Ho & Salimans eq. 6), as an EpsModel for any sampler.
// w = 0 is exactly the conditional model (one pass); otherwise the conditional and unconditional passes run as
// one batch of 2B.
EpsModel classifier_free_eps(ConditionalEpsModel model, Tensor labels, int32_t null_label, double w);

// g = grad_x sum_b log p_phi(c_b | x_b, step) (no tape left behind): [B, ...] like x.
Tensor class_log_prob_gradient(const ClassLogProb& log_prob, const Tensor& x, const Tensor& step);

// Dhariwal & Nichol Algorithm 1: the ancestral step's mean shifted by s Sigma g, Sigma = sigma_t^2 (per example,
// broadcast like GaussianDiffusion::extract).
Tensor classifier_guided_mean(const Tensor& mean, const Tensor& variance, const Tensor& gradient, double scale);
// Their Algorithm 2 (eq. 14): eps - s sqrt(1 - abar_t) g, for DDIM and DPM-Solver.
Tensor classifier_guided_eps(const GaussianDiffusion& diffusion, const Tensor& eps, const Tensor& step, const Tensor& gradient,
                             double scale);

// ---- tokens (VQ-Diffusion) ---------------------------------------------------------------------------

// ptilde_theta(x0 | x_t, c): a class-conditional x0-model; labels int32 [B], the null class where unconditional.
using ConditionalX0Model = std::function<Tensor(const Tensor& x_t, const Tensor& step, const Tensor& labels)>;

// Classifier-free guidance on the x0 logits [B, L, K] (see the header comment), as an X0Model: log-probabilities,
// each row renormalised by log_softmax. w = 0 is exactly the conditional model's logits (one pass); otherwise the
// conditional and unconditional passes run as one batch of 2B.
X0Model classifier_free_x0(ConditionalX0Model model, Tensor labels, int32_t null_label, double w);

// The truncation trick on logits [..., K] (no tape): log-probabilities renormalised over each row's smallest set of
// most probable states whose probabilities sum to >= r (ties in probability kept in index order), -inf elsewhere.
// The state `excluded` (an extra mask; -1 for none) is never kept. r in (0, 1]: r = 1 keeps every state of nonzero
// probability (the log_softmax of the logits); r below the largest probability keeps the argmax alone. Throws
// std::invalid_argument naming --truncation outside (0, 1].
Tensor truncate_logits(const Tensor& logits, double r, int64_t excluded = -1);
// model's logits through truncate_logits (r checked here, before any network evaluation).
X0Model truncated_x0(X0Model model, double r, int64_t excluded);

}  // namespace diffuse::diffusion
