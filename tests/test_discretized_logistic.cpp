// The truncated discretized logistic (D3PM images): its K probabilities sum to 1 and equal the bin masses
// of a logistic CDF computed directly in double, renormalised; it stays finite for locations far outside
// [-1, 1] and for tiny and huge scales; its gradients pass the float64 gradient check.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "diffusion/discretized_logistic.hpp"
#include "gradcheck.hpp"

using namespace diffuse;
using namespace diffuse::diffusion;
using namespace diffuse::testing;

namespace {
// p_k proportional to CDF(c_k + h) - CDF(c_k - h), CDF(x) = 1 / (1 + exp(-(x - mu)/s)), s = exp(log_scale - 2).
std::vector<double> direct_probs(double mu, double log_scale, int64_t K) {
  const double s = std::exp(log_scale - 2), h = 1.0 / static_cast<double>(K - 1);
  auto cdf = [&](double x) { return 1.0 / (1.0 + std::exp(-(x - mu) / s)); };
  auto sf = [&](double x) { return 1.0 / (1.0 + std::exp((x - mu) / s)); };  // 1 - cdf, exact in the upper tail
  std::vector<double> p(static_cast<size_t>(K));
  double z = 0;
  for (int64_t k = 0; k < K; ++k) {
    const double c = -1.0 + 2.0 * static_cast<double>(k) * h;
    p[static_cast<size_t>(k)] = c - h > mu ? sf(c - h) - sf(c + h) : cdf(c + h) - cdf(c - h);
    z += p[static_cast<size_t>(k)];
  }
  for (double& v : p) v /= z;
  return p;
}
}  // namespace

TEST_CASE("the 256 probabilities sum to 1 and equal the logistic CDF's bin masses, renormalised") {
  const std::vector<double> mus = {-0.9, -0.2, 0.0, 0.37, 1.0}, log_scales = {-1.0, 0.5, 2.0, 3.0, 0.0};
  const Tensor loc = Tensor::from_vector(mus, {5}), ls = Tensor::from_vector(log_scales, {5});
  const Tensor p = softmax(truncated_logistic_logits(loc, ls, 256), -1);
  for (int64_t i = 0; i < 5; ++i) {
    const std::vector<double> want = direct_probs(mus[static_cast<size_t>(i)], log_scales[static_cast<size_t>(i)], 256);
    double sum = 0;
    for (int64_t k = 0; k < 256; ++k) {
      sum += p.at({i, k});
      CHECK(p.at({i, k}) == doctest::Approx(want[static_cast<size_t>(k)]).epsilon(1e-9).scale(1e-300));
    }
    CHECK(sum == doctest::Approx(1.0).epsilon(1e-12));
  }
}

TEST_CASE("finite and normalised far outside [-1, 1] and at extreme scales, in float32") {
  const float edge = -1.f + 383.f / 255.f;  // between bins 191 and 192
  const std::vector<float> mus = {-30.f, -3.f, 3.f, 30.f, 0.5f, edge}, log_scales = {-12.f, 0.f, -12.f, 5.f, 12.f, -12.f};
  const Tensor p = softmax(truncated_logistic_logits(Tensor::from_vector(mus, {6}), Tensor::from_vector(log_scales, {6}), 256), -1);
  for (int64_t i = 0; i < 6; ++i) {
    double sum = 0;
    for (int64_t k = 0; k < 256; ++k) {
      REQUIRE(std::isfinite(p.at({i, k})));
      sum += p.at({i, k});
    }
    CHECK(sum == doctest::Approx(1.0).epsilon(1e-5));
  }
  CHECK(p.at({0, 0}) == doctest::Approx(1.0).epsilon(1e-5));    // far below: all mass in the lowest bin
  CHECK(p.at({2, 255}) == doctest::Approx(1.0).epsilon(1e-5));  // far above: the highest
  // A tiny scale on a bin edge splits the mass between its two bins (float32 rounding of the edge moves
  // the split a little at this scale).
  CHECK(p.at({5, 191}) + p.at({5, 192}) == doctest::Approx(1.0).epsilon(1e-5));
  CHECK((p.at({5, 191}) > 0.3 && p.at({5, 191}) < 0.7));
}

TEST_CASE("the float32 logits (SIMD lanes) match the scalar formula in float to a few ulps") {
  // -softplus(-b_k) - softplus(a_k) with the header's bin edges, every step in float as the scalar code
  // would do it, softplus through std::log1p: the lanes differ only in their exp and log.
  auto scalar = [](float mu, float log_scale, int64_t K, int64_t k) {
    const float inv_scale = std::exp(2.0f - log_scale), step = 2.0f / static_cast<float>(K - 1);
    const float half = 1.0f / static_cast<float>(K - 1), lo0 = -1.0f - half - mu;
    const float a = inv_scale * (lo0 + static_cast<float>(k) * step);
    const float b = inv_scale * (lo0 + static_cast<float>(k + 1) * step);  // the next bin's lower edge
    auto softplus = [](float x) { return std::max(x, 0.0f) + std::log1p(std::exp(-std::abs(x))); };
    return -softplus(-b) - softplus(a);
  };
  Philox rng(7);
  for (int64_t K : {2, 7, 256}) {
    INFO("K = " << K);
    const Tensor loc = mul(randn({3, 5}, rng), 1.5), ls = mul(randn({3, 5}, rng), 3.0);
    const Tensor got = truncated_logistic_logits(loc, ls, K);
    double worst = 0;
    for (int64_t i = 0; i < 15; ++i)
      for (int64_t k = 0; k < K; ++k) {
        const float want = scalar(static_cast<float>(loc.at({i / 5, i % 5})), static_cast<float>(ls.at({i / 5, i % 5})), K, k);
        worst = std::max(worst, std::abs(got.at({i / 5, i % 5, k}) - want) / std::max(1.0f, std::abs(want)));
      }
    INFO("worst relative error " << worst);
    CHECK(worst < 1e-6);
  }
}

TEST_CASE("gradients w.r.t. location and log-scale pass the float64 gradient check") {
  Philox rng(3);
  const Tensor loc = mul(randn({2, 3}, rng, DType::F64), 0.8);
  const Tensor ls = randn({2, 3}, rng, DType::F64);
  for (int64_t K : {2, 7, 256}) {
    INFO("K = " << K);
    // At K = 256 the logits reach |500|, so two-point differences at step 1e-6 carry ~5e-7 of rounding and
    // needed atol 1e-5 there; the four-point stencil at step 1e-4 has a hundredth of that rounding, and
    // its differences stay within ~1e-9 of the analytic gradients at every K, so all are held to atol 1e-7.
    const GradCheckOptions opt{.h = 1e-4, .atol = 1e-7, .stencil = Stencil::Central4};
    const GradCheck r = check_gradients(
        [K](const std::vector<Tensor>& in) { return log_softmax(truncated_logistic_logits(in[0], in[1], K), -1); }, {loc, ls},
        opt);
    CHECK_MESSAGE(r.ok, r.report);
    const GradCheck raw = check_gradients(
        [K](const std::vector<Tensor>& in) { return truncated_logistic_logits(in[0], in[1], K); }, {loc, ls}, opt);
    CHECK_MESSAGE(raw.ok, raw.report);
  }
}
