// D3PM schedules: the beta formulas, the mutual-information schedule (I(x_t; x0) linear in t by brute
// force, and 1/(T - t + 1) for absorbing), and DiffusionBERT's spindle schedule.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>

#include "d3pm_testing.hpp"
#include "diffusion/d3pm_diffusion.hpp"

using namespace diffuse;
using namespace diffuse::diffusion;
using namespace diffuse::testing;

TEST_CASE("linear, cosine and jsd betas follow docs/math.md §3.4's formulas (index t = 1..T, entry 0 unused)") {
  const std::vector<double> lin = d3pm_linear_betas(5, 0.1, 0.5);
  CHECK(lin.size() == 6);
  CHECK(lin[0] == 0.0);
  CHECK(lin[1] == doctest::Approx(0.1));
  CHECK(lin[3] == doctest::Approx(0.3));
  CHECK(lin[5] == doctest::Approx(0.5));

  const int64_t T = 20;
  const std::vector<double> cos = d3pm_cosine_betas(T);
  auto f = [&](double t) { return std::cos((t / T + 0.008) / 1.008 * std::numbers::pi / 2); };
  for (int64_t t = 1; t < T; ++t) CHECK(cos[static_cast<size_t>(t)] == doctest::Approx(1 - f(t) / f(t - 1)).epsilon(1e-14));
  CHECK(cos[T] == 0.999);  // f(T) = 0: clipped
  const std::vector<double> abar = cumulative_alphas(cos);
  CHECK(abar[7] == doctest::Approx(f(7) / f(0)).epsilon(1e-13));

  const std::vector<double> jsd = d3pm_jsd_betas(T);
  const std::vector<double> ajsd = cumulative_alphas(jsd);
  for (int64_t t = 1; t <= T; ++t) {
    CHECK(jsd[static_cast<size_t>(t)] == doctest::Approx(1.0 / (T - t + 1)));
    CHECK(ajsd[static_cast<size_t>(t)] == doctest::Approx(1.0 - static_cast<double>(t) / T).scale(1e-15));
  }
  CHECK(cumulative_exponents(lin)[3] == doctest::Approx(0.1 + 0.2 + 0.3));
}

TEST_CASE("the mutual-information schedule makes I(x_t; x0) = (1 - t/T) H(x0), computed by brute force") {
  const int64_t T = 12;
  for (auto [kind, extra_mask] : {std::pair{D3pmKind::Uniform, false}, std::pair{D3pmKind::Uniform, true},
                                  std::pair{D3pmKind::Absorbing, true}, std::pair{D3pmKind::Absorbing, false},
                                  std::pair{D3pmKind::NearestNeighbor, true},
                                  std::pair{D3pmKind::NearestNeighbor, false}}) {
    const D3pmConfig c = small_config(kind, D3pmScheduleKind::MutualInfo, 7, extra_mask, T);
    const D3pmProcess p(c);
    const std::string name = std::string(d3pm_kind_name(kind)) + (extra_mask ? ", extra mask" : ", no extra mask");
    INFO(name);
    // p over the K states, zero at an extra mask, from the configuration's unigram over the data states.
    std::vector<double> pk(static_cast<size_t>(p.num_states()), 0.0);
    double total = 0;
    const std::vector<int64_t> ids = p.states().data_ids();
    for (size_t a = 0; a < ids.size(); ++a) {
      pk[static_cast<size_t>(ids[a])] = c.unigram[a];
      total += c.unigram[a];
    }
    for (double& v : pk) v /= total;
    double h = 0;
    for (double v : pk)
      if (v > 0) h -= v * std::log(v);
    for (int64_t t = 0; t <= T; ++t) {
      INFO("t = " << t);
      const DenseMatrix qbar = p.qbar_matrix(t);
      double info = 0;  // sum_i p_i sum_j Qbar_ij log(Qbar_ij / (p Qbar)_j), written out here
      for (int64_t i = 0; i < p.num_states(); ++i) {
        if (pk[static_cast<size_t>(i)] == 0) continue;
        for (int64_t j = 0; j < p.num_states(); ++j) {
          double m = 0;
          for (int64_t k = 0; k < p.num_states(); ++k) m += pk[static_cast<size_t>(k)] * qbar(k, j);
          if (qbar(i, j) > 0) info += pk[static_cast<size_t>(i)] * qbar(i, j) * std::log(qbar(i, j) / m);
        }
      }
      CHECK(std::abs(info - (1.0 - static_cast<double>(t) / T) * h) < 1e-9 * h);
    }
  }
}

TEST_CASE("for absorbing, the mutual-information schedule reduces to beta_t = 1/(T - t + 1)") {
  const int64_t T = 15;
  const D3pmProcess p(small_config(D3pmKind::Absorbing, D3pmScheduleKind::MutualInfo, 6, true, T));
  for (int64_t t = 1; t <= T; ++t) {
    CHECK(p.betas()[static_cast<size_t>(t)] == doctest::Approx(1.0 / (T - t + 1)).epsilon(1e-12));
    CHECK(p.abar()[static_cast<size_t>(t)] == doctest::Approx(1.0 - static_cast<double>(t) / T).scale(1e-14));
  }
  // The Gaussian kind has no one-parameter Qbar for the MI solve: refused with a message.
  CHECK_THROWS_AS(D3pmProcess(small_config(D3pmKind::Gaussian, D3pmScheduleKind::MutualInfo, 6, false, T)),
                  std::invalid_argument);
}

TEST_CASE("the nearest-neighbour MI schedule ends with the all-mask step when there is a mask") {
  const int64_t T = 8;
  const D3pmProcess with(small_config(D3pmKind::NearestNeighbor, D3pmScheduleKind::MutualInfo, 7, true, T));
  CHECK(with.final_mask_step());
  CHECK(with.exponents()[T] == with.exponents()[T - 1]);
  for (int64_t i = 0; i < with.num_states(); ++i) CHECK(with.qbar_matrix(T)(i, 7) == 1.0);
  const D3pmProcess without(small_config(D3pmKind::NearestNeighbor, D3pmScheduleKind::MutualInfo, 7, false, T));
  CHECK(!without.final_mask_step());
  CHECK(without.exponents()[T] > without.exponents()[T - 1]);
  CHECK(without.exponents()[T] < 1e4);  // aims at I = 1e-12 H, not at the cap
  for (int64_t t = 1; t <= T; ++t) CHECK(without.exponents()[static_cast<size_t>(t)] > without.exponents()[static_cast<size_t>(t - 1)]);
}

TEST_CASE("spindle: w from counts, the masking probability's formula, monotone in t, all masked at T") {
  const std::vector<double> w = spindle_weights({0, 9, 99, 999});
  CHECK(w[0] == 0.0);
  CHECK(w[3] == 1.0);
  CHECK(w[1] == doctest::Approx(std::log(10.0) / std::log(1000.0)));
  const int64_t T = 50;
  for (double wi : {0.0, 0.3, 1.0})
    for (double c : {0.0, 0.5, 1.0}) {
      double prev = 0;
      for (int64_t t = 0; t <= T; ++t) {
        const double p = spindle_mask_prob(t, T, 0.3, wi, c);
        const double x = static_cast<double>(t) / T;
        if (t < T) CHECK(p == doctest::Approx(std::clamp(x + 0.3 * std::sin(std::numbers::pi * x) * (wi - c), 0.0, 0.999)));
        CHECK(p >= prev);
        prev = p;
      }
      CHECK(prev == 1.0);
    }
  D3pmConfig bad = small_config(D3pmKind::Absorbing, D3pmScheduleKind::Spindle, 6, true, T);
  bad.spindle_lambda = 0.5;  // > 1/pi: the masking probability could fall with t
  CHECK_THROWS_AS(D3pmProcess{bad}, std::invalid_argument);
}

TEST_CASE("spindle: q(x_t | x0) masks each token with its own probability, from the sequence's mean weight") {
  const int64_t T = 10, L = 6;
  const D3pm d(small_config(D3pmKind::Absorbing, D3pmScheduleKind::Spindle, 6, true, T));
  const Tensor x0 = Tensor::from_vector(std::vector<int32_t>{0, 1, 2, 3, 4, 5, 5, 5, 5, 5, 5, 0}, {2, L});
  const std::vector<double> c = d.sequence_weights(x0);
  const std::vector<double>& w = d.process().spindle_weights();
  CHECK(c[0] == doctest::Approx((w[0] + w[1] + w[2] + w[3] + w[4] + w[5]) / 6));
  CHECK(c[1] == doctest::Approx((5 * w[5] + w[0]) / 6));
  const Tensor probs = d.q_probs(x0, Tensor::from_vector(std::vector<int32_t>{4, 7}, {2}), DType::F64);
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t l = 0; l < L; ++l) {
      const int64_t tok = static_cast<int64_t>(x0.at({b, l})), t = b == 0 ? 4 : 7;
      const double masked = spindle_mask_prob(t, T, 0.3, w[static_cast<size_t>(tok)], c[static_cast<size_t>(b)]);
      CHECK(probs.at({b, l, 6}) == doctest::Approx(masked).epsilon(1e-12));
      CHECK(probs.at({b, l, tok}) == doctest::Approx(1 - masked).epsilon(1e-12));
    }
  // Empirical masking frequency of q_sample matches (20,000 draws of one batch).
  Philox rng(9);
  const Tensor t = Tensor::from_vector(std::vector<int32_t>{4, 7}, {2});
  std::vector<double> freq(12, 0.0);
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    const std::vector<double> x = d.q_sample(x0, t, rng).to_vector();
    for (size_t k = 0; k < 12; ++k) freq[k] += (x[k] == 6) / static_cast<double>(n);
  }
  for (int64_t k = 0; k < 12; ++k) {
    const double p = probs.at({k / L, k % L, 6});
    CHECK(std::abs(freq[static_cast<size_t>(k)] - p) < 5 * std::sqrt(p * (1 - p) / n) + 1e-12);
  }
}
