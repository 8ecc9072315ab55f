// The D3PM bound in bits per token: with a uniform ptilde, the exact bound (every term, per-t and prior) and
// the Monte-Carlo estimate equal an independent computation written here with plain doubles, from the
// schedule's betas alone, on the same x_t draws; the estimate is unbiased for the exact bound; the strided
// bound of a step-skipping reverse process sums the skipping terms at the visited t.
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "d3pm_testing.hpp"
#include "diffusion/d3pm_elbo.hpp"
#include "tensor/ops.hpp"

using namespace diffuse;
using namespace diffuse::diffusion;
using namespace diffuse::testing;

namespace {

using Mat = std::vector<std::vector<double>>;

// The process rebuilt from its definitions: K states, mask m (-1: none), Q_t from beta_t.
struct Independent {
  D3pmKind kind;
  int64_t K, m;
  std::vector<double> betas;  // [0..T]
  int64_t T() const { return static_cast<int64_t>(betas.size()) - 1; }

  Mat q(int64_t t) const {
    const double b = betas[static_cast<size_t>(t)];
    Mat out(static_cast<size_t>(K), std::vector<double>(static_cast<size_t>(K), 0.0));
    double z = 1;  // Gaussian normaliser
    const double scale = 4.0 / ((K - 1.0) * (K - 1.0) * b);
    for (int64_t n = 1; n < K; ++n) z += 2 * std::exp(-scale * n * n);
    for (int64_t i = 0; i < K; ++i) {
      double off = 0;
      for (int64_t j = 0; j < K; ++j) {
        double v = 0;
        if (kind == D3pmKind::Uniform) v = (i == j ? 1 - b : 0) + b / K;
        if (kind == D3pmKind::Absorbing) v = (i == j ? 1 - b : 0) + (j == m ? b : 0);
        if (kind == D3pmKind::Gaussian && i != j) {
          v = std::exp(-scale * (i - j) * (i - j)) / z;
          off += v;
        }
        out[static_cast<size_t>(i)][static_cast<size_t>(j)] = v;
      }
      if (kind == D3pmKind::Gaussian) out[static_cast<size_t>(i)][static_cast<size_t>(i)] = 1 - off;
    }
    return out;
  }
  Mat qbar(int64_t t) const {
    Mat r(static_cast<size_t>(K), std::vector<double>(static_cast<size_t>(K), 0.0));
    for (int64_t i = 0; i < K; ++i) r[static_cast<size_t>(i)][static_cast<size_t>(i)] = 1;
    for (int64_t u = 1; u <= t; ++u) {
      const Mat qu = q(u);
      Mat n(static_cast<size_t>(K), std::vector<double>(static_cast<size_t>(K), 0.0));
      for (int64_t i = 0; i < K; ++i)
        for (int64_t k = 0; k < K; ++k)
          for (int64_t j = 0; j < K; ++j) n[static_cast<size_t>(i)][static_cast<size_t>(j)] += r[static_cast<size_t>(i)][static_cast<size_t>(k)] * qu[static_cast<size_t>(k)][static_cast<size_t>(j)];
      r = n;
    }
    return r;
  }
  // The uniform ptilde: uniform over every state but the mask.
  std::vector<double> ptilde() const {
    std::vector<double> p(static_cast<size_t>(K), 1.0 / static_cast<double>(K - (m >= 0 ? 1 : 0)));
    if (m >= 0) p[static_cast<size_t>(m)] = 0;
    return p;
  }
  // One position's bound term at t (nats): KL(q || p) for t >= 2, -log p(x0 | x1) for t = 1, where
  // p(x_{t-1} = j | x_t) is proportional to Q_t[j][x_t] (ptilde Qbar_{t-1})_j.
  double term(int64_t t, int64_t x0, int64_t xt) const {
    const Mat qt = q(t), qb = qbar(t - 1);
    const std::vector<double> pt = ptilde();
    std::vector<double> qv(static_cast<size_t>(K)), pv(static_cast<size_t>(K));
    double zq = 0, zp = 0;
    for (int64_t j = 0; j < K; ++j) {
      double f2 = 0;
      for (int64_t i = 0; i < K; ++i) f2 += pt[static_cast<size_t>(i)] * qb[static_cast<size_t>(i)][static_cast<size_t>(j)];
      qv[static_cast<size_t>(j)] = qt[static_cast<size_t>(j)][static_cast<size_t>(xt)] * qb[static_cast<size_t>(x0)][static_cast<size_t>(j)];
      pv[static_cast<size_t>(j)] = qt[static_cast<size_t>(j)][static_cast<size_t>(xt)] * f2;
      zq += qv[static_cast<size_t>(j)];
      zp += pv[static_cast<size_t>(j)];
    }
    if (t == 1) return -std::log(pv[static_cast<size_t>(x0)] / zp);
    double kl = 0;
    for (int64_t j = 0; j < K; ++j)
      if (qv[static_cast<size_t>(j)] > 0) kl += qv[static_cast<size_t>(j)] / zq * std::log((qv[static_cast<size_t>(j)] / zq) / (pv[static_cast<size_t>(j)] / zp));
    return kl;
  }
  // KL(q(x_T | x0) || prior), prior = the mask (absorbing) or uniform, with the engine's eps convention
  // (sum q (log(q + eps) - log(p + eps))): an absorbing schedule that leaves abar_T > 0 is charged
  // log(q / 1e-20) where the prior has no mass, instead of infinity.
  double prior(int64_t x0) const {
    const Mat qb = qbar(T());
    double kl = 0;
    for (int64_t j = 0; j < K; ++j) {
      const double q = qb[static_cast<size_t>(x0)][static_cast<size_t>(j)];
      const double p = kind == D3pmKind::Absorbing ? (j == m ? 1.0 : 0.0) : 1.0 / K;
      if (q > 0) kl += q * (std::log(q + 1e-20) - std::log(p + 1e-20));
    }
    return kl;
  }
};

}  // namespace

TEST_CASE("the exact bound and the estimate with a uniform ptilde match an independent plain-double computation") {
  const int64_t N = 5, L = 6, T = 10;
  struct Case {
    const char* name;
    D3pmConfig config;
  };
  for (const Case& cs : {Case{"uniform cosine", small_config(D3pmKind::Uniform, D3pmScheduleKind::Cosine, 6, false, T)},
                         Case{"absorbing jsd", small_config(D3pmKind::Absorbing, D3pmScheduleKind::Jsd, 6, true, T)},
                         Case{"absorbing linear", small_config(D3pmKind::Absorbing, D3pmScheduleKind::Linear, 6, true, T)},
                         Case{"gaussian linear", small_config(D3pmKind::Gaussian, D3pmScheduleKind::Linear, 7, false, T)}}) {
    INFO(std::string(cs.name));
    const D3pm d(cs.config);
    const Independent ind{cs.config.kind, d.num_states(), d.process().states().mask, d.process().betas()};
    Philox data(21);
    std::vector<int32_t> xs(static_cast<size_t>(N * L));
    for (int32_t& v : xs) v = static_cast<int32_t>(data.integer(0, d.process().states().num_data()));
    const Tensor x0 = Tensor::from_vector(xs, {N, L});
    const X0Model uniform = [&](const Tensor& x_t, const Tensor&) { return Tensor::zeros({x_t.size(0), L, d.num_states()}); };

    // Exact: every t = T..1 at the recorded x_t, plus the prior.
    std::vector<double> per_seq(static_cast<size_t>(N), 0.0), per_t(static_cast<size_t>(T), 0.0);
    int64_t calls = 0;
    Philox rng(22);
    const D3pmElboResult exact = d3pm_elbo_exact(uniform, d, x0, rng, 2, [&](int64_t first, const Tensor& t, const Tensor& x_t) {
      ++calls;
      for (int64_t i = 0; i < x_t.size(0); ++i)
        for (int64_t l = 0; l < L; ++l) {
          const int64_t tt = static_cast<int64_t>(t.at({i}));
          const double v = ind.term(tt, xs[static_cast<size_t>((first + i) * L + l)], static_cast<int64_t>(x_t.at({i, l})));
          per_seq[static_cast<size_t>(first + i)] += v;
          per_t[static_cast<size_t>(tt - 1)] += v / N;
        }
    });
    double prior = 0, total = 0, bits = 0;
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t l = 0; l < L; ++l) {
        const double p = ind.prior(xs[static_cast<size_t>(n * L + l)]);
        per_seq[static_cast<size_t>(n)] += p;
        prior += p / N;
      }
      total += per_seq[static_cast<size_t>(n)] / N;
      bits += per_seq[static_cast<size_t>(n)] / (L * std::numbers::ln2) / N;
      CHECK(exact.per_sequence_bits[static_cast<size_t>(n)] == doctest::Approx(per_seq[static_cast<size_t>(n)] / (L * std::numbers::ln2)).epsilon(1e-10));
    }
    CHECK(exact.method == "exact");
    CHECK(exact.num_sequences == N);
    CHECK(calls == 3 * T);  // batches of 2, 2, 1
    CHECK(exact.network_evaluations == 3 * T);
    CHECK(std::abs(exact.prior_nats - prior) < 1e-10 * prior + 1e-13);
    CHECK(exact.total_nats == doctest::Approx(total).epsilon(1e-10));
    CHECK(exact.bits_per_token == doctest::Approx(bits).epsilon(1e-10));
    for (int64_t t = 1; t <= T; ++t) CHECK(exact.terms_nats[static_cast<size_t>(t - 1)] == doctest::Approx(per_t[static_cast<size_t>(t - 1)]).epsilon(1e-10).scale(1e-12));

    // Estimate: the prior, L_0 at t = 1, and (T - 1) L_{t-1} at each sequence's random t in 2..T,
    // averaged over the draws.
    std::vector<double> est(static_cast<size_t>(N), 0.0);
    const int64_t draws = 3;
    int64_t evaluations = 0;
    const D3pmElboResult mc = d3pm_elbo_estimate(uniform, d, x0, rng, draws, 0, [&](int64_t first, const Tensor& t, const Tensor& x_t) {
      for (int64_t i = 0; i < x_t.size(0); ++i) {
        const int64_t ti = static_cast<int64_t>(t.at({i}));
        CHECK((evaluations == 0 ? ti == 1 : ti >= 2 && ti <= T));  // L_0 first, then the draws
        const double weight = evaluations == 0 ? 1.0 : static_cast<double>(T - 1) / draws;
        for (int64_t l = 0; l < L; ++l)
          est[static_cast<size_t>(first + i)] +=
              weight * ind.term(ti, xs[static_cast<size_t>((first + i) * L + l)], static_cast<int64_t>(x_t.at({i, l})));
      }
      ++evaluations;
    });
    CHECK(mc.method == "estimate");
    CHECK(mc.draws == draws);
    CHECK(mc.network_evaluations == 1 + draws);
    for (int64_t n = 0; n < N; ++n) {
      double p = 0;
      for (int64_t l = 0; l < L; ++l) p += ind.prior(xs[static_cast<size_t>(n * L + l)]);
      CHECK(mc.per_sequence_bits[static_cast<size_t>(n)] == doctest::Approx((est[static_cast<size_t>(n)] + p) / (L * std::numbers::ln2)).epsilon(1e-10));
    }
  }
}

TEST_CASE("the Monte-Carlo estimate is unbiased for the exact bound") {
  const int64_t N = 4, L = 5, T = 8;
  const D3pm d(small_config(D3pmKind::Absorbing, D3pmScheduleKind::Jsd, 6, true, T));
  const Tensor x0 = Tensor::from_vector(std::vector<int32_t>{0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 1, 1, 1, 1, 1, 5, 4, 3, 2, 1}, {N, L});
  // A model that is right with probability ~0.6 on x0, whatever x_t is, so every term is non-trivial.
  const X0Model model = [&](const Tensor& x_t, const Tensor&) {
    std::vector<double> lg(static_cast<size_t>(N * L * 7), 0.0);
    for (int64_t r = 0; r < N * L; ++r) lg[static_cast<size_t>(r * 7 + static_cast<int64_t>(x0.at({r / L, r % L})))] = 2.0;
    return Tensor::from_vector(lg, {x_t.size(0), L, 7}).to(DType::F32);
  };
  Philox rng(31);
  // Mean and standard error of repeated runs of each method (the exact bound is random too: one x_t per t).
  auto stats = [](const std::vector<double>& v) {
    double m = 0, s2 = 0;
    for (double x : v) m += x / static_cast<double>(v.size());
    for (double x : v) s2 += (x - m) * (x - m) / static_cast<double>(v.size() - 1);
    return std::pair{m, std::sqrt(s2 / static_cast<double>(v.size()))};
  };
  std::vector<double> ex, mcs;
  for (int rep = 0; rep < 200; ++rep) ex.push_back(d3pm_elbo_exact(model, d, x0, rng).bits_per_token);
  D3pmElboResult mc;
  for (int rep = 0; rep < 3000; ++rep) {
    mc = d3pm_elbo_estimate(model, d, x0, rng, 1);
    mcs.push_back(mc.bits_per_token);
  }
  const auto [me, se] = stats(ex);
  const auto [mm, sm] = stats(mcs);
  INFO("exact " << me << " +- " << se << ", estimate " << mm << " +- " << sm);
  CHECK(std::abs(me - mm) < 4 * std::sqrt(se * se + sm * sm));
  CHECK(mc.stderr_bits > 0);
  CHECK(mc.to_json()["method"] == "estimate");
}

TEST_CASE("the strided exact bound: steps = T is the full bound; fewer steps sum the skipping terms at the visited t") {
  const int64_t N = 3, L = 4, T = 10;
  const D3pm d(small_config(D3pmKind::Uniform, D3pmScheduleKind::Cosine, 6, false, T));
  Philox data(23);
  std::vector<int32_t> xs(static_cast<size_t>(N * L));
  for (int32_t& v : xs) v = static_cast<int32_t>(data.integer(0, 6));
  const Tensor x0 = Tensor::from_vector(xs, {N, L});
  Philox init(24);
  const Tensor w = randn({N, L, 6}, init);
  const X0Model model = [&](const Tensor& x_t, const Tensor&) { return w.narrow(0, 0, x_t.size(0)); };

  Philox r1(25), r2(25);
  const D3pmElboResult full = d3pm_elbo_exact(model, d, x0, r1);
  const D3pmElboResult same = d3pm_elbo_exact(model, d, x0, r2, 0, {}, T);
  CHECK(full.bits_per_token == same.bits_per_token);
  CHECK(full.steps == T);
  CHECK(full.term_t.front() == 1);
  CHECK(full.term_t.back() == T);

  // 4 steps visit t = 10, 7, 5, 2; each term is the skipping KL (or the decoder at t = 2 -> 0).
  std::vector<double> per_seq(static_cast<size_t>(N), 0.0);
  Philox rng(26);
  const D3pmElboResult strided = d3pm_elbo_exact(model, d, x0, rng, 2, [&](int64_t first, const Tensor& t, const Tensor& x_t) {
    const int64_t tv = static_cast<int64_t>(t.at({0})), n = x_t.size(0);
    const int64_t s = tv == 10 ? 7 : tv == 7 ? 5 : tv == 5 ? 2 : 0;
    const Tensor logits = model(x_t, D3pm::model_step(t)).to(DType::F64);
    const std::vector<double> v =
        d.vb_terms_skip(logits, x0.narrow(0, first, n).contiguous(), x_t, t, D3pm::t_tensor(n, s)).to_vector();
    for (int64_t i = 0; i < n; ++i) per_seq[static_cast<size_t>(first + i)] += v[static_cast<size_t>(i)];
  }, 4);
  CHECK(strided.steps == 4);
  CHECK(strided.network_evaluations == 8);  // 4 steps x 2 batches
  CHECK(strided.term_t == std::vector<int64_t>{2, 5, 7, 10});
  const std::vector<double> prior = d.prior_kl(x0, DType::F64).to_vector();
  for (int64_t n = 0; n < N; ++n)
    CHECK(strided.per_sequence_bits[static_cast<size_t>(n)] ==
          doctest::Approx((per_seq[static_cast<size_t>(n)] + prior[static_cast<size_t>(n)]) / (L * std::numbers::ln2)).epsilon(1e-10));
  // A perfect model's bound is the prior alone, at any number of steps.
  std::vector<double> lg(static_cast<size_t>(N * L * 6), 0.0);
  for (int64_t r = 0; r < N * L; ++r) lg[static_cast<size_t>(r * 6 + xs[static_cast<size_t>(r)])] = 60.0;
  const Tensor perfect_logits = Tensor::from_vector(lg, {N, L, 6});
  const X0Model perfect = [&](const Tensor& x_t, const Tensor&) { return perfect_logits.narrow(0, 0, x_t.size(0)); };
  for (int64_t steps : {1, 3, 10}) {
    Philox rp(27);
    const D3pmElboResult r = d3pm_elbo_exact(perfect, d, x0, rp, 0, {}, steps);
    CHECK(r.total_nats == doctest::Approx(r.prior_nats).epsilon(1e-9));
  }
}
