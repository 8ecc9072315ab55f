// Elementwise ops: broadcasting against naive loops, and every op through the gradient-check harness.
#include <doctest/doctest.h>

#include <cmath>

#include "gradcheck.hpp"

using namespace diffuse;
using namespace diffuse::testing;

TEST_CASE("broadcasting matches a naive loop") {
  const Tensor a = random_input({3, 1, 5}, 1), b = random_input({4, 1}, 2);
  const Tensor y = a * b;  // [3, 4, 5]
  REQUIRE(y.shape() == Shape{3, 4, 5});
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 4; ++j)
      for (int64_t k = 0; k < 5; ++k) CHECK(y.at({i, j, k}) == doctest::Approx(a.at({i, 0, k}) * b.at({j, 0})));
  const Tensor s = sub(a.transpose(0, 2), Tensor::scalar(1.5, DType::F64));  // strided input, 0-d operand
  for (int64_t k = 0; k < 5; ++k) CHECK(s.at({k, 0, 2}) == doctest::Approx(a.at({2, 0, k}) - 1.5));
}

TEST_CASE("a large strided broadcast is exact across threads") {
  const Tensor a = random_input({300, 257}, 3).to(DType::F32), b = random_input({257}, 4).to(DType::F32);
  const Tensor y = div(a.transpose(0, 1), b.unsqueeze(1));  // [257, 300]
  for (int64_t i = 0; i < 257; i += 17)
    for (int64_t j = 0; j < 300; j += 13) CHECK(y.at({i, j}) == static_cast<float>(a.at({j, i})) / static_cast<float>(b.at({i})));
}

TEST_CASE("incompatible shapes and dtypes are refused with the op and the shapes") {
  const Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({4});
  CHECK_THROWS_WITH_AS(add(a, b), "add: shapes [2, 3] and [4] do not broadcast", std::invalid_argument);
  CHECK_THROWS_WITH_AS(mul(a, Tensor::zeros({2, 3}, DType::F64)), doctest::Contains("mul: dtype mismatch"), std::invalid_argument);
}

TEST_CASE("binary op gradients, with broadcasting") {
  const auto A = random_input({3, 1, 4}, 5), B = random_input({2, 4}, 6);
  CHECK_GRADIENTS([](auto& in) { return in[0] + in[1]; }, {A, B});
  CHECK_GRADIENTS([](auto& in) { return in[0] - in[1]; }, {A, B});
  CHECK_GRADIENTS([](auto& in) { return in[0] * in[1]; }, {A, B});
  CHECK_GRADIENTS([](auto& in) { return in[0] / (square(in[1]) + 0.5); }, {A, B});
  CHECK_GRADIENTS([](auto& in) { return (in[0] + 2.0) * 3.0 - 1.0; }, {A});
}

TEST_CASE("unary op gradients") {
  const auto X = random_input({3, 5}, 7);
  const auto P = add(abs(random_input({3, 5}, 8)), 0.2);  // positive, away from 0
  CHECK_GRADIENTS([](auto& in) { return neg(in[0]); }, {X});
  CHECK_GRADIENTS([](auto& in) { return exp(in[0]); }, {X});
  CHECK_GRADIENTS([](auto& in) { return log(in[0]); }, {P});
  CHECK_GRADIENTS([](auto& in) { return sqrt(in[0]); }, {P});
  CHECK_GRADIENTS([](auto& in) { return square(in[0]); }, {X});
  CHECK_GRADIENTS([](auto& in) { return pow(in[0], 2.5); }, {P});
  CHECK_GRADIENTS([](auto& in) { return pow(in[0], -1.5); }, {P});
  CHECK_GRADIENTS([](auto& in) { return abs(in[0]); }, {X});
  CHECK_GRADIENTS([](auto& in) { return tanh(in[0]); }, {X});
  CHECK_GRADIENTS([](auto& in) { return sigmoid(in[0]); }, {X});
  CHECK_GRADIENTS([](auto& in) { return relu(in[0]); }, {X});
  CHECK_GRADIENTS([](auto& in) { return silu(in[0]); }, {X});
  CHECK_GRADIENTS([](auto& in) { return gelu(in[0], GeluForm::Erf); }, {X});
  CHECK_GRADIENTS([](auto& in) { return gelu(in[0], GeluForm::Tanh); }, {X});
  CHECK_GRADIENTS([](auto& in) { return clamp(in[0], -0.5, 0.7); }, {X});
}

TEST_CASE("unary forward values against the standard library") {
  const Tensor x = Tensor::from_vector(std::vector<double>{-2.0, -0.3, 0.0, 0.4, 3.0}, {5});
  for (int64_t i = 0; i < 5; ++i) {
    const double v = x.at({i});
    CHECK(gelu(x, GeluForm::Erf).at({i}) == doctest::Approx(0.5 * v * (1 + std::erf(v / std::sqrt(2.0)))));
    CHECK(gelu(x, GeluForm::Tanh).at({i}) ==
          doctest::Approx(0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)))));
    CHECK(silu(x).at({i}) == doctest::Approx(v / (1 + std::exp(-v))));
    CHECK(clamp(x, -1, 1).at({i}) == std::min(std::max(v, -1.0), 1.0));
  }
}

TEST_CASE("in-place helpers stay off the tape") {
  Tensor w = Tensor::ones({3});
  w.set_requires_grad();
  add_(w, Tensor::full({1}, 2.0), 0.5);
  scale_(w, 2.0);
  CHECK(w.to_vector() == std::vector<double>{4, 4, 4});
  CHECK_FALSE(w.grad_fn());
}

TEST_CASE("the vectorised float GELU (erf form) and its gradient match the float64 path to 3e-7") {
  std::vector<double> xs;
  for (double v = -12.0; v <= 12.0; v += 0.0137) xs.push_back(v);
  const int64_t n = static_cast<int64_t>(xs.size());
  Tensor x32 = Tensor::from_vector(xs, {n}).to(DType::F32), x64 = Tensor::from_vector(xs, {n});
  x32.set_requires_grad(true);
  x64.set_requires_grad(true);
  const Tensor y32 = gelu(x32), y64 = gelu(x64);
  sum(y32).backward();
  sum(y64).backward();
  double worst_y = 0, worst_g = 0;
  for (int64_t i = 0; i < n; ++i) {
    // the float input itself (rounded) is the reference point
    const double xi = static_cast<double>(static_cast<float>(xs[static_cast<size_t>(i)]));
    const double y = 0.5 * xi * (1 + std::erf(xi / std::sqrt(2.0)));
    const double d = 0.5 * (1 + std::erf(xi / std::sqrt(2.0))) + xi * std::exp(-0.5 * xi * xi) / std::sqrt(2 * M_PI);
    worst_y = std::max(worst_y, std::abs(y32.at({i}) - y) / std::max(1.0, std::abs(y)));
    worst_g = std::max(worst_g, std::abs(x32.grad().at({i}) - d));
  }
  INFO("worst relative error of y " << worst_y << ", of dy/dx " << worst_g);
  CHECK(worst_y < 3e-7);
  CHECK(worst_g < 3e-7);
  CHECK(x64.grad().at({0}) == doctest::Approx(0.0).scale(1e-20));  // float64 keeps std::erf
}
