// Reductions, softmax and cross-entropy: values against naive loops, gradients through the harness.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "gradcheck.hpp"

using namespace diffuse;
using namespace diffuse::testing;

TEST_CASE("sum, mean and max over axes match naive loops") {
  const Tensor x = random_input({3, 4, 5}, 1);
  const Tensor s02 = sum(x, {0, 2}), m1 = mean(x, {1}, true), mx = max(x, {-1});
  REQUIRE(s02.shape() == Shape{4});
  REQUIRE(m1.shape() == Shape{3, 1, 5});
  REQUIRE(mx.shape() == Shape{3, 4});
  for (int64_t j = 0; j < 4; ++j) {
    double acc = 0;
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t k = 0; k < 5; ++k) acc += x.at({i, j, k});
    CHECK(s02.at({j}) == doctest::Approx(acc));
  }
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t k = 0; k < 5; ++k) {
      double acc = 0;
      for (int64_t j = 0; j < 4; ++j) acc += x.at({i, j, k});
      CHECK(m1.at({i, 0, k}) == doctest::Approx(acc / 4));
    }
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 4; ++j) {
      double best = -INFINITY;
      for (int64_t k = 0; k < 5; ++k) best = std::max(best, x.at({i, j, k}));
      CHECK(mx.at({i, j}) == best);
    }
  CHECK(sum(x).shape() == Shape{});
  CHECK(sum(x).item() == doctest::Approx(sum(sum(x, {0}), {0, 1}).item()));
  // Column sums of a contiguous matrix (the fast path for bias gradients) equal the general path.
  const Tensor big = random_input({700, 9}, 2);
  CHECK(max_abs_diff(sum(big, {0}), sum(big.transpose(0, 1), {1})) < 1e-12);
  CHECK_THROWS_WITH_AS(sum(x, {3}), doctest::Contains("sum: axis 3"), std::invalid_argument);
}

TEST_CASE("reduction gradients") {
  const auto X = random_input({3, 4, 5}, 3);
  CHECK_GRADIENTS([](auto& in) { return sum(in[0], {1}); }, {X}, strided());
  CHECK_GRADIENTS([](auto& in) { return sum(in[0], {0, 2}, true); }, {X}, strided());
  CHECK_GRADIENTS([](auto& in) { return mean(in[0], {2, 0}); }, {X}, strided());
  CHECK_GRADIENTS([](auto& in) { return mean(in[0]); }, {X}, strided());
  CHECK_GRADIENTS([](auto& in) { return max(in[0], {1}); }, {X}, strided());
  CHECK_GRADIENTS([](auto& in) { return max(in[0], {0, 2}, true); }, {X}, strided());
  CHECK_GRADIENTS([](auto& in) { return sum_to(in[0], {4, 1}); }, {X}, strided());
}

TEST_CASE("softmax and log-softmax are stable and correct") {
  const Tensor x = Tensor::from_vector(std::vector<double>{1000, 1001, 1002, -5, 0, 5}, {2, 3});
  const Tensor p = softmax(x, 1), lp = log_softmax(x, 1);
  const double z = 1 + std::exp(1.0) + std::exp(2.0);
  CHECK(p.at({0, 2}) == doctest::Approx(std::exp(2.0) / z));
  CHECK(lp.at({0, 0}) == doctest::Approx(-std::log(z)));
  CHECK(std::isfinite(lp.at({1, 0})));
  const Tensor q = softmax(random_input({3, 4, 5}, 4), 1);
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t k = 0; k < 5; ++k) {
      double s = 0;
      for (int64_t j = 0; j < 4; ++j) s += q.at({i, j, k});
      CHECK(s == doctest::Approx(1.0));
    }
}

TEST_CASE("softmax gradients over every axis") {
  const auto X = random_input({3, 4, 5}, 5);
  for (int64_t axis : {0, 1, 2}) {
    CHECK_GRADIENTS([axis](auto& in) { return softmax(in[0], axis); }, {X}, strided(kFourPoint));
    CHECK_GRADIENTS([axis](auto& in) { return log_softmax(in[0], axis); }, {X}, strided(kFourPoint));
  }
}

TEST_CASE("cross-entropy against a naive computation, with weights and a mask") {
  const Tensor logits = random_input({2, 3, 5}, 6);
  const Tensor targets = Tensor::from_vector(std::vector<int32_t>{0, 4, 2, 1, 3, 3}, {2, 3});
  const Tensor weight = Tensor::from_vector(std::vector<double>{1, 0, 2, 0.5, 1, 0}, {2, 3});
  double plain = 0, weighted = 0, wsum = 0;
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j) {
      double z = 0;
      for (int64_t k = 0; k < 5; ++k) z += std::exp(logits.at({i, j, k}));
      const double ce = std::log(z) - logits.at({i, j, static_cast<int64_t>(targets.at({i, j}))});
      plain += ce;
      weighted += weight.at({i, j}) * ce;
      wsum += weight.at({i, j});
    }
  CHECK(cross_entropy(logits, targets).item() == doctest::Approx(plain / 6));
  CHECK(cross_entropy(logits, targets, Reduction::Sum).item() == doctest::Approx(plain));
  CHECK(cross_entropy(logits, targets, Reduction::Mean, weight).item() == doctest::Approx(weighted / wsum));
  CHECK(cross_entropy(logits, targets, Reduction::None).shape() == Shape{2, 3});

  CHECK_GRADIENTS([&](auto& in) { return cross_entropy(in[0], targets); }, {logits}, strided(kFourPoint));
  CHECK_GRADIENTS([&](auto& in) { return cross_entropy(in[0], targets, Reduction::None); }, {logits}, strided(kFourPoint));
  CHECK_GRADIENTS([&](auto& in) { return cross_entropy(in[0], targets, Reduction::Mean, weight); }, {logits}, strided(kFourPoint));
  CHECK_THROWS_WITH_AS(cross_entropy(logits, Tensor::from_vector(std::vector<int32_t>{0, 5, 0, 0, 0, 0}, {2, 3})),
                       doctest::Contains("target 5 at position 1"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(cross_entropy(logits, Tensor::zeros({3}, DType::I32)), doctest::Contains("cross_entropy"),
                       std::invalid_argument);
}

// float32 computes each row's log-sum-exp and softmax in SIMD lanes (vec::exp_shifted_total, vec::scaled_exp_shifted);
// float64 element by element. On the same values (float32's, widened) they agree within float32's rounding: the
// loss l - x_t, with l = m + log(sum) of size up to about 20, carries a few half-ulps of 20 (2^-20 each), so 1e-5;
// each gradient entry softmax - onehot, in [-1, 1], carries the exp's 1e-7 and the rounding of x - l (up to 1e-6
// relative), so 2e-6. A lane's tail dropped or counted twice moves a K = 5940 row's loss by about 1/K, 1.7e-4.
TEST_CASE("float32 cross-entropy in SIMD lanes agrees with float64 on wide rows and ragged tails") {
  for (int64_t K : {1, 7, 16, 37, 5940}) {
    CAPTURE(K);
    const Tensor x32 = random_input({4, K}, 11, 3.0).to(DType::F32), x64 = x32.to(DType::F64);
    std::vector<int32_t> t(4);
    for (int32_t i = 0; i < 4; ++i) t[static_cast<size_t>(i)] = static_cast<int32_t>((i * 7919) % K);
    const Tensor targets = Tensor::from_vector(t, {4});
    CHECK(max_abs_diff(cross_entropy(x32, targets, Reduction::None).to(DType::F64),
                       cross_entropy(x64, targets, Reduction::None)) < 1e-5);
    Tensor a = x32.clone(), b = x64.clone();
    a.set_requires_grad();
    b.set_requires_grad();
    cross_entropy(a, targets, Reduction::Sum).backward();
    cross_entropy(b, targets, Reduction::Sum).backward();
    CHECK(max_abs_diff(a.grad().to(DType::F64), b.grad()) < 2e-6);
  }
  // A -inf logit (a state the model rules out) has probability exactly 0 and no gradient.
  Tensor x = Tensor::from_vector(std::vector<float>{1.0f, -std::numeric_limits<float>::infinity(), 0.5f, 2.0f}, {1, 4});
  x.set_requires_grad();
  const Tensor ce = cross_entropy(x, Tensor::from_vector(std::vector<int32_t>{0}, {1}), Reduction::Sum);
  CHECK(ce.item() == doctest::Approx(std::log(std::exp(1.0) + std::exp(0.5) + std::exp(2.0)) - 1.0).epsilon(1e-6));
  ce.backward();
  CHECK(x.grad().to_vector()[1] == 0.0);
}
