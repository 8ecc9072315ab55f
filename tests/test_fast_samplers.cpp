// The fast samplers of the DDPM family (docs/math.md §8), in float64 against closed forms:
//   - DDIM's sub-sequences tau (uniform and quadratic, the reference's) and DPM-Solver++'s times;
//   - DDIM at eta = 1 and K = T is the ancestral sampler with the "small" variance beta~_t, step by step (means and
//     variances) and as a whole chain with the same noise, with and without clipping x0_hat;
//   - on Gaussian data N(m, s^2 I), whose exact eps is known, the probability-flow ODE maps x_t to x_t' in closed form
//     (per dimension (x_t - sqrt(abar_t) m) / sqrt(v_t), v_t = abar_t s^2 + 1 - abar_t, is constant along the flow):
//     DDIM's encoder then decoder returns x0; DDIM's error falls at first order in K, DPM-Solver++(2M)'s at second
//     order, and at 20 steps DPM-Solver++(2M) is far closer than DDIM;
//   - DPM-Solver++'s first step is DDIM's at eta = 0; denoise_to_zero returns x0_hat(x_1);
//   - slerp and interpolation through DDIM's latents; the guidance hook; K > T and eta outside [0, 1] refused.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "diffusion/ddim_sampler.hpp"
#include "diffusion/dpm_solver.hpp"
#include "gradcheck.hpp"
#include "tensor/ops.hpp"

using namespace diffuse;
using namespace diffuse::diffusion;
using diffuse::testing::max_abs_diff;

namespace {

// The paper's schedule: linear 1e-4 .. 0.02, T = 1000.
GaussianDiffusion paper_diffusion(VarianceType variance = VarianceType::Small) {
  return GaussianDiffusion(make_schedule(BetaScheduleConfig{}), variance);
}

// An arbitrary eps-model, linear in x_t with a step-dependent offset.
Tensor linear_eps(const Tensor& x_t, const Tensor& step) {
  const Tensor s = step.to(x_t.dtype()).reshape({x_t.size(0), 1, 1, 1});
  return 0.6 * x_t - 0.2 + 3e-4 * s;
}

// Data N(m, s^2 I): q(x_t) = N(sqrt(abar_t) m, v_t I) with v_t = abar_t s^2 + 1 - abar_t, and the exact eps-model is
// E[eps | x_t] = sqrt(1 - abar_t) (x_t - sqrt(abar_t) m) / v_t.
struct GaussianData {
  double m = 0.3, s = 0.5;
  double v(double abar) const { return abar * s * s + 1.0 - abar; }
  // x at abar_to on the probability-flow ODE's path through x at abar_from (abar = 1 is the data).
  Tensor flow(const Tensor& x, double abar_from, double abar_to) const {
    return (x - std::sqrt(abar_from) * m) * std::sqrt(v(abar_to) / v(abar_from)) + std::sqrt(abar_to) * m;
  }
  EpsModel eps_model(const GaussianDiffusion& d) const {
    std::vector<double> gain, offset;
    for (const double a : d.schedule().alphas_cumprod) {
      gain.push_back(std::sqrt(1.0 - a) / v(a));
      offset.push_back(std::sqrt(1.0 - a) * std::sqrt(a) * m / v(a));
    }
    return [&d, gain, offset](const Tensor& x_t, const Tensor& step) {
      return d.extract(gain, step, x_t) * x_t - d.extract(offset, step, x_t);
    };
  }
};

double abar_of(const GaussianDiffusion& d, int64_t t) { return t == 0 ? 1.0 : d.schedule().alphas_cumprod[t - 1]; }

}  // namespace

TEST_CASE("DDIM's sub-sequences: the reference's uniform and quadratic steps") {
  const std::vector<int64_t> uniform = ddim_timesteps(1000, 50, DdimSpacing::Uniform);
  REQUIRE(uniform.size() == 50);
  for (int64_t i = 0; i < 50; ++i) CHECK(uniform[i] == 1 + 20 * i);  // range(0, 1000, 20), plus one
  // K not dividing T: exactly K steps, evenly spread (the reference's range(0, 1000, 3) would hold 334).
  const std::vector<int64_t> odd = ddim_timesteps(1000, 300, DdimSpacing::Uniform);
  CHECK(odd.size() == 300);
  CHECK(odd.front() == 1);
  CHECK(odd.back() == 1 + (299 * 1000) / 300);
  const std::vector<int64_t> all = ddim_timesteps(20, 20, DdimSpacing::Uniform);
  for (int64_t i = 0; i < 20; ++i) CHECK(all[i] == i + 1);
  // int(np.linspace(0, sqrt(0.8 T), K) ** 2), plus one: computed by the reference's formula.
  CHECK(ddim_timesteps(1000, 10, DdimSpacing::Quadratic) == std::vector<int64_t>{1, 10, 40, 89, 159, 247, 356, 484, 633, 801});
  CHECK(ddim_timesteps(20, 5, DdimSpacing::Quadratic) == std::vector<int64_t>{1, 2, 5, 10, 17});
  // Where truncation would repeat a step, the next one moves up: K distinct steps.
  const std::vector<int64_t> dense = ddim_timesteps(1000, 100, DdimSpacing::Quadratic);
  for (size_t i = 1; i < dense.size(); ++i) CHECK(dense[i] > dense[i - 1]);
  CHECK(dense.back() == 801);
  CHECK(ddim_timesteps(1000, 1, DdimSpacing::Quadratic) == std::vector<int64_t>{1});
  CHECK(parse_ddim_spacing("quadratic") == DdimSpacing::Quadratic);
  CHECK_THROWS_WITH_AS(parse_ddim_spacing("cosine"), doctest::Contains("--grid"), std::invalid_argument);
}

TEST_CASE("DPM-Solver++'s times: integers from T down to 1, distinct") {
  const GaussianDiffusion d = paper_diffusion();
  for (DpmSpacing spacing : {DpmSpacing::TimeUniform, DpmSpacing::LogSnr}) {
    for (int64_t K : {1, 5, 10, 20, 100, 999}) {
      const std::vector<int64_t> t = dpm_solver_times(d.schedule(), K, spacing);
      REQUIRE(t.size() == static_cast<size_t>(K + 1));
      CHECK(t.front() == 1000);
      CHECK(t.back() == 1);
      for (int64_t i = 1; i <= K; ++i) CHECK(t[i] < t[i - 1]);
    }
  }
  // Uniform in time: the nearest integers to linspace(1000, 1, 21).
  const std::vector<int64_t> uniform = dpm_solver_times(d.schedule(), 20, DpmSpacing::TimeUniform);
  for (int64_t i = 0; i <= 20; ++i) CHECK(std::abs(static_cast<double>(uniform[i]) - (1000.0 - i * 49.95)) <= 0.5);
  // Uniform in lambda: each time's lambda is near its target (rounding to a step moves it by less than one step's
  // change of lambda).
  const std::vector<int64_t> logsnr = dpm_solver_times(d.schedule(), 20, DpmSpacing::LogSnr);
  const double l_T = half_log_snr(d.schedule(), 1000), l_1 = half_log_snr(d.schedule(), 1);
  for (int64_t i = 1; i < 20; ++i) {
    const double target = l_T + (l_1 - l_T) * i / 20.0;
    const double below = half_log_snr(d.schedule(), logsnr[i] + 1), above = half_log_snr(d.schedule(), logsnr[i] - 1);
    CHECK(target > below);
    CHECK(target < above);
  }
  CHECK(half_log_snr(d.schedule(), 1) == doctest::Approx(0.5 * std::log((1 - 1e-4) / 1e-4)));
}

TEST_CASE("DDIM at eta = 1 and K = T is the ancestral step with the posterior variance beta~_t") {
  // Per step, from the same x_t: eq. 12 with eq. 16's sigma has the ancestral step's mean (eq. 11, no clipping) and
  // variance beta~_t; with clipping, the mean mu~_t(clip(x0_hat), x_t) of the reference sampler.
  const GaussianDiffusion d = paper_diffusion(VarianceType::Small);
  const std::vector<double>& beta_tilde = d.schedule().posterior_variance;
  for (bool clip : {false, true}) {
    Philox rng(5);
    Tensor x = randn({2, 1, 3, 3}, rng, DType::F64);
    double worst_mean = 0, worst_variance = 0;
    for (int64_t t = 1000; t >= 1; --t) {
      const DdimStep ddim = ddim_step(linear_eps, d, x, t, t - 1, 1.0, clip);
      const Tensor step = step_tensor(2, t - 1);
      const ReverseMoments ancestral = d.p_mean_variance(linear_eps(x, step), x, step, clip);
      worst_mean = std::max(worst_mean, max_abs_diff(ddim.mean, ancestral.mean));
      worst_variance = std::max(worst_variance, std::abs(ddim.sigma * ddim.sigma - beta_tilde[t - 1]) / std::max(beta_tilde[t - 1], 1e-300));
      if (t == 1) CHECK(ddim.sigma == 0.0);  // beta~_1 = 0
      x = ancestral.mean + randn(x.shape(), rng, DType::F64) * std::sqrt(beta_tilde[t - 1]);
    }
    MESSAGE("clip " << clip << ": largest |mean difference| " << worst_mean << ", largest relative variance difference "
                    << worst_variance << " over the 1000 steps");
    CHECK(worst_mean < 1e-12);
    CHECK(worst_variance < 1e-12);
  }
  // The whole chain: ddim_reverse draws z where the ancestral sampler does (t = T..2), so from one generator state
  // the two samples agree.
  for (bool clip : {false, true}) {
    Philox a(9), b(9);
    const Tensor x_T = randn({2, 1, 3, 3}, a, DType::F64);
    b = a;
    DdimOptions options;
    options.steps = 1000;
    options.eta = 1.0;
    options.clip_x0 = clip;
    const Tensor ddim = ddim_reverse(linear_eps, d, x_T, options, a);
    const Tensor ancestral = reverse_process(linear_eps, d, x_T, 1000, b, clip);
    CHECK(max_abs_diff(ddim, ancestral) < 1e-9);
    CHECK(a.counter() == b.counter());
  }
}

TEST_CASE("DDIM's deterministic encoder then decoder returns x0 (Gaussian data, exact eps)") {
  const GaussianDiffusion d = paper_diffusion();
  const GaussianData data;
  const EpsModel eps = data.eps_model(d);
  Philox rng(21);
  const Tensor x0 = randn({8, 1, 4, 4}, rng, DType::F64) * data.s + data.m;
  DdimOptions options;
  options.clip_x0 = false;
  std::vector<double> errors;
  for (int64_t K : {100, 1000}) {
    options.steps = K;
    const Tensor latent = ddim_encode(eps, d, x0, options);
    // The latent is on the flow through x0 (up to the discretisation): x_{tau_K} in closed form.
    const double to_flow = max_abs_diff(latent, data.flow(x0, 1.0, abar_of(d, ddim_timesteps(1000, K, DdimSpacing::Uniform).back())));
    Philox unused(0);
    const double error = max_abs_diff(ddim_reverse(eps, d, latent, options, unused), x0);
    MESSAGE("K = " << K << ": max |decode(encode(x0)) - x0| = " << error << " (data s = 0.5), encoder vs the exact flow "
                   << to_flow);
    errors.push_back(error);
  }
  CHECK(errors[1] < 1e-2);              // measured 4.9e-3 at K = 1000 on 128 numbers
  CHECK(errors[0] / errors[1] > 6.0);   // first order in 1/K: measured about 10
}

TEST_CASE("on Gaussian data, DPM-Solver++(2M) converges at second order and DDIM at first") {
  const GaussianDiffusion d = paper_diffusion();
  const GaussianData data;
  const EpsModel eps = data.eps_model(d);
  Philox rng(4);
  const Tensor x_T = randn({8, 1, 4, 4}, rng, DType::F64);
  const std::vector<int64_t> Ks = {10, 20, 40, 80};

  // DPM-Solver++(2M) from t = T to t = 1 (its output, x_1), against the flow's x_1 through x_T.
  auto dpm_errors = [&](DpmSpacing spacing, int order) {
    std::vector<double> out;
    for (int64_t K : Ks) {
      DpmSolverOptions options;
      options.steps = K;
      options.spacing = spacing;
      options.order = order;
      options.clip_x0 = false;
      out.push_back(max_abs_diff(dpm_solver_reverse(eps, d, x_T, options), data.flow(x_T, abar_of(d, 1000), abar_of(d, 1))));
    }
    return out;
  };
  // DDIM (eta = 0, uniform tau) from x_T taken as x_{tau_K} down to the data, against the flow's x_0 through it.
  std::vector<double> ddim;
  for (int64_t K : Ks) {
    DdimOptions options;
    options.steps = K;
    options.clip_x0 = false;
    Philox unused(0);
    const double abar_top = abar_of(d, ddim_timesteps(1000, K, DdimSpacing::Uniform).back());
    ddim.push_back(max_abs_diff(ddim_reverse(eps, d, x_T, options, unused), data.flow(x_T, abar_top, 1.0)));
  }
  const std::vector<double> logsnr = dpm_errors(DpmSpacing::LogSnr, 2), uniform = dpm_errors(DpmSpacing::TimeUniform, 2),
                            first = dpm_errors(DpmSpacing::LogSnr, 1);
  for (size_t i = 0; i < Ks.size(); ++i)
    MESSAGE("K = " << Ks[i] << ": max error DPM-Solver++(2M) logSNR " << logsnr[i] << ", time-uniform " << uniform[i]
                   << "; DPM-Solver++1 logSNR " << first[i] << "; DDIM " << ddim[i]);
  for (size_t i = 1; i < Ks.size(); ++i)
    MESSAGE("K = " << Ks[i - 1] << " -> " << Ks[i] << ": error ratio 2M logSNR " << logsnr[i - 1] / logsnr[i] << ", 2M uniform "
                   << uniform[i - 1] / uniform[i] << ", DDIM " << ddim[i - 1] / ddim[i]);
  // Second order: doubling K divides the error by about 4 (measured 3.8 and 4.0 from 20 to 80 steps).
  for (size_t i = 2; i < Ks.size(); ++i) {
    CHECK(logsnr[i - 1] / logsnr[i] > 3.0);
    CHECK(logsnr[i - 1] / logsnr[i] < 5.5);
  }
  // First order: by about 2 (measured 1.9, 1.9, 2.0).
  for (size_t i = 1; i < Ks.size(); ++i) {
    CHECK(ddim[i - 1] / ddim[i] > 1.6);
    CHECK(ddim[i - 1] / ddim[i] < 2.4);
    CHECK(first[i - 1] / first[i] > 1.6);
    CHECK(first[i - 1] / first[i] < 2.4);
  }
  // At 20 steps DPM-Solver++(2M) is an order of magnitude closer than DDIM (measured 1.6e-2 against 1.6e-1).
  CHECK(logsnr[1] * 5.0 < ddim[1]);
}

TEST_CASE("DPM-Solver++'s first step is DDIM's at eta = 0; denoise_to_zero returns x0_hat at t = 1") {
  const GaussianDiffusion d = paper_diffusion();
  Philox rng(2);
  const Tensor x_T = randn({2, 1, 3, 3}, rng, DType::F64);
  DpmSolverOptions options;
  options.steps = 1;  // t_0 = T, t_1 = 1: one first-order step
  options.clip_x0 = false;
  const Tensor x_1 = dpm_solver_reverse(linear_eps, d, x_T, options);
  CHECK(max_abs_diff(x_1, ddim_step(linear_eps, d, x_T, 1000, 1, 0.0, false).mean) < 1e-12);

  options.steps = 12;
  int evaluations = 0;
  const Tensor x = dpm_solver_reverse(linear_eps, d, x_T, options, [&](int64_t, const Tensor&) { ++evaluations; });
  CHECK(evaluations == 12);
  options.denoise_to_zero = true;
  const Tensor denoised = dpm_solver_reverse(linear_eps, d, x_T, options, [&](int64_t, const Tensor&) { ++evaluations; });
  CHECK(evaluations == 12 + 13);
  const Tensor step0 = step_tensor(2, 0);
  CHECK(max_abs_diff(denoised, d.predict_x0_from_eps(x, step0, linear_eps(x, step0))) < 1e-12);
  // Clipping bounds the data prediction, hence the denoised output.
  options.clip_x0 = true;
  for (double v : dpm_solver_reverse(linear_eps, d, x_T * 40.0, options).to_vector()) CHECK(std::abs(v) <= 1.0);
}

TEST_CASE("float32 sampling: shapes, finiteness, reproducibility, the draws used") {
  const GaussianDiffusion d = paper_diffusion(VarianceType::Large);
  int calls = 0;
  const EpsModel counted = [&](const Tensor& x, const Tensor& step) {
    ++calls;
    CHECK(step.dtype() == DType::I32);
    return linear_eps(x, step);
  };
  DdimOptions ddim;
  ddim.steps = 10;
  Philox a(1), b(1);
  const Tensor x = ddim_sample(counted, d, {3, 1, 4, 4}, ddim, a);
  CHECK(calls == 10);
  CHECK(x.dtype() == DType::F32);
  CHECK(x.shape() == Shape{3, 1, 4, 4});
  CHECK(max_abs_diff(x, ddim_sample(counted, d, {3, 1, 4, 4}, ddim, b)) == 0);
  CHECK(a.counter() == b.counter());
  Philox c(1);
  randn({3, 1, 4, 4}, c);
  CHECK(a.counter() == c.counter());  // eta = 0: x_T is the only draw
  for (double v : x.to_vector()) CHECK(std::abs(v) <= 1.0);  // the last step returns the clipped x0_hat

  ddim.eta = 0.5;
  Philox e(1);
  ddim_sample(linear_eps, d, {3, 1, 4, 4}, ddim, e);
  Philox f(1);
  for (int i = 0; i < 10; ++i) randn({3, 1, 4, 4}, f);  // x_T and a z for each step but the last (sigma = 0)
  CHECK(e.counter() == f.counter());

  calls = 0;
  DpmSolverOptions dpm;
  dpm.steps = 10;
  Philox g(1);
  const Tensor y = dpm_solver_sample(counted, d, {3, 1, 4, 4}, dpm, g);
  CHECK(calls == 10);
  CHECK(y.dtype() == DType::F32);
  for (double v : y.to_vector()) CHECK(std::isfinite(v));
  CHECK(g.counter() == c.counter());
}

TEST_CASE("slerp and interpolation through DDIM's latents") {
  const Tensor a = Tensor::from_vector(std::vector<double>{3, 0, 1, 1}, {2, 2});
  const Tensor b = Tensor::from_vector(std::vector<double>{0, 3, 2, 2}, {2, 2});
  CHECK(max_abs_diff(slerp(a, b, 0.0), a) < 1e-15);
  CHECK(max_abs_diff(slerp(a, b, 1.0), b) < 1e-15);
  // Orthogonal vectors of one norm: the midpoint keeps the norm, 3 (3/sqrt(2) per coordinate).
  const std::vector<double> mid = slerp(a, b, 0.5).to_vector();
  CHECK(mid[0] == doctest::Approx(3.0 / std::sqrt(2.0)));
  CHECK(mid[1] == doctest::Approx(3.0 / std::sqrt(2.0)));
  // Parallel vectors (the second example): the chord, 1.5 (1, 1).
  CHECK(mid[2] == doctest::Approx(1.5));
  CHECK(mid[3] == doctest::Approx(1.5));

  const GaussianDiffusion d(make_schedule(scaled_linear(50)), VarianceType::Small);
  Philox img(3);
  const Tensor xa = clamp(randn({2, 1, 4, 4}, img, DType::F64), -1, 1), xb = clamp(randn({2, 1, 4, 4}, img, DType::F64), -1, 1);
  DdimOptions options;
  options.steps = 10;
  Philox rng(8), unused(0);
  const std::vector<Tensor> out = ddim_interpolate(linear_eps, d, xa, xb, {0.0, 0.5, 1.0}, options, rng);
  REQUIRE(out.size() == 3);
  CHECK(max_abs_diff(out[0], ddim_reverse(linear_eps, d, ddim_encode(linear_eps, d, xa, options), options, unused)) < 1e-12);
  CHECK(max_abs_diff(out[2], ddim_reverse(linear_eps, d, ddim_encode(linear_eps, d, xb, options), options, unused)) < 1e-12);
  CHECK(max_abs_diff(out[0], out[1]) > 1e-3);
  CHECK(rng.counter() == Philox(8).counter());  // eta = 0: nothing drawn
}

TEST_CASE("the guidance hook replaces eps_theta's output") {
  const GaussianDiffusion d(make_schedule(scaled_linear(50)), VarianceType::Small);
  std::vector<int32_t> seen;
  const EpsGuidance identity = [&](const Tensor& eps, const Tensor& x_t, const Tensor& step) {
    CHECK(x_t.shape() == eps.shape());
    seen.push_back(static_cast<int32_t>(step.to_vector()[0]));
    return eps;
  };
  DdimOptions options;
  options.steps = 5;
  options.clip_x0 = false;
  Philox a(6), b(6);
  const Tensor plain = ddim_sample(linear_eps, d, {2, 1, 3, 3}, options, a, DType::F64);
  options.guidance = identity;
  CHECK(max_abs_diff(ddim_sample(linear_eps, d, {2, 1, 3, 3}, options, b, DType::F64), plain) == 0);
  CHECK(seen == std::vector<int32_t>{40, 30, 20, 10, 0});  // tau - 1, from the top
  // A hook that shifts eps is the model with that shift.
  options.guidance = [](const Tensor& eps, const Tensor&, const Tensor&) { return eps + 0.1; };
  const EpsModel shifted = [](const Tensor& x, const Tensor& step) { return linear_eps(x, step) + 0.1; };
  Philox c(6), e(6);
  const Tensor hooked = ddim_sample(linear_eps, d, {2, 1, 3, 3}, options, c, DType::F64);
  options.guidance = {};
  CHECK(max_abs_diff(hooked, ddim_sample(shifted, d, {2, 1, 3, 3}, options, e, DType::F64)) < 1e-12);
  CHECK(max_abs_diff(hooked, plain) > 1e-3);
  // The same hook in DPM-Solver++.
  DpmSolverOptions dpm;
  dpm.steps = 6;
  dpm.guidance = [](const Tensor& eps, const Tensor&, const Tensor&) { return eps + 0.1; };
  Philox g(6), h(6);
  const Tensor dpm_hooked = dpm_solver_sample(linear_eps, d, {2, 1, 3, 3}, dpm, g, DType::F64);
  dpm.guidance = {};
  CHECK(max_abs_diff(dpm_hooked, dpm_solver_sample(shifted, d, {2, 1, 3, 3}, dpm, h, DType::F64)) < 1e-12);
}

TEST_CASE("K > T and eta outside [0, 1] are refused") {
  const GaussianDiffusion d(make_schedule(scaled_linear(50)), VarianceType::Small);
  CHECK_THROWS_WITH_AS(ddim_timesteps(50, 51, DdimSpacing::Uniform), doctest::Contains("--steps"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(ddim_timesteps(50, 0, DdimSpacing::Quadratic), doctest::Contains("--steps"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(dpm_solver_times(d.schedule(), 50, DpmSpacing::LogSnr), doctest::Contains("--steps"),
                       std::invalid_argument);  // K + 1 distinct times need K <= T - 1
  DdimOptions options;
  options.steps = 51;
  Philox rng(1);
  CHECK_THROWS_WITH_AS(ddim_sample(linear_eps, d, {1, 1, 2, 2}, options, rng), doctest::Contains("--steps"),
                       std::invalid_argument);
  CHECK(rng.counter() == Philox(1).counter());  // refused before any draw
  options.steps = 10;
  for (double eta : {-0.1, 1.5, std::nan("")}) {
    options.eta = eta;
    CHECK_THROWS_WITH_AS(ddim_sample(linear_eps, d, {1, 1, 2, 2}, options, rng), doctest::Contains("--eta"),
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(ddim_coefficients(0.5, 0.9, eta), doctest::Contains("--eta"), std::invalid_argument);
  }
  DpmSolverOptions dpm;
  dpm.order = 3;
  CHECK_THROWS_AS(dpm_solver_sample(linear_eps, d, {1, 1, 2, 2}, dpm, rng), std::invalid_argument);
}
