// D3PM posterior, reverse process and losses: the posterior equals Bayes' rule computed by brute force, the
// reverse logits equal a dense computation (closed forms included, with and without skipping), a perfect
// ptilde gives L_{t-1} = 0, the gradients of L_vb and of the hybrid loss w.r.t. the logits pass the float64
// gradient check for every kind, and the hybrid loss is L_{t-1} + lambda * CE (lambda on the CE only).
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>

#include "d3pm_testing.hpp"
#include "diffusion/d3pm_diffusion.hpp"
#include "gradcheck.hpp"

using namespace diffuse;
using namespace diffuse::diffusion;
using namespace diffuse::testing;

namespace {

constexpr int64_t B = 3, L = 4;

struct Batch {
  Tensor x0, t, x_t;
};

// x0 uniform over the data states, t with a 1 and the rest uniform on 2..T, x_t ~ q(x_t | x0).
Batch make_batch(const D3pm& d, uint64_t seed) {
  Philox rng(seed);
  const std::vector<int64_t> ids = d.process().states().data_ids();
  std::vector<int32_t> x(static_cast<size_t>(B * L));
  for (int32_t& v : x) v = static_cast<int32_t>(ids[static_cast<size_t>(rng.integer(0, static_cast<int64_t>(ids.size())))]);
  std::vector<int32_t> t(static_cast<size_t>(B));
  t[0] = 1;
  for (int64_t b = 1; b < B; ++b) t[static_cast<size_t>(b)] = static_cast<int32_t>(rng.integer(2, d.timesteps() + 1));
  Batch out;
  out.x0 = Tensor::from_vector(x, {B, L});
  out.t = Tensor::from_vector(t, {B});
  out.x_t = d.q_sample(out.x0, out.t, rng);
  return out;
}

// Dense per-sequence matrices of the spindle chain at mean weight c: Q_u for u = 1..t and their products.
struct SpindleChain {
  const D3pm& d;
  double c;
  DenseMatrix q(int64_t u) const {
    const D3pmProcess& p = d.process();
    const int64_t K = p.num_states(), m = p.states().mask, T = p.timesteps();
    DenseMatrix out(K);
    const double lambda = p.config().spindle_lambda;
    for (int64_t k = 0; k < K; ++k) {
      if (k == m) {
        out(m, m) = 1;
        continue;
      }
      const double w = p.spindle_weights()[static_cast<size_t>(k)];
      const double keep_prev = 1 - spindle_mask_prob(u - 1, T, lambda, w, c), keep = 1 - spindle_mask_prob(u, T, lambda, w, c);
      out(k, k) = keep / keep_prev;
      out(k, m) = 1 - keep / keep_prev;
    }
    return out;
  }
  DenseMatrix product(int64_t s, int64_t t) const {  // Q_{s+1} ... Q_t
    DenseMatrix r = DenseMatrix::identity(d.num_states());
    for (int64_t u = s + 1; u <= t; ++u) r = dense_matmul(r, q(u));
    return r;
  }
};

// Dense matrices of the process (or of the spindle chain at c).
DenseMatrix dense_q(const D3pm& d, int64_t t, double c) {
  return d.process().spindle() ? SpindleChain{d, c}.q(t) : d.process().q_matrix(t);
}
DenseMatrix dense_product(const D3pm& d, int64_t s, int64_t t, double c) {
  return d.process().spindle() ? SpindleChain{d, c}.product(s, t) : d.process().q_product(s, t);
}

Tensor random_logits(const D3pm& d, uint64_t seed) { return random_input({B, L, d.num_states()}, seed, 1.5); }

}  // namespace

TEST_CASE("the posterior q(x_{t-1} | x_t, x0) equals Bayes' rule computed by brute force") {
  for (const NamedConfig& nc : every_kind()) {
    INFO(nc.name);
    const D3pm d(nc.config);
    for (uint64_t seed : {1, 2, 3}) {
      const Batch bt = make_batch(d, seed);
      const Tensor post = softmax(d.q_posterior_logits(bt.x0, bt.x_t, bt.t, DType::F64), -1);
      const std::vector<double> c = d.sequence_weights(bt.x0);
      for (int64_t b = 0; b < B; ++b) {
        const int64_t t = static_cast<int64_t>(bt.t.at({b}));
        const DenseMatrix qt = dense_q(d, t, c[static_cast<size_t>(b)]);
        const DenseMatrix qbar_prev = dense_product(d, 0, t - 1, c[static_cast<size_t>(b)]);
        const DenseMatrix qbar = dense_product(d, 0, t, c[static_cast<size_t>(b)]);
        for (int64_t l = 0; l < L; ++l) {
          const int64_t x0 = static_cast<int64_t>(bt.x0.at({b, l})), xt = static_cast<int64_t>(bt.x_t.at({b, l}));
          REQUIRE(qbar(x0, xt) > 0);
          for (int64_t j = 0; j < d.num_states(); ++j) {
            // q(x_{t-1} = j | x_t, x0) = q(x_t | x_{t-1} = j) q(x_{t-1} = j | x0) / q(x_t | x0)
            const double bayes = qt(j, xt) * qbar_prev(x0, j) / qbar(x0, xt);
            REQUIRE(std::abs(post.at({b, l, j}) - bayes) < 1e-10 * bayes + 1e-15);  // eps = 1e-20 inside the logs
          }
        }
      }
    }
  }
}

TEST_CASE("the reverse logits equal the dense formula, one step and skipping k steps") {
  for (const NamedConfig& nc : every_kind()) {
    INFO(nc.name);
    const D3pm d(nc.config);
    const D3pmStates& st = d.process().states();
    const Batch bt = make_batch(d, 4);
    const Tensor logits = random_logits(d, 5);
    const Tensor ptilde = exp(d.x0_log_probs(logits));
    std::vector<int32_t> sv(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; ++b) sv[static_cast<size_t>(b)] = static_cast<int32_t>(std::max<int64_t>(0, static_cast<int64_t>(bt.t.at({b})) - 3));
    const Tensor s = Tensor::from_vector(sv, {B});
    for (bool skip : {false, true}) {
      INFO("skip " << skip);
      const Tensor got = log_softmax(skip ? d.p_logits_skip(logits, bt.x_t, bt.t, s) : d.p_logits(logits, bt.x_t, bt.t), -1);
      for (int64_t b = 0; b < B; ++b) {
        const int64_t t = static_cast<int64_t>(bt.t.at({b})), from = skip ? sv[static_cast<size_t>(b)] : t - 1;
        // spindle: p uses c_hat = mean of (unmasked ? w(x_t) : E_ptilde[w]).
        double c = 0;
        if (d.process().spindle()) {
          for (int64_t l = 0; l < L; ++l) {
            const int64_t y = static_cast<int64_t>(bt.x_t.at({b, l}));
            double wl = 0;
            if (y == st.mask)
              for (int64_t k = 0; k < d.num_states(); ++k) wl += ptilde.at({b, l, k}) * d.process().spindle_weights()[static_cast<size_t>(k)];
            else
              wl = d.process().spindle_weights()[static_cast<size_t>(y)];
            c += wl / L;
          }
        }
        const DenseMatrix P = dense_product(d, from, t, c), qbar_s = dense_product(d, 0, from, c);
        for (int64_t l = 0; l < L; ++l) {
          const int64_t y = static_cast<int64_t>(bt.x_t.at({b, l}));
          std::vector<double> lg(static_cast<size_t>(d.num_states()));
          double mx = -1e300;
          for (int64_t k = 0; k < d.num_states(); ++k) {
            double f2 = 0;
            for (int64_t i = 0; i < d.num_states(); ++i) f2 += ptilde.at({b, l, i}) * qbar_s(i, k);
            lg[static_cast<size_t>(k)] = std::log(P(k, y) + 1e-20) + std::log(f2 + 1e-20);
            mx = std::max(mx, lg[static_cast<size_t>(k)]);
          }
          if (from == 0 && nc.config.decoder == D3pmDecoder::Ptilde) continue;
          double z = 0;
          for (double v : lg) z += std::exp(v - mx);
          for (int64_t k = 0; k < d.num_states(); ++k)
            REQUIRE(got.at({b, l, k}) == doctest::Approx(lg[static_cast<size_t>(k)] - mx - std::log(z)).epsilon(1e-9).scale(1e-9));
        }
      }
    }
  }
}

TEST_CASE("a perfect ptilde (large logits on x0) gives L_{t-1} = 0 for every t and kind") {
  for (const NamedConfig& nc : every_kind()) {
    for (D3pmDecoder dec : {D3pmDecoder::Posterior, D3pmDecoder::Ptilde}) {
      D3pmConfig c = nc.config;
      c.decoder = dec;
      const D3pm d(c);
      INFO(nc.name << ", decoder " << std::string(d3pm_decoder_name(dec)));
      const Batch bt = make_batch(d, 6);
      std::vector<double> lg(static_cast<size_t>(B * L * d.num_states()), 0.0);
      for (int64_t r = 0; r < B * L; ++r)
        lg[static_cast<size_t>(r * d.num_states() + static_cast<int64_t>(bt.x0.at({r / L, r % L})))] = 60.0;
      const Tensor logits = Tensor::from_vector(lg, {B, L, d.num_states()});
      for (int64_t t = 1; t <= d.timesteps(); ++t) {
        Philox rng(static_cast<uint64_t>(t));
        const Tensor t_batch = D3pm::t_tensor(B, t);
        const Tensor x_t = d.q_sample(bt.x0, t_batch, rng);
        for (double v : d.vb_terms(logits, bt.x0, x_t, t_batch).to_vector()) CHECK(std::abs(v) < 1e-12);
      }
    }
  }
}

TEST_CASE("gradients of L_vb and of the hybrid loss w.r.t. the logits pass the float64 gradient check") {
  for (const NamedConfig& nc : every_kind()) {
    for (D3pmDecoder dec : {D3pmDecoder::Posterior, D3pmDecoder::Ptilde}) {
      if (dec == D3pmDecoder::Ptilde && nc.config.kind != D3pmKind::Absorbing) continue;
      D3pmConfig c = nc.config;
      c.decoder = dec;
      c.hybrid_lambda = 0.3;
      const D3pm d(c);
      INFO(nc.name << ", decoder " << std::string(d3pm_decoder_name(dec)));
      const Batch bt = make_batch(d, 7);
      CHECK_GRADIENTS([&](const std::vector<Tensor>& in) { return d.vb_terms(in[0], bt.x0, bt.x_t, bt.t); },
                      {random_logits(d, 8)});
      CHECK_GRADIENTS([&](const std::vector<Tensor>& in) { return d.loss_from_logits(in[0], bt.x0, bt.x_t, bt.t).per_example; },
                      {random_logits(d, 9)});
      // Skipping is differentiable too (p_theta(x_s | x_t) for s = t - 2; with the ptilde decoder s = 0 gives
      // log ptilde, whose -inf at the mask the contraction cannot take, so that case is left to the lines above).
      if (dec == D3pmDecoder::Ptilde) continue;
      std::vector<int32_t> sv(static_cast<size_t>(B));
      for (int64_t b = 0; b < B; ++b) sv[static_cast<size_t>(b)] = static_cast<int32_t>(std::max<int64_t>(0, static_cast<int64_t>(bt.t.at({b})) - 2));
      const Tensor s = Tensor::from_vector(sv, {B});
      CHECK_GRADIENTS([&](const std::vector<Tensor>& in) { return softmax(d.p_logits_skip(in[0], bt.x_t, bt.t, s), -1); },
                      {random_logits(d, 10)});
    }
  }
}

TEST_CASE("the hybrid loss is L_{t-1} + lambda * CE per example (lambda on the CE only); its batch mean in nats or bits/position") {
  D3pmConfig c = small_config(D3pmKind::Absorbing, D3pmScheduleKind::Jsd, 6, true, 10);
  c.hybrid_lambda = 0.25;
  const D3pm d(c);
  const Batch bt = make_batch(d, 11);
  const Tensor logits = random_logits(d, 12);
  const D3pmLoss loss = d.loss_from_logits(logits, bt.x0, bt.x_t, bt.t);
  const std::vector<double> vb = d.vb_terms(logits, bt.x0, bt.x_t, bt.t).to_vector();
  const Tensor lp = d.x0_log_probs(logits);
  double mean = 0;
  for (int64_t b = 0; b < B; ++b) {
    double ce = 0;
    for (int64_t l = 0; l < L; ++l) ce -= lp.at({b, l, static_cast<int64_t>(bt.x0.at({b, l}))});
    CHECK(loss.ce.at({b}) == doctest::Approx(ce).epsilon(1e-12));
    CHECK(loss.vb.at({b}) == doctest::Approx(vb[static_cast<size_t>(b)]).epsilon(1e-12));
    CHECK(loss.per_example.at({b}) == doctest::Approx(vb[static_cast<size_t>(b)] + 0.25 * ce).epsilon(1e-12));
    mean += loss.per_example.at({b}) / B;
  }
  // The batch mean in nats per sequence (the text code's scale), or in bits per position (the image code's).
  CHECK(loss.loss.item() == doctest::Approx(mean).epsilon(1e-12));
  c.loss_bits_per_dim = true;
  CHECK(D3pm(c).loss_from_logits(logits, bt.x0, bt.x_t, bt.t).loss.item() ==
        doctest::Approx(mean / (L * std::numbers::ln2)).epsilon(1e-12));
  // The mask's logit is ignored: ptilde gives it probability 0 whatever the network says.
  for (int64_t b = 0; b < B; ++b) CHECK(std::isinf(lp.at({b, 0, 6})));

  // training_loss draws x_t from q and calls the model with the 0-based step t - 1.
  Philox rng(13);
  std::vector<double> steps_seen;
  const D3pmLoss tl = d.training_loss(
      [&](const Tensor& x_t, const Tensor& step) {
        steps_seen = step.to_vector();
        CHECK(x_t.shape() == Shape{B, L});
        return logits;
      },
      bt.x0, bt.t, rng);
  for (int64_t b = 0; b < B; ++b) CHECK(steps_seen[static_cast<size_t>(b)] == bt.t.at({b}) - 1);
  CHECK(tl.loss.shape() == Shape{});
}

TEST_CASE("q_sample draws from q(x_t | x0): empirical frequencies against q_probs") {
  const D3pm d(small_config(D3pmKind::Gaussian, D3pmScheduleKind::Linear, 7, false, 10));
  const Tensor x0 = Tensor::from_vector(std::vector<int32_t>{0, 3, 6}, {1, 3});
  const Tensor t = D3pm::t_tensor(1, 6);
  const Tensor probs = d.q_probs(x0, t, DType::F64);
  Philox rng(14);
  const int n = 20000;
  std::vector<double> freq(21, 0.0);
  for (int i = 0; i < n; ++i) {
    const std::vector<double> x = d.q_sample(x0, t, rng).to_vector();
    for (int64_t l = 0; l < 3; ++l) freq[static_cast<size_t>(l * 7 + static_cast<int64_t>(x[static_cast<size_t>(l)]))] += 1.0 / n;
  }
  for (int64_t l = 0; l < 3; ++l)
    for (int64_t k = 0; k < 7; ++k) {
      const double p = probs.at({0, l, k});
      CHECK(std::abs(freq[static_cast<size_t>(l * 7 + k)] - p) < 5 * std::sqrt(p * (1 - p) / n) + 1e-12);
    }
}

TEST_CASE("K = 256: the Gaussian kind and the image absorbing state 128 (a data value, not forced to -inf)") {
  for (D3pmKind kind : {D3pmKind::Gaussian, D3pmKind::Absorbing}) {
    const D3pmConfig c = small_config(kind, kind == D3pmKind::Gaussian ? D3pmScheduleKind::Linear : D3pmScheduleKind::Jsd,
                                      256, false, 5);
    const D3pm d(c);
    INFO(std::string(d3pm_kind_name(kind)));
    if (kind == D3pmKind::Absorbing) {
      CHECK(d.process().states().mask == 128);
      CHECK(d.process().states().mask_is_data);
      CHECK(d.process().prior()[128] == 1.0);
    }
    const Tensor x0 = Tensor::from_vector(std::vector<int32_t>{0, 128, 200, 255}, {2, 2});
    const Tensor t = Tensor::from_vector(std::vector<int32_t>{1, 4}, {2});
    Philox rng(15);
    const Tensor x_t = d.q_sample(x0, t, rng);
    // Posterior against Bayes' rule with the dense matrices.
    const Tensor post = softmax(d.q_posterior_logits(x0, x_t, t, DType::F64), -1);
    for (int64_t b = 0; b < 2; ++b) {
      const int64_t tb = static_cast<int64_t>(t.at({b}));
      const DenseMatrix q = d.process().q_matrix(tb), prev = d.process().qbar_matrix(tb - 1), cur = d.process().qbar_matrix(tb);
      for (int64_t l = 0; l < 2; ++l) {
        const int64_t a = static_cast<int64_t>(x0.at({b, l})), y = static_cast<int64_t>(x_t.at({b, l}));
        for (int64_t j = 0; j < 256; ++j)
          REQUIRE(std::abs(post.at({b, l, j}) - q(j, y) * prev(a, j) / cur(a, y)) < 1e-10 * post.at({b, l, j}) + 1e-15);
      }
    }
    // ptilde may predict 128 itself: its logit is not forced to -inf.
    const Tensor logits = random_input({2, 2, 256}, 16, 1.5);
    CHECK(std::isfinite(d.x0_log_probs(logits).at({0, 0, 128})));
    // A perfect ptilde gives 0; the gradients pass the check.
    std::vector<double> lg(2 * 2 * 256, 0.0);
    for (int64_t r = 0; r < 4; ++r) lg[static_cast<size_t>(r * 256 + static_cast<int64_t>(x0.at({r / 2, r % 2})))] = 60.0;
    for (double v : d.vb_terms(Tensor::from_vector(lg, {2, 2, 256}), x0, x_t, t).to_vector()) CHECK(std::abs(v) < 1e-12);
    CHECK_GRADIENTS([&](const std::vector<Tensor>& in) { return d.vb_terms(in[0], x0, x_t, t); }, {logits});
  }
}

TEST_CASE("the skipping bound: s = t - 1 gives vb_terms; s < t - 1 is the KL of k-step Bayes posteriors") {
  for (const NamedConfig& nc : every_kind()) {
    INFO(nc.name);
    const D3pm d(nc.config);
    const int64_t K = d.num_states();
    const Batch bt = make_batch(d, 8);
    const Tensor logits = random_logits(d, 9).to(DType::F64);
    std::vector<int32_t> prev(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; ++b) prev[static_cast<size_t>(b)] = static_cast<int32_t>(bt.t.at({b})) - 1;
    const std::vector<double> one = d.vb_terms(logits, bt.x0, bt.x_t, bt.t).to_vector();
    const std::vector<double> skip1 = d.vb_terms_skip(logits, bt.x0, bt.x_t, bt.t, Tensor::from_vector(prev, {B})).to_vector();
    for (int64_t b = 0; b < B; ++b) CHECK(skip1[static_cast<size_t>(b)] == doctest::Approx(one[static_cast<size_t>(b)]).epsilon(1e-10));

    // s = t / 2 (0 at t = 1): brute force from dense matrices, in plain doubles.
    std::vector<int32_t> half(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; ++b) half[static_cast<size_t>(b)] = static_cast<int32_t>(bt.t.at({b})) / 2;
    const Tensor s = Tensor::from_vector(half, {B});
    const std::vector<double> got = d.vb_terms_skip(logits, bt.x0, bt.x_t, bt.t, s).to_vector();
    const Tensor ptilde = exp(d.x0_log_probs(logits));
    const std::vector<double> c = d.sequence_weights(bt.x0);
    for (int64_t b = 0; b < B; ++b) {
      const int64_t t = static_cast<int64_t>(bt.t.at({b})), sb = half[static_cast<size_t>(b)];
      const double cb = c[static_cast<size_t>(b)];
      // Spindle: p_theta cannot see x0's mean weight and uses c_hat (d3pm_diffusion.hpp) on its side.
      double chat = cb;
      if (d.process().spindle()) {
        const std::vector<double>& w = d.process().spindle_weights();
        chat = 0;
        for (int64_t l = 0; l < L; ++l) {
          const int64_t xt = static_cast<int64_t>(bt.x_t.at({b, l}));
          double e = 0;
          for (int64_t i = 0; i < K; ++i) e += ptilde.at({b, l, i}) * w[static_cast<size_t>(i)];
          chat += (xt == d.process().states().mask ? e : w[static_cast<size_t>(xt)]) / L;
        }
      }
      const DenseMatrix P = dense_product(d, sb, t, cb), qbar_s = dense_product(d, 0, sb, cb);
      const DenseMatrix P_hat = dense_product(d, sb, t, chat), qbar_s_hat = dense_product(d, 0, sb, chat);
      double expected = 0;
      for (int64_t l = 0; l < L; ++l) {
        const int64_t x0 = static_cast<int64_t>(bt.x0.at({b, l})), xt = static_cast<int64_t>(bt.x_t.at({b, l}));
        std::vector<double> q(static_cast<size_t>(K)), p(static_cast<size_t>(K));
        double zq = 0, zp = 0;
        for (int64_t j = 0; j < K; ++j) {
          double pj = 0;
          for (int64_t i = 0; i < K; ++i) pj += ptilde.at({b, l, i}) * qbar_s_hat(i, j);
          q[static_cast<size_t>(j)] = P(j, xt) * qbar_s(x0, j);
          p[static_cast<size_t>(j)] = P_hat(j, xt) * pj;
          zq += q[static_cast<size_t>(j)];
          zp += p[static_cast<size_t>(j)];
        }
        if (sb == 0) {
          expected += -std::log((d.config().decoder == D3pmDecoder::Posterior ? p[static_cast<size_t>(x0)] / zp
                                                                               : ptilde.at({b, l, x0})));
          continue;
        }
        double kl = 0;
        for (int64_t j = 0; j < K; ++j)
          if (q[static_cast<size_t>(j)] > 0)
            kl += q[static_cast<size_t>(j)] / zq * std::log((q[static_cast<size_t>(j)] / zq) / (p[static_cast<size_t>(j)] / zp));
        expected += std::max(kl, 0.0);
      }
      CHECK(got[static_cast<size_t>(b)] == doctest::Approx(expected).epsilon(1e-8).scale(1e-12));
    }
  }
}

TEST_CASE("without a tape, float64 bound terms of the dense kinds (fused, in blocks, from float32 or float64 logits) equal the tensor version") {
  constexpr int64_t n = 2, len = 150;  // more positions than one block of 64
  for (const NamedConfig& nc : every_kind(12)) {
    for (D3pmDecoder decoder : {D3pmDecoder::Ptilde, D3pmDecoder::Posterior}) {
      D3pmConfig config = nc.config;
      config.decoder = decoder;
      const D3pm d(config);
      if (!d.process().dense()) continue;
      INFO(nc.name << (decoder == D3pmDecoder::Ptilde ? ", ptilde decoder" : ", posterior decoder"));
      Philox rng(21);
      const std::vector<int64_t> ids = d.process().states().data_ids();
      std::vector<int32_t> x(static_cast<size_t>(n * len));
      for (int32_t& v : x) v = static_cast<int32_t>(ids[static_cast<size_t>(rng.integer(0, static_cast<int64_t>(ids.size())))]);
      const Tensor x0 = Tensor::from_vector(x, {n, len});
      const Tensor logits32 = random_input({n, len, d.num_states()}, 22, 2.0).to(DType::F32), logits = logits32.to(DType::F64);
      Tensor taped = logits.clone();
      taped.set_requires_grad();
      for (const std::vector<int32_t>& tv : {std::vector<int32_t>{1, 7}, std::vector<int32_t>{12, 2}}) {
        const Tensor t = Tensor::from_vector(tv, {n});
        const Tensor x_t = d.q_sample(x0, t, rng);
        const std::vector<double> fused = d.vb_terms(logits, x0, x_t, t).to_vector();
        const std::vector<double> tensor = d.vb_terms(taped, x0, x_t, t).to_vector();
        std::vector<int32_t> half(tv);
        for (int32_t& v : half) v /= 2;
        const Tensor s = Tensor::from_vector(half, {n});
        const std::vector<double> fused_skip = d.vb_terms_skip(logits, x0, x_t, t, s).to_vector();
        const std::vector<double> tensor_skip = d.vb_terms_skip(taped, x0, x_t, t, s).to_vector();
        // float32 logits, widened block by block: exactly the terms of the float64 copy
        const std::vector<double> wide = d.vb_terms_f64(logits32, x0, x_t, t).to_vector();
        const std::vector<double> wide_skip = d.vb_terms_f64(logits32, x0, x_t, t, s).to_vector();
        for (size_t b = 0; b < static_cast<size_t>(n); ++b) {
          CAPTURE(tv[b]);
          CHECK(fused[b] == doctest::Approx(tensor[b]).epsilon(1e-12).scale(1e-12));
          CHECK(fused_skip[b] == doctest::Approx(tensor_skip[b]).epsilon(1e-12).scale(1e-12));
          CHECK(fused[b] > 0);
          CHECK(wide[b] == fused[b]);
          CHECK(wide_skip[b] == fused_skip[b]);
        }
      }
    }
  }
}
