#include "diffusion/embedding_diffusion.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string>

#include "diffusion/gaussian_diffusion.hpp"
#include "diffusion/gaussian_likelihood.hpp"
#include "diffusion/token_draw.hpp"
#include "tensor/autograd.hpp"
#include "tensor/frozen_weights.hpp"
#include "tensor/kernels.hpp"
#include "tensor/ops.hpp"
#include "tensor/random.hpp"

namespace diffuse::diffusion {

namespace {

[[noreturn]] void fail(const std::string& what, const std::string& message) {
  throw std::invalid_argument("embedding diffusion: " + what + ": " + message);
}

// 1 where a position is noised, 0 where it is given: float [B, L, 1] of x0's dtype (all ones without a mask).
Tensor noised_positions(const Tensor& clean, const Tensor& x0) {
  const int64_t B = x0.size(0), L = x0.size(1);
  if (!clean.defined()) return Tensor::ones({B, L, 1}, x0.dtype());
  if (clean.dtype() != DType::I32 || clean.dim() != 2 || clean.size(0) != B || clean.size(1) != L)
    fail("clean", "expected int32 [" + std::to_string(B) + ", " + std::to_string(L) + "], got " + describe(clean));
  return (clean.to(x0.dtype()) * -1.0 + 1.0).view({B, L, 1});
}

void check_words(const Tensor& words, const Tensor& embedding) {
  if (words.dtype() != DType::I32 || words.dim() != 2) fail("words", "expected int32 [B, L], got " + describe(words));
  if (embedding.dim() != 2) fail("embedding", "expected [V, d], got " + describe(embedding));
}

// Per example, the sum over positions and dimensions: [B, L, d] -> [B].
Tensor sum_per_example(const Tensor& x) { return sum(x, {1, 2}); }

// 1 where the example's step is 0 (the paper's t = 1), else 0: [B, 1, 1] of `dtype`.
Tensor at_first_step(const Tensor& step, DType dtype) {
  const Tensor s = step.to(DType::I32).contiguous();
  std::vector<double> first(static_cast<size_t>(s.numel()));
  for (int64_t b = 0; b < s.numel(); ++b) first[static_cast<size_t>(b)] = s.data<int32_t>()[b] == 0 ? 1.0 : 0.0;
  return Tensor::from_vector(first, {s.numel(), 1, 1}).to(dtype);
}

}  // namespace

EmbeddingDiffusion::EmbeddingDiffusion(DiffusionSchedule schedule, VarianceType variance)
    : schedule_(std::move(schedule)), variance_(variance) {}

double EmbeddingDiffusion::sigma0() const { return schedule_.sqrt_one_minus_alphas_cumprod[0]; }

Tensor EmbeddingDiffusion::embed(const Tensor& embedding, const Tensor& words, const Tensor& noise) const {
  check_words(words, embedding);
  return diffuse::embedding(embedding, words) + noise * sigma0();
}

Tensor EmbeddingDiffusion::q_sample(const Tensor& x0, const Tensor& step, const Tensor& noise, const Tensor& clean) const {
  const Tensor x_t = GaussianDiffusion(schedule_, variance_).q_sample(x0, step, noise);
  if (!clean.defined()) return x_t;
  const Tensor noised = noised_positions(clean, x0);
  return x_t * noised + x0 * (noised * -1.0 + 1.0);
}

Tensor EmbeddingDiffusion::rounding_logits(const Tensor& x0, const Tensor& embedding) {
  return matmul(x0, embedding.transpose(0, 1));
}

Tensor EmbeddingDiffusion::word_posterior_logits(const Tensor& x_t, const Tensor& step, const Tensor& embedding) const {
  if (embedding.dim() != 2 || x_t.dim() != 3 || x_t.size(2) != embedding.size(1))
    fail("word_posterior_logits", "x_t [B, L, d] needs an embedding [V, d], got " + describe(x_t) + " and " + describe(embedding));
  const GaussianDiffusion gaussian(schedule_, variance_);
  const std::vector<double>& abar = schedule_.alphas_cumprod;
  const double s0 = sigma0();
  std::vector<double> inner(abar.size()), norm(abar.size());  // sqrt(abar_t) / v_t and abar_t / (2 v_t), in double
  for (size_t i = 0; i < abar.size(); ++i) {
    const double v = 1.0 - abar[i] + abar[i] * s0 * s0;
    inner[i] = std::sqrt(abar[i]) / v;
    norm[i] = abar[i] / (2.0 * v);
  }
  const int64_t V = embedding.size(0);
  const Tensor squared_norms = sum(square(embedding), {1}).view({1, 1, V});
  return matmul(x_t, embedding.transpose(0, 1)) * gaussian.extract(inner, step, x_t) - squared_norms * gaussian.extract(norm, step, x_t);
}

Tensor EmbeddingDiffusion::word_presence_logits(const Tensor& posterior) {
  if (posterior.dim() != 3) fail("word_presence_logits", "needs posteriors q [B, L, V], got " + describe(posterior));
  // log prod_i (1 - q_i(w)) [B, V], with q_i at most 1 - 1e-6 (a sure position counts as 1 - 1e-6: the logit
  // then tops out near 13.8 per such position), and log P by -expm1: both exact where q is of order 1e-9.
  const Tensor log_absent = sum(log1p(-clamp(posterior, 0.0, 1.0 - 1e-6)), {1});
  return log(clamp(-expm1(log_absent), 1e-30, 1.0)) - log_absent;
}

Tensor EmbeddingDiffusion::nearest_words(const Tensor& x0, const Tensor& embedding) {
  // argmin_v ||x - e_v||^2 = argmax_v (x . e_v - ||e_v||^2 / 2), for blocks of 1024 positions at a time: the scores
  // of the whole batch [B L, V] would be 1.6 GB at DiffuSeq's decoding batch (320 rows of 128, V about 10,000).
  NoGradGuard no_grad;
  if (embedding.dim() != 2 || x0.dim() < 1 || x0.shape().back() != embedding.size(1))
    fail("nearest_words", "x0 " + describe(x0) + " needs an embedding [V, " + std::to_string(x0.dim() ? x0.shape().back() : 0) +
                              "], got " + describe(embedding));
  const int64_t V = embedding.size(0), d = embedding.size(1);
  const Tensor x = x0.reshape({-1, d}), e_t = embedding.transpose(0, 1);
  const Tensor half_norm = (sum(square(embedding), {1}) * 0.5).contiguous();  // [V]
  const int64_t n = x.size(0);
  Tensor ids = Tensor::empty({n}, DType::I32);
  constexpr int64_t kBlock = 1024;
  for (int64_t b0 = 0; b0 < n; b0 += kBlock) {
    const Tensor scores = matmul(x.slice(0, b0, std::min(n, b0 + kBlock)), e_t).contiguous();  // [rows, V]
    dispatch_float(scores.dtype(), "nearest_words", [&]<class T>() {
      const T* h = half_norm.data<T>();
      kernels::parallel_for(scores.size(0), 1, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const T* row = scores.data<T>() + r * V;
          int64_t best = 0;
          T best_score = row[0] - h[0];
          for (int64_t v = 1; v < V; ++v)
            if (row[v] - h[v] > best_score) best_score = row[v] - h[v], best = v;
          ids.data<int32_t>()[b0 + r] = static_cast<int32_t>(best);
        }
      });
    });
  }
  return ids.view(Shape(x0.shape().begin(), x0.shape().end() - 1));
}

EmbeddingLoss EmbeddingDiffusion::training_loss(const EmbeddingX0Model& model, const Tensor& embedding, const Tensor& words,
                                                const Tensor& step, const Tensor& noise0, const Tensor& noise,
                                                const Tensor& clean) const {
  const Tensor emb_w = diffuse::embedding(embedding, words);  // EMB(w)          [B, L, d]
  const Tensor x0 = emb_w + noise0 * sigma0();                // q_phi(x0 | w)   §4.1
  EmbeddingLoss r;
  r.x_t = q_sample(x0, step, noise, clean);
  const Tensor f = model(r.x_t, step);
  const Tensor noised = noised_positions(clean, x0);                   // [B, L, 1]
  const Tensor positions = sum(noised, {1, 2});                        // [B]
  const Tensor numbers = positions * static_cast<double>(x0.size(2));  // [B]: noised positions x d
  // t = 1 (step 0) compares f with EMB(w), every other t with x0.
  const Tensor target = where(at_first_step(step, x0.dtype()), emb_w, x0);
  r.mse = sum_per_example(square(f - target) * noised) / numbers;
  const double sqrt_abar_T = schedule_.sqrt_alphas_cumprod.back();
  r.prior = sum_per_example(square(x0 * sqrt_abar_T) * noised) / numbers;
  const Tensor ce = cross_entropy(rounding_logits(x0, embedding), words, Reduction::None);  // [B, L]
  r.rounding = sum(ce * noised.view({x0.size(0), x0.size(1)}), {1}) / positions;
  r.loss = mean(r.mse + r.prior + r.rounding);
  return r;
}

EmbeddingBoundTerms EmbeddingDiffusion::bound_terms(const EmbeddingX0Model& model, const Tensor& embedding,
                                                    const Tensor& words, const Tensor& step, const Tensor& noise0,
                                                    const Tensor& noise, const Tensor& clean) const {
  NoGradGuard no_grad;
  const GaussianDiffusion gaussian(schedule_, variance_);
  const Tensor emb_w = diffuse::embedding(embedding, words);
  const Tensor x0 = emb_w + noise0 * sigma0();
  const Tensor x_t = q_sample(x0, step, noise, clean);
  const Tensor x0_hat = model(x_t, step);
  const Tensor noised = noised_positions(clean, x0);
  EmbeddingBoundTerms r;
  // L_T = KL(N(sqrt(abar_T) x0, 1 - abar_T) || N(0, 1)) per number.
  const Tensor last = step_tensor(x0.size(0), timesteps() - 1);
  const GaussianMoments q_T = gaussian.q_mean_variance(x0, last);
  r.prior = sum_per_example(normal_kl(q_T.mean, q_T.log_variance, x0 * 0.0, x0 * 0.0) * noised);
  // The reverse step's Gaussian: mean mu~_t(x0_hat, x_t), log-variance of the variance type (clipped at t = 1).
  const GaussianMoments q_post = gaussian.q_posterior(x0, x_t, step);
  const Tensor p_mean = gaussian.q_posterior(x0_hat, x_t, step).mean;
  const Tensor p_log_variance = gaussian.extract(schedule_.model_log_variance(variance_), step, x0);
  // t >= 2: L_{t-1} = KL(q(x_{t-1} | x_t, x0) || p_theta(x_{t-1} | x_t)).
  const Tensor kl = sum_per_example(normal_kl(q_post.mean, q_post.log_variance, p_mean, p_log_variance) * noised);
  // t = 1: L_0 = -log N(x0; mu_theta(x_1, 1), sigma_1^2) + log N(x0; EMB(w), sigma0^2) - log p(w | x0).
  // Its rounding logits are [B, L, V]: skipped when no row is at t = 1 (all but one of the exact bound's T calls).
  const Tensor first = at_first_step(step, x0.dtype()).view({x0.size(0)});
  if (sum(first).item() == 0.0) {
    r.term = kl;
    return r;
  }
  auto log_normal = [](const Tensor& x, const Tensor& mean, const Tensor& log_variance) {
    return (square(x - mean) * exp(-log_variance) + log_variance + std::log(2.0 * std::numbers::pi)) * -0.5;
  };
  const Tensor log_var0 = x0 * 0.0 + std::log(sigma0() * sigma0());
  const Tensor decoder = sum_per_example((log_normal(x0, emb_w, log_var0) - log_normal(x0, p_mean, p_log_variance)) * noised);
  const Tensor ce = cross_entropy(rounding_logits(x0, embedding), words, Reduction::None);
  const Tensor rounding = sum(ce * noised.view({x0.size(0), x0.size(1)}), {1});
  r.term = where(first, decoder + rounding, kl);
  return r;
}

std::vector<int64_t> EmbeddingDiffusion::respaced_steps(int64_t timesteps, int64_t steps) {
  if (steps < 2 || steps > timesteps)
    fail("--steps", "must be in [2, T = " + std::to_string(timesteps) + "], got " + std::to_string(steps));
  std::vector<int64_t> out;
  const double stride = static_cast<double>(timesteps - 1) / static_cast<double>(steps - 1);
  for (int64_t i = 0; i < steps; ++i) out.push_back(std::llround(static_cast<double>(i) * stride));
  return out;
}

EmbeddingSampleResult EmbeddingDiffusion::sample(const EmbeddingX0Model& model, const Tensor& embedding, int64_t batch,
                                                 int64_t length, Philox& rng, const EmbeddingSampleOptions& options) const {
  NoGradGuard no_grad;
  FrozenWeights frozen_weights;  // the model is fixed throughout: the ops keep what they derive from its weights
  const int64_t T = timesteps(), d = embedding.size(1);
  const std::vector<int64_t> visited = respaced_steps(T, options.steps > 0 ? options.steps : T);
  const int64_t K = static_cast<int64_t>(visited.size());
  // The respaced chain's betas: 1 - abar at one visited step over abar at the one before (improved-diffusion).
  std::vector<double> betas;
  double previous = 1.0;
  for (int64_t s : visited) {
    betas.push_back(1.0 - schedule_.alphas_cumprod[s] / previous);
    previous = schedule_.alphas_cumprod[s];
  }
  const DiffusionSchedule chain = make_schedule(betas);
  const GaussianDiffusion respaced(chain, variance_);

  // The given positions: keep [B, L, 1] (1 where given) and their embeddings EMB(w) [B, L, d].
  Tensor keep, given_embedding, given_ids;
  if (options.given.defined()) {
    const Tensor& g = options.given;
    if (g.dtype() != DType::I32 || g.dim() < 1 || g.dim() > 2 || g.size(-1) != length || (g.dim() == 2 && g.size(0) != batch))
      fail("given", "expected int32 [L] or [B, L] with L = " + std::to_string(length) + ", got " + describe(g));
    given_ids = (g.dim() == 1 ? g.view({1, length}).expand({batch, length}) : g).contiguous();
    std::vector<int32_t> ids(given_ids.data<int32_t>(), given_ids.data<int32_t>() + batch * length);
    std::vector<float> kept(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      kept[i] = ids[i] >= 0 ? 1.0f : 0.0f;
      if (ids[i] >= embedding.size(0)) fail("given", "token id " + std::to_string(ids[i]) + " outside the vocabulary");
      ids[i] = std::max(ids[i], 0);
    }
    keep = Tensor::from_vector(kept, {batch, length, 1}).to(embedding.dtype());
    given_embedding = diffuse::embedding(embedding, Tensor::from_vector(ids, {batch, length}));
  }
  auto hold_given = [&](const Tensor& x) { return keep.defined() ? where(keep, given_embedding, x) : x; };

  EmbeddingSampleResult r;
  Tensor x = hold_given(randn({batch, length, d}, rng, embedding.dtype()));
  for (int64_t k = K - 1; k >= 0; --k) {
    const Tensor model_step = step_tensor(batch, visited[static_cast<size_t>(k)]);
    Tensor x0_hat = model(x, model_step);
    ++r.network_evaluations;
    if (options.clamp) x0_hat = diffuse::embedding(embedding, nearest_words(x0_hat, embedding));
    x0_hat = hold_given(x0_hat);
    const Tensor chain_step = step_tensor(batch, k);
    Tensor mean = respaced.q_posterior(x0_hat, x, chain_step).mean;
    if (k == 0) {
      x = mean;  // mu~_1 = x0_hat: no noise at the last step
    } else {
      const double log_variance = chain.model_log_variance(variance_)[static_cast<size_t>(k)];
      if (options.guide) mean = hold_given(options.guide(mean, std::exp(log_variance), k, visited[static_cast<size_t>(k - 1)]));
      x = hold_given(mean + randn(x.shape(), rng, x.dtype()) * std::exp(0.5 * log_variance));
    }
    if (options.on_step) options.on_step();
  }
  r.x0 = x;
  // Rounding: the most probable word under p_theta(w | x0); given positions keep their ids.
  r.words = argmax_last(rounding_logits(x, embedding));
  if (keep.defined()) {
    int32_t* w = r.words.data<int32_t>();
    for (int64_t i = 0; i < batch * length; ++i)
      if (given_ids.data<int32_t>()[i] >= 0) w[i] = given_ids.data<int32_t>()[i];
  }
  return r;
}

}  // namespace diffuse::diffusion
