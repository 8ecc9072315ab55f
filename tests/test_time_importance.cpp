// Importance sampling of t by the running L_t (diffusion/time_importance.hpp): uniform before the warm-up, then
// p_t by hand from the history, draws that follow p_t, weights that keep the loss unbiased, and a state that
// survives a round trip.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "diffusion/time_importance.hpp"

using namespace diffuse;
using diffuse::diffusion::TimeImportance;

namespace {
// Records `times` examples at each t with loss L(t).
template <class Loss>
void record(TimeImportance& ti, int times, Loss L) {
  const int64_t T = ti.timesteps();
  std::vector<int32_t> t;
  std::vector<double> loss;
  for (int k = 0; k < times; ++k)
    for (int64_t s = 1; s <= T; ++s) {
      t.push_back(static_cast<int32_t>(s));
      loss.push_back(L(s));
    }
  ti.update(Tensor::from_vector(t, {static_cast<int64_t>(t.size())}),
            Tensor::from_vector(loss, {static_cast<int64_t>(loss.size())}));
}
}  // namespace

TEST_CASE("before every t is seen more than 10 times, t is uniform and every weight 1") {
  TimeImportance ti(5);
  record(ti, 10, [](int64_t s) { return static_cast<double>(s); });
  CHECK_FALSE(ti.warmed_up());
  for (const double p : ti.probabilities()) CHECK(p == doctest::Approx(0.2).epsilon(1e-15));
  Philox rng(3);
  const TimeImportance::Draw d = ti.sample(1000, rng);
  std::vector<int> seen(5, 0);
  for (int64_t i = 0; i < 1000; ++i) {
    ++seen[static_cast<size_t>(d.t.data<int32_t>()[i] - 1)];
    CHECK(d.weight.data<double>()[i] == doctest::Approx(1.0).epsilon(1e-15));
  }
  for (const int c : seen) CHECK(c > 150);
}

TEST_CASE("after the warm-up, p_t is sqrt of the running E[L_t^2] (+1e-4), with p_1 = p_2, by hand") {
  TimeImportance ti(4);
  // 11 updates of a constant L give h = L^2 (1 - 0.9^11) exactly as the recursion h <- 0.1 L^2 + 0.9 h from 0.
  const std::vector<double> L = {7.0, 1.0, 2.0, 3.0};
  record(ti, 11, [&](int64_t s) { return L[static_cast<size_t>(s - 1)]; });
  REQUIRE(ti.warmed_up());
  const double f = 1 - std::pow(0.9, 11);
  std::vector<double> q(4);
  for (size_t i = 0; i < 4; ++i) {
    CHECK(ti.history()[i] == doctest::Approx(L[i] * L[i] * f).epsilon(1e-12));
    q[i] = std::sqrt(L[i] * L[i] * f + 1e-10) + 1e-4;
  }
  q[0] = q[1];  // the decoder term takes t = 2's weight
  const double total = q[0] + q[1] + q[2] + q[3];
  const std::vector<double> p = ti.probabilities();
  for (size_t i = 0; i < 4; ++i) CHECK(p[i] == doctest::Approx(q[i] / total).epsilon(1e-12));
}

TEST_CASE("the draws follow p_t, and the weights 1 / (T p_t) make the weighted loss unbiased") {
  TimeImportance ti(6);
  const auto L = [](int64_t s) { return 0.5 + static_cast<double>(s * s); };
  record(ti, 12, L);
  REQUIRE(ti.warmed_up());
  const std::vector<double> p = ti.probabilities();
  Philox rng(11);
  const int64_t n = 200000;
  const TimeImportance::Draw d = ti.sample(n, rng);
  std::vector<double> freq(6, 0.0);
  double weighted = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int32_t s = d.t.data<int32_t>()[i];
    freq[static_cast<size_t>(s - 1)] += 1.0 / static_cast<double>(n);
    CHECK(d.weight.data<double>()[i] == doctest::Approx(1.0 / (6 * p[static_cast<size_t>(s - 1)])).epsilon(1e-12));
    weighted += d.weight.data<double>()[i] * L(s) / static_cast<double>(n);
  }
  for (size_t i = 0; i < 6; ++i) CHECK(std::abs(freq[i] - p[i]) < 5 * std::sqrt(p[i] * (1 - p[i]) / static_cast<double>(n)));
  // E_{t ~ p}[L_t / (T p_t)] = (1/T) sum_t L_t: the uniform draw's expectation.
  double uniform = 0;
  for (int64_t s = 1; s <= 6; ++s) uniform += L(s) / 6;
  CHECK(weighted == doctest::Approx(uniform).epsilon(0.01));
}

TEST_CASE("a state round trip draws the same t; bad states and inputs are refused") {
  TimeImportance ti(5);
  record(ti, 11, [](int64_t s) { return static_cast<double>(6 - s); });
  const TimeImportance copy(ti.history(), ti.counts());
  Philox a(5), b(5);
  const std::vector<double> ta = ti.sample(64, a).t.to_vector(), tb = copy.sample(64, b).t.to_vector();
  CHECK(ta == tb);
  CHECK_THROWS_AS(TimeImportance(std::vector<double>{1.0, 2.0}, std::vector<int64_t>{1}), std::invalid_argument);
  CHECK_THROWS_AS(TimeImportance(std::vector<double>{1.0, NAN}, std::vector<int64_t>{1, 1}), std::invalid_argument);
  CHECK_THROWS_AS(TimeImportance(1), std::invalid_argument);
  CHECK_THROWS_AS(ti.update(Tensor::from_vector(std::vector<int32_t>{6}, {1}), Tensor::from_vector(std::vector<double>{1.0}, {1})),
                  std::invalid_argument);
}
