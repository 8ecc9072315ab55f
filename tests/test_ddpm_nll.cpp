// Bits/dim of a model whose output is identically 0 (eps_theta = 0), on two small random images on the
// 256-level grid with T = 10, against an independent computation in plain doubles (no Tensor ops, no
// diffusion constants): the prior L_T + every KL L_{t-1} + the decoder term L_0. The x_t that the
// evaluation drew are taken from what the model was called with. Also the Monte-Carlo estimate
// (T L_{t-1} + L_T at the drawn t), merging, and the result's labels.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numbers>

#include "diffusion/ddpm_nll.hpp"
#include "tensor/autograd.hpp"
#include "tensor/ops.hpp"

using namespace diffuse;
using namespace diffuse::diffusion;

namespace {

constexpr int64_t T = 10;
constexpr double kBetaStart = 0.01, kBetaEnd = 0.5;  // linear, scaled for 10 steps (abar_T ~ 0.04)

// ---- the reference, in plain doubles ----------------------------------------------------------------
struct Ref {
  double beta[T], abar[T], abar_prev[T], c1[T], c2[T], btilde[T], lv_small[T], lv_large[T];
  Ref() {
    double a = 1;
    for (int i = 0; i < T; ++i) {
      beta[i] = kBetaStart + i * (kBetaEnd - kBetaStart) / (T - 1);
      abar_prev[i] = a;
      a *= 1 - beta[i];
      abar[i] = a;
      c1[i] = std::sqrt(abar_prev[i]) * beta[i] / (1 - abar[i]);
      c2[i] = std::sqrt(1 - beta[i]) * (1 - abar_prev[i]) / (1 - abar[i]);
      btilde[i] = beta[i] * (1 - abar_prev[i]) / (1 - abar[i]);
    }
    for (int i = 0; i < T; ++i) {
      lv_small[i] = std::log(i == 0 ? btilde[1] : btilde[i]);
      lv_large[i] = std::log(i == 0 ? btilde[1] : beta[i]);
    }
  }
};

double kl(double m1, double lv1, double m2, double lv2) {
  return 0.5 * (-1 + lv2 - lv1 + std::exp(lv1 - lv2) + (m1 - m2) * (m1 - m2) * std::exp(-lv2));
}

double phi(double z) { return 0.5 * (1 + std::tanh(std::sqrt(2 / std::numbers::pi) * (z + 0.044715 * z * z * z))); }

double decoder_log_prob(double x, double mu, double log_scale) {
  const double s = std::exp(log_scale);
  const double plus = phi((x - mu + 1 / 255.0) / s), minus = phi((x - mu - 1 / 255.0) / s);
  if (x < -0.999) return std::log(std::max(plus, 1e-12));
  if (x > 0.999) return std::log(std::max(1 - minus, 1e-12));
  return std::log(std::max(plus - minus, 1e-12));
}

// L_{t-1} (L_0 at step 0) in bits/dim for one image under eps_theta = 0.
double ref_term(const Ref& r, int step, const std::vector<double>& x0, const std::vector<double>& xt, bool large) {
  const double lv_p = large ? r.lv_large[step] : r.lv_small[step];
  double total = 0;
  for (size_t j = 0; j < x0.size(); ++j) {
    const double x0_hat = std::clamp(xt[j] / std::sqrt(r.abar[step]), -1.0, 1.0);  // eps = 0
    const double mu_p = r.c1[step] * x0_hat + r.c2[step] * xt[j];
    if (step == 0) {
      total += -decoder_log_prob(x0[j], mu_p, 0.5 * lv_p);
    } else {
      const double mu_q = r.c1[step] * x0[j] + r.c2[step] * xt[j];
      total += kl(mu_q, r.lv_small[step], mu_p, lv_p);
    }
  }
  return total / static_cast<double>(x0.size()) / std::numbers::ln2;
}

double ref_prior(const Ref& r, const std::vector<double>& x0) {
  double total = 0;
  for (double v : x0) total += kl(std::sqrt(r.abar[T - 1]) * v, std::log(1 - r.abar[T - 1]), 0, 0);
  return total / static_cast<double>(x0.size()) / std::numbers::ln2;
}

// ---- the model and its recorded calls ---------------------------------------------------------------
struct Call {
  std::vector<double> x_t;
  std::vector<int32_t> steps;
};

std::vector<double> image(const std::vector<double>& all, int64_t b, int64_t D) {
  return std::vector<double>(all.begin() + b * D, all.begin() + (b + 1) * D);
}

Tensor grid_images(DType dtype) {
  Philox rng(21);
  return add(mul(randint({2, 3, 4, 4}, 0, 256, rng).to(DType::F64), 1 / 127.5), -1.0).to(dtype);
}

GaussianDiffusion make(VarianceType vt) {
  BetaScheduleConfig c;
  c.timesteps = T;
  c.beta_start = kBetaStart;
  c.beta_end = kBetaEnd;
  return GaussianDiffusion(make_schedule(c), vt);
}

}  // namespace

TEST_CASE("exact bits/dim of eps_theta = 0 matches a plain-double computation") {
  const Ref ref;
  for (DType dtype : {DType::F64, DType::F32}) {
    for (VarianceType vt : {VarianceType::Large, VarianceType::Small}) {
      const bool large = vt == VarianceType::Large;
      const double tol = dtype == DType::F64 ? 1e-10 : 2e-4;
      INFO(dtype_name(dtype) << ", variance " << variance_type_name(vt));
      const GaussianDiffusion d = make(vt);
      const Tensor x0 = grid_images(dtype);
      const std::vector<double> x0v = x0.to_vector();
      const int64_t D = 48;
      std::vector<Call> calls;
      const EpsModel zero = [&](const Tensor& x_t, const Tensor& step) {
        CHECK(x_t.dtype() == dtype);
        const Tensor s = step.contiguous();
        calls.push_back({x_t.to_vector(), std::vector<int32_t>(s.data<int32_t>(), s.data<int32_t>() + s.numel())});
        return Tensor::zeros(x_t.shape(), x_t.dtype());
      };
      Philox rng(5);
      const BpdResult r = bpd_exact(zero, d, x0, rng);
      REQUIRE(calls.size() == static_cast<size_t>(T));  // T network evaluations for the batch
      CHECK(r.method == "exact");
      CHECK(r.num_images == 2);
      CHECK(r.timesteps == T);
      REQUIRE(r.terms_bpd.size() == static_cast<size_t>(T));

      double total[2] = {ref_prior(ref, image(x0v, 0, D)), ref_prior(ref, image(x0v, 1, D))};
      const double prior = 0.5 * (total[0] + total[1]);
      CHECK(r.prior_bpd == doctest::Approx(prior).epsilon(tol));
      for (size_t k = 0; k < calls.size(); ++k) {
        const int step = static_cast<int>(T - 1 - k);  // t = T..1
        CHECK(calls[k].steps == std::vector<int32_t>{step, step});
        double mean_term = 0;
        for (int64_t b = 0; b < 2; ++b) {
          const double term = ref_term(ref, step, image(x0v, b, D), image(calls[k].x_t, b, D), large);
          total[b] += term;
          mean_term += 0.5 * term;
        }
        INFO("t = " << step + 1);
        CHECK(r.terms_bpd[step] == doctest::Approx(mean_term).epsilon(tol));
      }
      CHECK(r.per_image_bpd[0] == doctest::Approx(total[0]).epsilon(tol));
      CHECK(r.per_image_bpd[1] == doctest::Approx(total[1]).epsilon(tol));
      CHECK(r.total_bpd == doctest::Approx(0.5 * (total[0] + total[1])).epsilon(tol));
      double sum_terms = r.prior_bpd;
      for (double v : r.terms_bpd) sum_terms += v;
      CHECK(r.total_bpd == doctest::Approx(sum_terms).epsilon(1e-12));
      // The x_t drawn at each t are fresh: no two calls saw the same noise.
      CHECK(calls[3].x_t != calls[4].x_t);
    }
  }
}

TEST_CASE("the estimate is L_T + L_0 + (T - 1) L_{t-1} at the drawn t in 2..T, averaged over the draws") {
  const Ref ref;
  const GaussianDiffusion d = make(VarianceType::Large);
  const Tensor x0 = grid_images(DType::F64);
  const std::vector<double> x0v = x0.to_vector();
  std::vector<Call> calls;
  const EpsModel zero = [&](const Tensor& x_t, const Tensor& step) {
    const Tensor s = step.contiguous();
    calls.push_back({x_t.to_vector(), std::vector<int32_t>(s.data<int32_t>(), s.data<int32_t>() + s.numel())});
    return Tensor::zeros(x_t.shape(), x_t.dtype());
  };
  Philox rng(6);
  const int64_t draws = 4;
  const BpdResult r = bpd_estimate(zero, d, x0, rng, draws, /*batch_size=*/1);
  CHECK(r.method == "estimate");
  CHECK(r.num_images == 2);
  CHECK(r.draws == draws);
  CHECK(r.terms_bpd.empty());
  REQUIRE(calls.size() == 2 * (1 + draws));  // batches of one image: L_0, then `draws` evaluations
  for (int64_t b = 0; b < 2; ++b) {
    const std::vector<double> xb = image(x0v, b, 48);
    const Call& first = calls[b * (1 + draws)];
    REQUIRE(first.steps.size() == 1);
    CHECK(first.steps[0] == 0);  // L_0 at t = 1, always
    double est = ref_prior(ref, xb) + ref_term(ref, 0, xb, first.x_t, true);
    for (int64_t k = 1; k <= draws; ++k) {
      const Call& c = calls[b * (1 + draws) + k];
      REQUIRE(c.steps.size() == 1);
      CHECK(c.steps[0] >= 1);  // t in 2..T
      CHECK(c.steps[0] < T);
      est += (T - 1) * ref_term(ref, c.steps[0], xb, c.x_t, true) / draws;
    }
    CHECK(r.per_image_bpd[b] == doctest::Approx(est).epsilon(1e-10));
  }
  CHECK(r.total_bpd == doctest::Approx(0.5 * (r.per_image_bpd[0] + r.per_image_bpd[1])).epsilon(1e-14));
  CHECK(r.total_stderr == doctest::Approx(std::abs(r.per_image_bpd[0] - r.per_image_bpd[1]) / 2).epsilon(1e-12));
}

TEST_CASE("results merge by image count and serialize with their method") {
  const GaussianDiffusion d = make(VarianceType::Large);
  const Tensor x0 = grid_images(DType::F64);
  const EpsModel zero = [](const Tensor& x_t, const Tensor&) { return Tensor::zeros(x_t.shape(), x_t.dtype()); };
  Philox rng(7);
  const BpdResult a = bpd_exact(zero, d, x0.narrow(0, 0, 1), rng);
  const BpdResult b = bpd_exact(zero, d, x0.narrow(0, 1, 1), rng);
  const BpdResult m = merge_bpd(a, b);
  CHECK(m.num_images == 2);
  CHECK(m.total_bpd == doctest::Approx(0.5 * (a.total_bpd + b.total_bpd)));
  for (int64_t i = 0; i < T; ++i) CHECK(m.terms_bpd[i] == doctest::Approx(0.5 * (a.terms_bpd[i] + b.terms_bpd[i])));
  const auto j = m.to_json();
  CHECK(j["method"] == "exact");
  CHECK(j["num_images"] == 2);
  CHECK(j["terms_bpd"].size() == static_cast<size_t>(T));
  Philox rng2(8);
  CHECK_THROWS_AS(merge_bpd(a, bpd_estimate(zero, d, x0, rng2)), std::invalid_argument);
  // Evaluation records no tape even when called with grad mode on.
  CHECK(grad_enabled());
}

TEST_CASE("progressive decoding's rate is L_T + L_{T-1} + ... + L_t and its distortion the RMSE on 0..255") {
  BpdResult r;
  r.method = "exact";
  r.timesteps = 4;
  r.num_images = 2;
  r.prior_bpd = 0.01;
  r.terms_bpd = {2.0, 0.5, 0.25, 0.125};  // L_0, L_1, L_2, L_3
  r.x0_mse = {0.0001, 0.01, 0.04, 0.25};   // at t = 1..4, on [-1, 1]
  r.total_bpd = r.prior_bpd + 2.0 + 0.5 + 0.25 + 0.125;
  const RateDistortion rd = progressive_rate_distortion(r);
  REQUIRE(rd.t == std::vector<int64_t>{1, 2, 3, 4});
  CHECK(rd.rate_bpd[3] == doctest::Approx(0.01));                      // x_T alone: L_T
  CHECK(rd.rate_bpd[2] == doctest::Approx(0.01 + 0.125));              // x_3: L_T + L_3
  CHECK(rd.rate_bpd[1] == doctest::Approx(0.01 + 0.125 + 0.25));
  CHECK(rd.rate_bpd[0] == doctest::Approx(r.total_bpd - 2.0));          // x_1: the bound less L_0
  CHECK(rd.distortion_rmse[3] == doctest::Approx(0.5 * 127.5));
  CHECK(rd.distortion_rmse[0] == doctest::Approx(0.01 * 127.5));
  const RateDistortion back = RateDistortion::from_json(rd.to_json());
  CHECK(back.rate_bpd == rd.rate_bpd);
  CHECK(back.distortion_rmse == rd.distortion_rmse);
  CHECK(back.total_bpd == rd.total_bpd);
  // An estimate has no per-t terms to read.
  r.method = "estimate";
  r.terms_bpd.clear();
  r.x0_mse.clear();
  CHECK_THROWS_AS(progressive_rate_distortion(r), std::invalid_argument);
  CHECK_THROWS_AS(RateDistortion::from_json(nlohmann::json{{"timesteps", 4}}), std::invalid_argument);
}
