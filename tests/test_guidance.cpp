// Guidance (diffusion/guidance.hpp): Diffusion-LM's classifier-guided reverse step moves the mean towards
// the class, the fluency term with lambda -> infinity gives back the unguided chain exactly at a fixed seed,
// and the last steps are left alone.
#include <doctest/doctest.h>

#include <cmath>

#include "diffusion/embedding_diffusion.hpp"
#include "diffusion/gaussian_diffusion.hpp"
#include "diffusion/guidance.hpp"
#include "gradcheck.hpp"
#include "tensor/ops.hpp"
#include "tensor/random.hpp"

using namespace diffuse;
using namespace diffuse::diffusion;
using namespace diffuse::testing;

namespace {

// A logistic classifier on the mean of the vectors: log p(c = 1 | x) = log sigmoid(w . mean_l(x_l) + b), [B].
ClassLogProb logistic(const Tensor& w) {
  return [w](const Tensor& x, const Tensor&) { return log(sigmoid(sum(mean(x, {1}) * w, {1}) - 0.5)); };
}

double mean_log_prob(const ClassLogProb& f, const Tensor& x) { return mean(f(x, step_tensor(x.size(0), 0))).item(); }

DiffusionSchedule sqrt_schedule(int64_t T) {
  BetaScheduleConfig c;
  c.kind = BetaScheduleKind::Sqrt;
  c.timesteps = T;
  return make_schedule(c);
}

}  // namespace

TEST_CASE("a guided step raises the classifier's log-probability; lambda -> infinity leaves the mean; the last steps are skipped") {
  Philox rng(1);
  const Tensor mean = randn({8, 5, 3}, rng);
  const Tensor w = Tensor::from_vector(std::vector<float>{2, -1, 1}, {3});
  const ClassLogProb f = logistic(w);
  VectorGuidance g;
  const Tensor guided = guide_mean(g, f, mean, 0.05, 50, 49);
  MESSAGE("mean log p(c | x): " << mean_log_prob(f, mean) << " -> " << mean_log_prob(f, guided));
  CHECK(mean_log_prob(f, guided) > mean_log_prob(f, mean) + 0.05);
  // Larger lambda: closer to the mean; lambda -> infinity: the mean itself.
  VectorGuidance tight = g;
  tight.fluency = 10.0;
  CHECK(max_abs_diff(guide_mean(tight, f, mean, 0.05, 50, 49), mean) < max_abs_diff(guided, mean));
  tight.fluency = 1e12;
  CHECK(max_abs_diff(guide_mean(tight, f, mean, 0.05, 50, 49), mean) < 1e-6);
  // No updates in the last skip_last steps of the chain.
  CHECK(max_abs_diff(guide_mean(g, f, mean, 0.05, 9, 9), mean) == 0.0);
  CHECK(max_abs_diff(guide_mean(g, f, mean, 0.05, 10, 10), mean) > 0.0);
}

TEST_CASE("in the sampler: guidance moves the samples towards the class, and lambda -> infinity is the unguided chain") {
  const int64_t V = 6, d = 3, L = 4, B = 16;
  Philox init(2);
  const Tensor emb = randn({V, d}, init);
  const EmbeddingDiffusion diffusion(sqrt_schedule(100));
  const EmbeddingX0Model model = [](const Tensor& x, const Tensor&) { return tanh(x); };
  const Tensor w = Tensor::from_vector(std::vector<float>{1.5, -1, 0.5}, {3});
  const ClassLogProb f = logistic(w);
  auto run = [&](double fluency, bool guided) {
    Philox rng(7);
    EmbeddingSampleOptions options;
    options.steps = 40;
    options.clamp = false;
    VectorGuidance g;
    g.fluency = fluency;
    if (guided)
      options.guide = [&, g](const Tensor& mean, double variance, int64_t k, int64_t s) { return guide_mean(g, f, mean, variance, k, s); };
    return diffusion.sample(model, emb, B, L, rng, options).x0;
  };
  const Tensor plain = run(0.01, false);
  const Tensor guided = run(0.01, true);
  MESSAGE("mean log p(c | x0): unguided " << mean_log_prob(f, plain) << ", guided " << mean_log_prob(f, guided));
  CHECK(mean_log_prob(f, guided) > mean_log_prob(f, plain) + 0.1);
  CHECK(max_abs_diff(run(1e12, true), plain) < 1e-5);
}
