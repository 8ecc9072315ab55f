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

TEST_CASE("classifier-free guidance: w = 0 is the conditional model bit for bit; w mixes (1 + w) eps_c - w eps_null") {
  Philox rng(5);
  const Tensor weight = randn({4}, rng);
  // A toy conditional eps model: depends on x, t and the label.
  const ConditionalEpsModel model = [&](const Tensor& x, const Tensor& step, const Tensor& labels) {
    return tanh(x * 0.5) + (labels.to(DType::F32) * 0.1 + step.to(DType::F32) * 0.01).view({x.size(0), 1, 1, 1});
  };
  const Tensor x = randn({3, 2, 2, 2}, rng);
  const Tensor step = Tensor::from_vector(std::vector<int32_t>{1, 50, 99}, {3});
  const Tensor labels = Tensor::from_vector(std::vector<int32_t>{0, 3, 7}, {3});
  CHECK(max_abs_diff(classifier_free_eps(model, labels, 10, 0.0)(x, step), model(x, step, labels)) == 0.0);
  const Tensor null_labels = Tensor::full({3}, 10, DType::I32);
  const Tensor expected = model(x, step, labels) * 3.0 - model(x, step, null_labels) * 2.0;
  CHECK(max_abs_diff(classifier_free_eps(model, labels, 10, 2.0)(x, step), expected) < 1e-6);
}

TEST_CASE("classifier guidance: the mean's shift is s Sigma times the gradient of log p_phi, checked by finite differences") {
  Philox rng(6);
  const Tensor w = randn({3}, rng).to(DType::F64);
  const ClassLogProb f = [&](const Tensor& x, const Tensor&) { return log(sigmoid(sum(mean(x, {1}) * w, {1}) - 0.3)); };
  const Tensor x = randn({2, 4, 3}, rng).to(DType::F64);
  const Tensor step = step_tensor(2, 0);
  const Tensor g = class_log_prob_gradient(f, x, step);
  // Central differences of sum_b log p(c_b | x_b), element by element.
  Tensor xp = x.clone();
  double worst = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double h = 1e-6, v = x.data<double>()[i];
    xp.data<double>()[i] = v + h;
    const double up = sum(f(xp, step)).item();
    xp.data<double>()[i] = v - h;
    const double down = sum(f(xp, step)).item();
    xp.data<double>()[i] = v;
    worst = std::max(worst, std::abs((up - down) / (2 * h) - g.data<double>()[i]));
  }
  CHECK(worst < 1e-8);
  const Tensor mean = randn({2, 4, 3}, rng).to(DType::F64);
  const Tensor variance = Tensor::from_vector(std::vector<double>{0.1, 0.02}, {2, 1, 1});
  const Tensor shifted = classifier_guided_mean(mean, variance, g, 5.0);
  CHECK(max_abs_diff(shifted - mean, variance * g * 5.0) < 1e-15);
}
