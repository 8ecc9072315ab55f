// Elementwise ops: broadcasting against naive loops, and every op through the gradient-check harness.
#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "gradcheck.hpp"
#include "tensor/vec_math.hpp"

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
  CHECK_GRADIENTS([](auto& in) { return in[0] + in[1]; }, {A, B}, strided());
  CHECK_GRADIENTS([](auto& in) { return in[0] - in[1]; }, {A, B}, strided());
  CHECK_GRADIENTS([](auto& in) { return in[0] * in[1]; }, {A, B}, strided());
  CHECK_GRADIENTS([](auto& in) { return in[0] / (square(in[1]) + 0.5); }, {A, B}, strided());
  CHECK_GRADIENTS([](auto& in) { return (in[0] + 2.0) * 3.0 - 1.0; }, {A}, strided());
}

TEST_CASE("unary op gradients") {
  const auto X = random_input({3, 5}, 7);
  const auto P = add(abs(random_input({3, 5}, 8)), 0.2);  // positive, away from 0
  CHECK_GRADIENTS([](auto& in) { return neg(in[0]); }, {X}, strided());
  CHECK_GRADIENTS([](auto& in) { return exp(in[0]); }, {X}, strided(kFourPoint));
  CHECK_GRADIENTS([](auto& in) { return log(in[0]); }, {P}, strided(kFourPoint));
  CHECK_GRADIENTS([](auto& in) { return log1p(in[0]); }, {P}, strided(kFourPoint));
  CHECK_GRADIENTS([](auto& in) { return expm1(in[0]); }, {X}, strided(kFourPoint));
  CHECK_GRADIENTS([](auto& in) { return sqrt(in[0]); }, {P}, strided());
  CHECK_GRADIENTS([](auto& in) { return square(in[0]); }, {X}, strided());
  CHECK_GRADIENTS([](auto& in) { return pow(in[0], 2.5); }, {P}, strided());
  CHECK_GRADIENTS([](auto& in) { return pow(in[0], -1.5); }, {P}, strided());
  CHECK_GRADIENTS([](auto& in) { return abs(in[0]); }, {X}, strided());
  CHECK_GRADIENTS([](auto& in) { return tanh(in[0]); }, {X}, strided(kFourPoint));
  CHECK_GRADIENTS([](auto& in) { return sigmoid(in[0]); }, {X}, strided(kFourPoint));
  CHECK_GRADIENTS([](auto& in) { return relu(in[0]); }, {X}, strided());
  CHECK_GRADIENTS([](auto& in) { return silu(in[0]); }, {X}, strided(kFourPoint));
  CHECK_GRADIENTS([](auto& in) { return gelu(in[0], GeluForm::Erf); }, {X}, strided(kFourPoint));
  CHECK_GRADIENTS([](auto& in) { return gelu(in[0], GeluForm::Tanh); }, {X}, strided(kFourPoint));
  CHECK_GRADIENTS([](auto& in) { return clamp(in[0], -0.5, 0.7); }, {X}, strided());
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
    CHECK(expm1(x).at({i}) == std::expm1(v));
    if (v > -1) CHECK(log1p(x).at({i}) == doctest::Approx(std::log1p(v)).epsilon(1e-15));
  }
  // Where 1 + x and e^x round to 1 in float, the pair keeps x: log(1 + x) and exp(x) - 1 give 0.
  const Tensor tiny = Tensor::full({1}, 1e-9, DType::F32);
  CHECK(log1p(tiny).item() == doctest::Approx(1e-9).epsilon(1e-6));
  CHECK(expm1(tiny).item() == doctest::Approx(1e-9).epsilon(1e-6));
  CHECK(log(tiny + 1.0).item() == 0.0);
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
  std::vector<double> xs;  // 34,286 points: on 2 threads the op splits them into pieces
  for (double v = -12.0; v <= 12.0; v += 0.0007) xs.push_back(v);
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

TEST_CASE("vec::log, the float log: about 1 ulp from subnormals to FLT_MAX, and the right limits") {
  std::vector<float> x;
  for (uint32_t bits = 1; bits < 0x7f800000u; bits += 9973) {  // every binade, subnormals first
    float v;
    std::memcpy(&v, &bits, sizeof v);
    x.push_back(v);
  }
  for (double v = 0.5; v <= 2.0; v += 1e-4) x.push_back(static_cast<float>(v));  // around 1, where log is small
  const size_t finite = x.size();  // then special values, and a length that is no multiple of the lanes
  for (float v : {0.0f, -0.0f, -1.0f, std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN(),
                  std::numeric_limits<float>::max(), 1.0f})
    x.push_back(v);
  std::vector<float> y = x;
  vec::log_inplace(y.data(), static_cast<int64_t>(y.size()));
  double worst = 0;  // relative to the float spacing at the true value
  for (size_t i = 0; i < finite; ++i) {
    const double want = std::log(static_cast<double>(x[i]));
    const double ulp = std::nextafter(static_cast<float>(std::abs(want)), INFINITY) - static_cast<float>(std::abs(want));
    worst = std::max(worst, std::abs(y[i] - want) / std::max(ulp, static_cast<double>(std::numeric_limits<float>::denorm_min())));
  }
  INFO("max error " << worst << " ulp");
  CHECK(worst < 2.5);
  CHECK(y[finite] == -std::numeric_limits<float>::infinity());
  CHECK(y[finite + 1] == -std::numeric_limits<float>::infinity());
  CHECK(std::isnan(y[finite + 2]));
  CHECK(y[finite + 3] == std::numeric_limits<float>::infinity());
  CHECK(std::isnan(y[finite + 4]));
  CHECK(y[finite + 5] == doctest::Approx(std::log(static_cast<double>(std::numeric_limits<float>::max()))));
  CHECK(y[finite + 6] == 0.0f);
}

TEST_CASE("vec::softplus matches log1p(exp(x)) in double to a few float ulps, in both tails") {
  std::vector<float> x;
  for (double v = -87.0; v <= 87.0; v += 0.0173) x.push_back(static_cast<float>(v));
  std::vector<float> y(x.size());
  for (size_t i = 0; i < x.size(); i += vec::kLanes) {
    vec::floatv v{};
    const size_t n = std::min<size_t>(vec::kLanes, x.size() - i);
    std::memcpy(&v, x.data() + i, n * sizeof(float));
    const vec::floatv r = vec::softplus(v);
    std::memcpy(y.data() + i, &r, n * sizeof(float));
  }
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double xi = x[i], want = std::max(xi, 0.0) + std::log1p(std::exp(-std::abs(xi)));
    worst = std::max(worst, std::abs(y[i] - want) / want);  // relative, also where softplus ~ e^x is tiny
  }
  INFO("max relative error " << worst);
  CHECK(worst < 5e-7);
}

TEST_CASE("float exp and log (SIMD lanes) agree with the float64 ops, on strided views too") {
  Philox rng(5);
  const Tensor x64 = mul(randn({7, 33}, rng, DType::F64), 4.0);
  const Tensor x32 = x64.to(DType::F32).transpose(0, 1);  // a non-contiguous view
  const Tensor e = exp(x32), l = log(e.transpose(0, 1)).transpose(0, 1);
  for (int64_t i = 0; i < 33; ++i)
    for (int64_t j = 0; j < 7; ++j) {
      const double v = static_cast<float>(x64.at({j, i}));
      CHECK(e.at({i, j}) == doctest::Approx(std::exp(v)).epsilon(3e-7));
      const double ev = e.at({i, j});  // the float value that was logged
      CHECK(l.at({i, j}) == doctest::Approx(std::log(ev)).epsilon(3e-7).scale(1e-30));
    }
}

TEST_CASE("vec::exp and vec::log in double lanes: about 1 ulp against the standard library, and the limits") {
  auto ulps = [](double got, double want) {
    const double ulp = std::nextafter(std::abs(want), INFINITY) - std::abs(want);
    return std::abs(got - want) / ulp;
  };
  std::vector<double> x;
  for (double v = -708.3; v <= 709.7; v += 0.0731) x.push_back(v);
  for (double v = -1e-3; v <= 1e-3; v += 1.37e-6) x.push_back(v);  // near 0, where exp(x) - 1 is small
  const size_t finite = x.size();
  for (double v : {-std::numeric_limits<double>::infinity(), -800.0, 710.0, std::numeric_limits<double>::infinity(),
                   std::numeric_limits<double>::quiet_NaN()})
    x.push_back(v);
  std::vector<double> y = x;
  vec::exp_inplace(y.data(), static_cast<int64_t>(y.size()));
  double worst = 0;
  for (size_t i = 0; i < finite; ++i) worst = std::max(worst, ulps(y[i], std::exp(x[i])));
  INFO("exp: max error " << worst << " ulp");
  CHECK(worst < 2.5);
  CHECK(y[finite] == 0.0);
  CHECK(y[finite + 1] == 0.0);
  CHECK(std::isinf(y[finite + 2]));
  CHECK(std::isinf(y[finite + 3]));
  CHECK(std::isnan(y[finite + 4]));

  x.clear();
  for (uint64_t bits = 1; bits < 0x7ff0000000000000ull; bits += 0x7ff0000000000000ull / 200003)  // every binade
    x.push_back(std::bit_cast<double>(bits));
  for (double v = 0.5; v <= 2.0; v += 1.3e-5) x.push_back(v);  // around 1, where log is small
  const size_t finite_log = x.size();
  for (double v : {0.0, -0.0, -2.0, std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN(), 1.0})
    x.push_back(v);
  y = x;
  vec::log_inplace(y.data(), static_cast<int64_t>(y.size()));
  worst = 0;
  for (size_t i = 0; i < finite_log; ++i) worst = std::max(worst, ulps(y[i], std::log(x[i])));
  INFO("log: max error " << worst << " ulp");
  CHECK(worst < 2.5);
  CHECK(y[finite_log] == -std::numeric_limits<double>::infinity());
  CHECK(y[finite_log + 1] == -std::numeric_limits<double>::infinity());
  CHECK(std::isnan(y[finite_log + 2]));
  CHECK(std::isinf(y[finite_log + 3]));
  CHECK(std::isnan(y[finite_log + 4]));
  CHECK(y[finite_log + 5] == 0.0);
}
