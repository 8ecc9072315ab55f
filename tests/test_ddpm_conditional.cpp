// The class-conditional DDPM (Ho & Salimans 2021; docs/math.md §11) on a tiny U-Net with K classes:
//   - classifier-free guidance at w = 0 samples exactly what the conditional network samples, bit for bit at a fixed
//     seed, with each sampler (ancestral, DDIM, DPM-Solver++(2M)); at w = 2 the guided eps, computed as one batch of
//     2B, samples what (1 + w) eps(x, c) - w eps(x, null) computed in two passes samples, to float rounding;
//   - label dropping (train.p_uncond): its rate over many draws lies within a binomial bound, p = 0 and p = 1 drop
//     none and all, and a stream restored from its counter drops exactly what the uninterrupted stream drops;
//   - a tiny conditional run (labels dropped with p = 0.1) loses loss, and learns its classes: from the same x_T it
//     samples light images for the light class and dark ones for the dark class, above chance unguided and all but
//     a few at w = 3, and both from the null class.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "diffusion/ddim_sampler.hpp"
#include "diffusion/ddpm_sampler.hpp"
#include "diffusion/dpm_solver.hpp"
#include "diffusion/guidance.hpp"
#include "gradcheck.hpp"
#include "nn/arena.hpp"
#include "nn/optim.hpp"
#include "tensor/autograd.hpp"
#include "tensor/ops.hpp"
#include "tiny_images.hpp"

using namespace diffuse;
using namespace diffuse::diffusion;
using namespace diffuse::testing;

namespace {
GaussianDiffusion tiny_diffusion(int64_t timesteps = 50) {
  BetaScheduleConfig s;
  s.timesteps = timesteps;
  s.beta_start = 1e-3;
  s.beta_end = 0.2 * 50 / static_cast<double>(timesteps);
  return GaussianDiffusion(make_schedule(s), VarianceType::Large);
}

nn::UNetConfig conditional_unet(int64_t classes) {
  nn::UNetConfig c = tiny_unet();
  c.num_classes = classes;
  return c;
}

// A freshly built U-Net predicts eps = 0 (its last conv starts at zero) whatever the class: move every parameter
// so that the prediction depends on x, t and the label.
void perturb(nn::UNet& net, Philox& rng) {
  NoGradGuard no_grad;
  for (const Tensor& p : net.parameters()) p.copy_(p + randn(p.shape(), rng) * 0.1);
}

std::vector<int32_t> ints(const Tensor& t) {
  std::vector<int32_t> v;
  for (const double x : t.to_vector()) v.push_back(static_cast<int32_t>(x));
  return v;
}
}  // namespace

TEST_CASE("classifier-free guidance at w = 0 is conditional sampling bit for bit, with each sampler; w = 2 is eq. 6") {
  constexpr int64_t K = 3;
  Philox init(3);
  nn::UNet net(conditional_unet(K), init);
  perturb(net, init);
  net.eval();
  const GaussianDiffusion d = tiny_diffusion(20);
  const Tensor labels = Tensor::from_vector(std::vector<int32_t>{0, 1, 2, 2}, {4});
  const Tensor other = Tensor::from_vector(std::vector<int32_t>{1, 2, 0, 0}, {4});
  const Tensor null = Tensor::full({4}, K, DType::I32);
  Philox unused(0);
  const ConditionalEpsModel network = [&](const Tensor& x, const Tensor& s, const Tensor& y) { return net.forward(x, s, unused, y); };
  const EpsModel conditional = [&](const Tensor& x, const Tensor& s) { return network(x, s, labels); };
  const EpsModel mislabelled = [&](const Tensor& x, const Tensor& s) { return network(x, s, other); };
  const EpsModel two_passes = [&](const Tensor& x, const Tensor& s) { return network(x, s, labels) * 3.0 - network(x, s, null) * 2.0; };
  const EpsModel cfg0 = classifier_free_eps(network, labels, K, 0.0), cfg2 = classifier_free_eps(network, labels, K, 2.0);

  const Shape shape = {4, 3, 8, 8};
  const std::vector<std::pair<std::string, std::function<Tensor(const EpsModel&)>>> samplers = {
      {"ancestral", [&](const EpsModel& m) { Philox rng(11); return sample(m, d, shape, rng); }},
      {"ddim eta 0.5", [&](const EpsModel& m) {
         Philox rng(11);
         DdimOptions o;
         o.steps = 10;
         o.eta = 0.5;
         return ddim_sample(m, d, shape, o, rng);
       }},
      {"dpm-solver", [&](const EpsModel& m) {
         Philox rng(11);
         DpmSolverOptions o;
         o.steps = 10;
         return dpm_solver_sample(m, d, shape, o, rng);
       }},
  };
  for (const auto& [name, run] : samplers) {
    CAPTURE(name);
    const Tensor x = run(conditional);
    CHECK(max_abs_diff(run(cfg0), x) == 0.0);
    CHECK(max_abs_diff(run(mislabelled), x) > 1e-2);  // the labels matter
    const Tensor guided = run(cfg2);
    MESSAGE(name << ": |w = 2 - w = 0| " << max_abs_diff(guided, x) << ", |one batch of 2B - two passes| "
                 << max_abs_diff(guided, run(two_passes)));
    CHECK(max_abs_diff(guided, x) > 1e-2);
    CHECK(max_abs_diff(guided, run(two_passes)) < 1e-4);
  }
}

TEST_CASE("label dropping: the rate within a binomial bound, p = 0 and p = 1 exact, and exact from a restored counter") {
  const int64_t B = 1000, draws = 100;
  const Tensor labels = Tensor::full({B}, 7, DType::I32);
  for (const double p : {0.1, 0.5}) {
    Philox rng(21, 2);
    int64_t dropped = 0;
    int64_t other = 0;
    for (int64_t i = 0; i < draws; ++i)
      for (const int32_t y : ints(drop_labels(labels, 10, p, rng))) {
        dropped += y == 10;
        other += y != 7 && y != 10;
      }
    CHECK(other == 0);
    const double n = static_cast<double>(B * draws), bound = 5 * std::sqrt(n * p * (1 - p));  // 5 standard deviations
    MESSAGE("p_uncond " << p << ": " << dropped << " of " << n << " dropped (expected " << n * p << " +- " << bound / 5 << ")");
    CHECK(std::abs(static_cast<double>(dropped) - n * p) < bound);
    CHECK(rng.counter() > 0);
  }
  Philox none(1), all(1);
  CHECK(ints(drop_labels(labels, 10, 0.0, none)) == ints(labels));
  CHECK(ints(drop_labels(labels, 10, 1.0, all)) == ints(Tensor::full({B}, 10, DType::I32)));
  CHECK(none.counter() == all.counter());  // one draw per label whatever p
  CHECK_THROWS_WITH_AS(drop_labels(labels, 10, 1.5, none), "train.p_uncond: the probability of dropping a label must be in [0, 1], got 1.5",
                       std::invalid_argument);

  // Resume: a stream rebuilt from (seed, stream, counter), as a checkpoint restores it, drops what the uninterrupted
  // stream drops next.
  const Tensor mixed = Tensor::from_vector(std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {10});
  Philox straight(5, 2);
  for (int i = 0; i < 3; ++i) drop_labels(mixed, 10, 0.3, straight);
  Philox resumed(straight.seed(), straight.stream(), straight.counter());
  for (int i = 0; i < 5; ++i) CHECK(ints(drop_labels(mixed, 10, 0.3, resumed)) == ints(drop_labels(mixed, 10, 0.3, straight)));
}

TEST_CASE("a tiny class-conditional U-Net loses loss with labels dropped at p = 0.1, and learns its two classes") {
  Philox rng(1);
  // Two classes: light images (class 0) and dark ones (class 1), each a smooth tiny image around +-0.5.
  const Tensor base = tiny_images(rng);
  std::vector<int32_t> ids(64);
  Tensor images = Tensor::empty(base.shape());
  for (int64_t i = 0; i < 64; ++i) {
    ids[static_cast<size_t>(i)] = static_cast<int32_t>(i % 2);
    images.narrow(0, i, 1).copy_(clamp(base.narrow(0, i, 1) * 0.3 + (i % 2 ? -0.5 : 0.5), -1.0, 1.0));
  }
  const Tensor labels = Tensor::from_vector(ids, {64});
  nn::UNet net(conditional_unet(2), rng);
  nn::ParameterArena arena(net);
  nn::Adam adam(arena, {});
  const GaussianDiffusion d = tiny_diffusion();
  std::vector<double> losses;
  for (int step = 0; step < 120; ++step) {
    arena.zero_grad();
    const int64_t at = (step * 16) % 64;
    const Tensor x0 = images.narrow(0, at, 16);
    const Tensor y = drop_labels(labels.narrow(0, at, 16), 2, 0.1, rng);
    const EpsModel model = [&](const Tensor& x, const Tensor& t) { return net.forward(x, t, rng, y); };
    const Tensor loss = d.training_loss(model, x0, sample_steps(16, d.timesteps(), rng), randn(x0.shape(), rng), LossType::Simple).loss;
    loss.backward();
    nn::clip_grad_norm(arena, 1.0);
    adam.step(2e-3);
    losses.push_back(loss.item());
  }
  auto window = [&](size_t from) {
    double s = 0;
    for (size_t i = from; i < from + 20; ++i) s += losses[i];
    return s / 20;
  };
  MESSAGE("L_simple, mean of 20 steps: " << window(0) << " -> " << window(50) << " -> " << window(100));
  CHECK(window(50) < 0.8 * window(0));
  CHECK(window(100) < window(50));

  // The classes are learnt: from the same x_T, samples asked for the light class come out light and samples asked
  // for the dark class dark, more so under guidance; the null class (the unconditional model) draws both. DDIM,
  // 10 steps.
  net.eval();
  Philox unused(0);
  const ConditionalEpsModel network = [&](const Tensor& x, const Tensor& s, const Tensor& y) { return net.forward(x, s, unused, y); };
  auto brightness = [&](int32_t label, double w) {  // the mean of each of 32 samples of `label` at guidance scale w
    Philox draw(9);
    DdimOptions o;
    o.steps = 10;
    const Tensor x = ddim_sample(classifier_free_eps(network, Tensor::full({32}, label, DType::I32), 2, w), d, {32, 3, 8, 8}, o, draw);
    return mean(x.reshape({32, -1}), {1}).to_vector();
  };
  auto on_their_side = [&](double w) {  // of 32 light and 32 dark samples
    const std::vector<double> light = brightness(0, w), dark = brightness(1, w);
    int64_t n = 0;
    for (size_t i = 0; i < 32; ++i) n += (light[i] > 0) + (dark[i] < 0);
    return n;
  };
  const int64_t unguided = on_their_side(0.0), guided = on_their_side(3.0);
  const std::vector<double> none = brightness(2, 0.0);
  const int64_t light_of_none = std::count_if(none.begin(), none.end(), [](double v) { return v > 0; });
  MESSAGE("from the same 32 x_T: " << unguided << " of 64 samples on their class's side of 0 at w = 0, " << guided
                                   << " at w = 3; the null class draws " << light_of_none << " light and " << 32 - light_of_none << " dark");
  CHECK(unguided >= 40);  // chance: 32 +- 4
  CHECK(guided >= 62);
  CHECK(light_of_none >= 4);
  CHECK(light_of_none <= 28);
}
