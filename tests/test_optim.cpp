// Adam / AdamW against the update written out in double, the schedule, clipping, EMA, and gradient
// accumulation over micro-batches.
#include <doctest/doctest.h>

#include <cmath>

#include "gradcheck.hpp"
#include "tiny_model.hpp"

using namespace diffuse;
using namespace diffuse::testing;

namespace {
struct Scalars : nn::Module {
  Scalars() { p = register_parameter("p", Tensor::from_vector(std::vector<float>{1.0f, -2.0f, 0.5f}, {3})); }
  Tensor p;
};

// Runs three Adam steps with fixed gradients and compares with the formula in double.
void check_adam(nn::AdamConfig c, double lr) {
  Scalars s;
  nn::ParameterArena arena(s);
  nn::Adam adam(arena, c);
  const std::vector<std::vector<double>> grads = {{0.1, -0.3, 2.0}, {0.2, 0.1, -1.0}, {-0.05, 0.4, 0.5}};
  std::vector<double> p = {1.0, -2.0, 0.5}, m(3, 0), v(3, 0);
  for (int t = 1; t <= 3; ++t) {
    s.p.grad().copy_(Tensor::from_vector(grads[t - 1], {3}));
    adam.step(lr);
    for (int i = 0; i < 3; ++i) {
      double g = grads[t - 1][i];
      if (c.decoupled) p[i] *= 1 - lr * c.weight_decay;
      else g += c.weight_decay * p[i];
      m[i] = c.beta1 * m[i] + (1 - c.beta1) * g;
      v[i] = c.beta2 * v[i] + (1 - c.beta2) * g * g;
      const double bc1 = 1 - std::pow(c.beta1, t), bc2 = 1 - std::pow(c.beta2, t);
      if (c.tf_epsilon) p[i] -= lr * std::sqrt(bc2) / bc1 * m[i] / (std::sqrt(v[i]) + c.eps);
      else p[i] -= lr * (m[i] / bc1) / (std::sqrt(v[i] / bc2) + c.eps);
    }
  }
  for (int i = 0; i < 3; ++i) CHECK(s.p.at({i}) == doctest::Approx(p[i]).epsilon(1e-6));
}
}  // namespace

TEST_CASE("Adam and AdamW follow their update rules") {
  check_adam({}, 0.1);
  check_adam({.eps = 0.5, .tf_epsilon = true}, 0.1);  // a large eps makes the two placements differ
  check_adam({.weight_decay = 0.1}, 0.05);
  check_adam({.beta1 = 0.8, .beta2 = 0.95, .weight_decay = 0.2, .decoupled = true}, 0.05);
}

TEST_CASE("the eps placement matters, so the TF mode is really different") {
  Scalars a, b;
  nn::ParameterArena aa(a), ab(b);
  nn::Adam pa(aa, {.eps = 0.5}), pb(ab, {.eps = 0.5, .tf_epsilon = true});
  aa.grads().fill_(0.3);
  ab.grads().fill_(0.3);
  pa.step(0.1);
  pb.step(0.1);
  CHECK(std::abs(a.p.at({0}) - b.p.at({0})) > 1e-4);
}

TEST_CASE("learning-rate schedule: linear warmup, then constant or cosine") {
  nn::LrSchedule s{.lr = 2e-4, .warmup = 5000};
  CHECK(s.at(1) == doctest::Approx(2e-4 / 5000));
  CHECK(s.at(2500) == doctest::Approx(1e-4));
  CHECK(s.at(5000) == doctest::Approx(2e-4));
  CHECK(s.at(800000) == doctest::Approx(2e-4));
  nn::LrSchedule c{.lr = 1.0, .warmup = 10, .cosine = true, .total_iterations = 110, .min_lr = 0.1};
  CHECK(c.at(10) == doctest::Approx(1.0));
  CHECK(c.at(60) == doctest::Approx(0.55));
  CHECK(c.at(110) == doctest::Approx(0.1));
  CHECK(c.at(500) == doctest::Approx(0.1));
}

TEST_CASE("global gradient-norm clipping") {
  Scalars s;
  nn::ParameterArena arena(s);
  s.p.grad().copy_(Tensor::from_vector(std::vector<float>{3, 0, 4}, {3}));
  CHECK(nn::clip_grad_norm(arena, 10.0) == doctest::Approx(5.0));
  CHECK(s.p.grad().at({2}) == doctest::Approx(4.0));  // below the limit: untouched
  CHECK(nn::clip_grad_norm(arena, 1.0) == doctest::Approx(5.0));
  CHECK(s.p.grad().at({0}) == doctest::Approx(0.6).epsilon(1e-5));
  CHECK(s.p.grad().at({2}) == doctest::Approx(0.8).epsilon(1e-5));
}

TEST_CASE("EMA starts as an exact copy and follows ema = d ema + (1 - d) p") {
  Scalars s;
  nn::ParameterArena arena(s);
  nn::Ema ema(arena, 0.9);
  CHECK(max_abs_diff(ema.values(), arena.values()) == 0);
  s.p.copy_(Tensor::from_vector(std::vector<float>{2, 2, 2}, {3}));
  ema.update(1);
  CHECK(arena.view_of(ema.values(), arena.entries()[0]).at({1}) == doctest::Approx(0.9 * -2 + 0.1 * 2));
  ema.swap();
  CHECK(s.p.at({0}) == doctest::Approx(0.9 * 1 + 0.1 * 2));
  ema.swap();
  CHECK(s.p.at({0}) == 2);
}

TEST_CASE("EMA warm-up: d_n = min(decay, (1 + n) / (10 + n)), then the configured decay") {
  Scalars s;
  nn::ParameterArena arena(s);
  const nn::Ema plain(arena, 0.999), warm(arena, 0.999, true);
  CHECK(plain.decay_at(1) == 0.999);
  CHECK(warm.decay_at(1) == doctest::Approx(2.0 / 11.0));
  CHECK(warm.decay_at(100) == doctest::Approx(101.0 / 110.0));
  CHECK(warm.decay_at(8990) == doctest::Approx(0.999));  // (1 + n) / (10 + n) = 0.999 at n = 8990
  CHECK(warm.decay_at(100000) == 0.999);
  // After one update at n = 1 the EMA is 2/11 of the start and 9/11 of the new weights.
  nn::Ema ema(arena, 0.999, true);
  s.p.copy_(Tensor::from_vector(std::vector<float>{2, 2, 2}, {3}));
  ema.update(1);
  CHECK(arena.view_of(ema.values(), arena.entries()[0]).at({1}) == doctest::Approx(2.0 / 11 * -2 + 9.0 / 11 * 2));
}

TEST_CASE("two micro-batches of 4 accumulate the gradient of one batch of 8") {
  TinyRun a(11), b(11);
  a.arena.zero_grad();
  b.arena.zero_grad();
  // a: one batch of 8; b: two micro-batches of 4 with the loss halved. The random streams produce
  // the same numbers either way (counter-based draws), so only the summation order differs.
  {
    const Tensor x = randn({8, 6}, a.data_rng);
    mean(square(a.net.forward(x, a.dropout_rng))).backward();
  }
  for (int k = 0; k < 2; ++k) {
    const Tensor x = randn({4, 6}, b.data_rng);
    (mean(square(b.net.forward(x, b.dropout_rng))) * 0.5).backward();
  }
  CHECK(max_abs_diff(a.arena.grads(), b.arena.grads()) < 1e-5);
  CHECK(max_abs_diff(a.arena.grads(), Tensor::zeros({a.arena.size()})) > 1e-3);
}

TEST_CASE("the tiny model trains: its loss falls") {
  TinyRun run(12);
  double first = 0, last = 0;
  for (int s = 0; s < 150; ++s) {
    last = run.step(32);
    if (s == 0) first = last;
  }
  MESSAGE("loss " << first << " -> " << last);
  CHECK(last < 0.3 * first);
}
