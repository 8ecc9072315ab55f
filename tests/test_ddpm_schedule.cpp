// DDPM schedules and their derived constants against closed forms (docs/math.md §2.2): linear endpoints,
// abar monotone, beta~_1 = 0, the clipped log-variances at t = 1, the posterior coefficients against the
// eps form of the mean, and each schedule's formula (cosine, quad, const, jsd).
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string>

#include "diffusion/beta_schedule.hpp"

using namespace diffuse::diffusion;

TEST_CASE("linear schedule: the paper's endpoints and evenly spaced betas") {
  const DiffusionSchedule s = make_schedule(BetaScheduleConfig{});
  REQUIRE(s.timesteps == 1000);
  REQUIRE(s.betas.size() == 1000);
  CHECK(s.betas[0] == 1e-4);
  CHECK(s.betas[999] == 0.02);
  for (int64_t i : {1, 250, 500, 998}) CHECK(s.betas[i] == doctest::Approx(1e-4 + i * (0.02 - 1e-4) / 999).epsilon(1e-14));
  // scaled_linear(1000) is the paper's schedule; scaled_linear(100) multiplies both ends by 10, and
  // below T = 21 the end would pass 1, which make_schedule refuses.
  CHECK(make_betas(scaled_linear(1000)) == s.betas);
  const auto b100 = make_betas(scaled_linear(100));
  CHECK(b100.front() == doctest::Approx(1e-3).epsilon(1e-14));
  CHECK(b100.back() == doctest::Approx(0.2).epsilon(1e-14));
  CHECK_THROWS_AS(make_schedule(scaled_linear(10)), std::invalid_argument);
}

TEST_CASE("alpha, abar and the posterior constants match their definitions") {
  for (auto kind : {BetaScheduleKind::Linear, BetaScheduleKind::Cosine, BetaScheduleKind::Quad}) {
    BetaScheduleConfig c;
    c.kind = kind;
    const DiffusionSchedule s = make_schedule(c);
    INFO(beta_schedule_name(kind));
    const int64_t T = s.timesteps;
    double abar = 1.0;
    for (int64_t i = 0; i < T; ++i) {
      const double beta = s.betas[i], alpha = 1.0 - beta, abar_prev = abar;
      abar *= alpha;
      CHECK(s.alphas[i] == alpha);
      CHECK(s.alphas_cumprod[i] == doctest::Approx(abar).epsilon(1e-12));
      CHECK(s.alphas_cumprod_prev[i] == (i == 0 ? 1.0 : s.alphas_cumprod[i - 1]));
      if (i > 0) CHECK(s.alphas_cumprod[i] < s.alphas_cumprod[i - 1]);  // strictly decreasing
      CHECK(s.alphas_cumprod[i] > 0.0);
      CHECK(s.sqrt_alphas_cumprod[i] * s.sqrt_alphas_cumprod[i] == doctest::Approx(abar).epsilon(1e-12));
      CHECK(s.posterior_variance[i] ==
            doctest::Approx(beta * (1 - abar_prev) / (1 - abar)).epsilon(1e-12));
      // mu~(x0_hat(eps), x_t) equals the eps form (1/sqrt(alpha)) (x_t - beta/sqrt(1 - abar) eps):
      // coefficient of x_t and coefficient of eps.
      const double c1 = s.posterior_mean_coef1[i], c2 = s.posterior_mean_coef2[i];
      CHECK(c1 * s.sqrt_recip_alphas_cumprod[i] + c2 == doctest::Approx(1 / std::sqrt(alpha)).epsilon(1e-10));
      CHECK(c1 * s.sqrt_recipm1_alphas_cumprod[i] ==
            doctest::Approx(beta / std::sqrt(1 - abar) / std::sqrt(alpha)).epsilon(1e-10));
      CHECK(s.eps_coef[i] * s.sqrt_recip_alphas[i] == doctest::Approx(c1 * s.sqrt_recipm1_alphas_cumprod[i]).epsilon(1e-10));
    }
  }
}

TEST_CASE("beta~_1 = 0 and the clipped log-variances borrow beta~_2 at t = 1") {
  const DiffusionSchedule s = make_schedule(BetaScheduleConfig{});
  CHECK(s.posterior_variance[0] == 0.0);
  CHECK(s.posterior_mean_coef2[0] == 0.0);  // 1 - abar_0 = 0: at t = 1 the posterior mean is x0
  CHECK(s.posterior_mean_coef1[0] == doctest::Approx(1.0).epsilon(1e-12));
  const double log_bt2 = std::log(s.posterior_variance[1]);
  // small: log[beta~_2, beta~_2, beta~_3, ...]
  CHECK(s.posterior_log_variance_clipped[0] == log_bt2);
  CHECK(s.posterior_log_variance_clipped[1] == log_bt2);
  for (int64_t i = 2; i < 1000; i += 97) CHECK(s.posterior_log_variance_clipped[i] == std::log(s.posterior_variance[i]));
  // large: log[beta~_2, beta_2, beta_3, ...]
  CHECK(s.log_variance_large[0] == log_bt2);
  for (int64_t i = 1; i < 1000; i += 97) CHECK(s.log_variance_large[i] == std::log(s.betas[i]));
  CHECK(&s.model_log_variance(VarianceType::Small) == &s.posterior_log_variance_clipped);
  CHECK(&s.model_log_variance(VarianceType::Large) == &s.log_variance_large);
  CHECK(&s.model_variance(VarianceType::Large) == &s.betas);
  CHECK(&s.model_variance(VarianceType::Small) == &s.posterior_variance);
  // beta~_t <= beta_t, so "small" is never above "large".
  for (int64_t i = 0; i < 1000; ++i) CHECK(s.posterior_variance[i] <= s.betas[i]);
}

TEST_CASE("cosine schedule follows Nichol and Dhariwal's abar, with betas clipped at 0.999") {
  BetaScheduleConfig c;
  c.kind = BetaScheduleKind::Cosine;
  const DiffusionSchedule s = make_schedule(c);
  const int64_t T = 1000;
  auto f = [](double t) {
    const double v = std::cos((t / 1000.0 + 0.008) / 1.008 * std::numbers::pi / 2);
    return v * v;
  };
  for (int64_t t = 1; t < T; t += 37) CHECK(s.alphas_cumprod[t - 1] == doctest::Approx(f(t) / f(0)).epsilon(1e-9));
  for (double b : s.betas) CHECK(b <= 0.999);
  CHECK(s.betas[T - 1] == 0.999);  // f(T) = cos^2(pi/2) ~ 0 would give beta_T = 1
  CHECK(s.betas[0] == doctest::Approx(1 - f(1) / f(0)).epsilon(1e-12));
}

TEST_CASE("quad, const and jsd schedules") {
  BetaScheduleConfig c;
  c.timesteps = 11;
  c.kind = BetaScheduleKind::Quad;
  const auto quad = make_betas(c);
  for (int64_t i = 0; i < 11; ++i) {
    const double r = std::sqrt(1e-4) + i * (std::sqrt(0.02) - std::sqrt(1e-4)) / 10;
    CHECK(quad[i] == doctest::Approx(r * r).epsilon(1e-13));
  }
  CHECK(quad.back() == doctest::Approx(0.02).epsilon(1e-15));
  c.kind = BetaScheduleKind::Const;
  for (double b : make_betas(c)) CHECK(b == 0.02);
  c.kind = BetaScheduleKind::Jsd;
  const auto jsd = make_betas(c);
  for (int64_t t = 1; t <= 11; ++t) CHECK(jsd[t - 1] == doctest::Approx(1.0 / (11 - t + 1)).epsilon(1e-15));
  CHECK(jsd.back() == 1.0);
  const DiffusionSchedule s = make_schedule(jsd);  // beta_T = 1 is allowed: abar_T = 0
  CHECK(s.alphas_cumprod.back() == 0.0);
}

TEST_CASE("bad schedules and names are refused") {
  BetaScheduleConfig c;
  c.timesteps = 1;
  CHECK_THROWS_AS(make_betas(c), std::invalid_argument);
  CHECK_THROWS_AS(make_schedule(std::vector<double>{0.1, 0.0, 0.2}), std::invalid_argument);
  CHECK_THROWS_AS(make_schedule(std::vector<double>{0.1, 1.5}), std::invalid_argument);
  CHECK_THROWS_WITH_AS(parse_beta_schedule("sigmoid"), doctest::Contains("linear, cosine, quad, const, jsd or sqrt"),
                       std::invalid_argument);
  CHECK(parse_beta_schedule("cosine") == BetaScheduleKind::Cosine);
  CHECK(parse_variance_type("small") == VarianceType::Small);
  CHECK(std::string(variance_type_name(VarianceType::Large)) == "large");
  CHECK_THROWS_AS(parse_variance_type("learned"), std::invalid_argument);
}
