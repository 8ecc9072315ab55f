// Masked diffusion in continuous time (diffusion/masked_diffusion.hpp): the schedules' derivatives against
// finite differences, the finite-T bound against D3PM's absorbing kind term by term, the bound of a uniform
// predictor against log2 27 by hand, the low-discrepancy draw's coverage, the one-t estimate against the
// exact finite-T bound of a tiny network, and sampling with reused outputs against recomputing them.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>
#include <numbers>

#include "diffusion/d3pm_diffusion.hpp"
#include "diffusion/masked_diffusion.hpp"
#include "diffusion/token_draw.hpp"
#include "nn/transformer.hpp"
#include "tensor/autograd.hpp"
#include "tensor/ops.hpp"

using namespace diffuse;
using namespace diffuse::diffusion;

namespace {

constexpr int64_t V = 27;  // text8's characters; the mask is 27

const char* const kSchedules[] = {"linear", "cosine", "polynomial", "loglinear"};

MaskedSchedule schedule_named(const std::string& name, double eps = 1e-4) {
  return MaskedSchedule::make(name, eps, name == "polynomial" ? 3.0 : 1.0);
}

Tensor random_tokens(int64_t B, int64_t L, uint64_t seed) {
  Philox rng(seed);
  return randint({B, L}, 0, V, rng);
}

// A tiny transformer that does not read t, as a function of x_t only: [B, L] -> logits [B, L, 27] float64.
struct TinyNetwork {
  TinyNetwork() : rng(3), net(config(), rng) {}
  static nn::TransformerConfig config() {
    nn::TransformerConfig c;
    c.in_states = 28;
    c.out_states = V;
    c.seq_len = 8;
    c.width = 16;
    c.layers = 1;
    c.heads = 2;
    c.mlp = 32;
    c.time_embedding = false;
    return c;
  }
  Philox rng;
  nn::Transformer net;
  MaskedX0Model model() {
    return [this](const Tensor& x_t, const Tensor&) { return net.forward(x_t, Tensor(), rng).to(DType::F64); };
  }
};

}  // namespace

TEST_CASE("each schedule's alpha' matches a central difference of alpha, and its ends are clipped by eps") {
  for (const char* name : kSchedules) {
    CAPTURE(name);
    const MaskedSchedule s = schedule_named(name);
    for (double t : {0.05, 0.3, 0.5, 0.77, 0.95}) {
      const double h = 1e-6, fd = (s.alpha(t + h) - s.alpha(t - h)) / (2 * h);
      CHECK(s.alpha_prime(t) == doctest::Approx(fd).epsilon(1e-7));
      CHECK(s.weight(t) == doctest::Approx(-s.alpha_prime(t) / (1 - s.alpha(t))).epsilon(1e-12));
    }
    CHECK(s.alpha(1.0) == doctest::Approx(1e-4).epsilon(1e-12));
    CHECK(s.alpha(0.0) == doctest::Approx(std::string(name) == "loglinear" ? 1.0 : 1.0 - 1e-4).epsilon(1e-12));
  }
  CHECK(MaskedSchedule::make("linear", 1e-4, 1).alpha(0.25) == doctest::Approx((1 - 2e-4) * 0.75 + 1e-4));
  CHECK(MaskedSchedule::make("cosine", 1e-4, 1).alpha(0.5) == doctest::Approx((1 - 2e-4) * (1 - std::cos(std::numbers::pi / 4)) + 1e-4));
}

TEST_CASE("a bad schedule name, eps <= 0 or a bad exponent is refused naming the --set key") {
  CHECK_THROWS_WITH_AS(MaskedSchedule::make("cosin", 1e-4, 1), doctest::Contains("diffusion.schedule"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(MaskedSchedule::make("linear", 0.0, 1), doctest::Contains("diffusion.eps"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(MaskedSchedule::make("linear", -1e-3, 1), doctest::Contains("diffusion.eps"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(MaskedSchedule::make("polynomial", 1e-4, 0), doctest::Contains("diffusion.exponent"), std::invalid_argument);
}

TEST_CASE("at finite T the masked bound's terms are D3PM absorbing's L_{t-1} with abar_t = 1 - t/T, to 1e-9 in double") {
  // The masked process with a linear alpha and a vanishing eps is the D3PM absorbing chain with
  // beta_t = 1/(T - t + 1); each term is compared for the same x0, x_t and network logits.
  for (int64_t T : {10, 1000}) {
    CAPTURE(T);
    D3pmConfig c;  // absorbing, the jsd schedule, 27 characters + the mask
    c.timesteps = T;
    const D3pm d3pm(c);
    const MaskedDiffusion masked(MaskedSchedule::make("linear", 1e-15, 1), V);
    constexpr int64_t B = 4, L = 16;
    Philox rng(T);
    for (int64_t i : {int64_t{1}, int64_t{2}, T / 2, T - 1, T}) {
      CAPTURE(i);
      const Tensor x0 = random_tokens(B, L, static_cast<uint64_t>(i));
      const Tensor t_batch = D3pm::t_tensor(B, i);
      const Tensor x_t = d3pm.q_sample(x0, t_batch, rng);
      const Tensor logits = randn({B, L, V}, rng, DType::F64);
      // D3PM's network has a 28th logit, the mask's, which the diffusion forces to -inf.
      const Tensor d3pm_logits = concat({logits, Tensor::zeros({B, L, 1}, DType::F64)}, 2);
      const Tensor vb = d3pm.vb_terms_f64(d3pm_logits, x0, x_t, t_batch).contiguous();
      const Tensor ce = masked.masked_cross_entropy(logits, x0, x_t).contiguous();
      const double w = masked.discrete_weight(i, T);
      for (int64_t b = 0; b < B; ++b) CHECK(w * ce.data<double>()[b] == doctest::Approx(vb.data<double>()[b]).epsilon(1e-9));
    }
    // The prior term: abar_T = 0, all mask, nothing to pay; the masked bound's is L alpha_1 log 27 = O(eps).
    CHECK(d3pm.prior_kl(random_tokens(1, 16, 9), DType::F64).item() == doctest::Approx(0.0));
    CHECK(masked.prior_nats(16) < 1e-12);
  }
}

TEST_CASE("the bound of a predictor giving 1/27 to every character is log2 27 bits/char at every schedule") {
  constexpr int64_t B = 1000, L = 8, rounds = 20;
  for (const char* name : kSchedules) {
    CAPTURE(name);
    const MaskedDiffusion masked(schedule_named(name), V);
    Philox rng(42);
    double sum = 0, sum_sq = 0;
    for (int64_t r = 0; r < rounds; ++r) {
      const Tensor x0 = random_tokens(B, L, 100 + static_cast<uint64_t>(r));
      const Tensor t = MaskedDiffusion::sample_t(B, rng);
      const Tensor x_t = masked.q_sample(x0, t, rng);
      const Tensor per = masked.loss_from_logits(Tensor::zeros({B, L, V}, DType::F64), x0, x_t, t).per_example.contiguous();
      for (int64_t b = 0; b < B; ++b) {
        const double bits = (per.data<double>()[b] + masked.prior_nats(L) + masked.reconstruction_nats(L)) / (L * std::numbers::ln2);
        sum += bits;
        sum_sq += bits * bits;
      }
    }
    const double n = B * rounds, mean = sum / n, se = std::sqrt((sum_sq / n - mean * mean) / n);
    CHECK(std::abs(mean - std::log2(27.0)) < 4 * se + 1e-3);
    CHECK(se < 0.05);
  }
}

TEST_CASE("the low-discrepancy draw puts exactly B/10 of the t in each tenth of [0, 1), from a random start") {
  Philox rng(7);
  const Tensor t1 = MaskedDiffusion::sample_t(1000, rng), t2 = MaskedDiffusion::sample_t(1000, rng);
  int64_t bins[10] = {};
  for (int64_t i = 0; i < 1000; ++i) {
    const double t = t1.data<double>()[i];
    REQUIRE(t >= 0.0);
    REQUIRE(t < 1.0);
    ++bins[static_cast<int>(t * 10)];
  }
  for (int64_t c : bins) CHECK(c == 100);
  CHECK(t1.data<double>()[0] != t2.data<double>()[0]);  // a new start per batch
  // The points are evenly spaced by 1/B around the circle.
  for (int64_t i = 1; i < 1000; ++i)
    CHECK(std::fmod(t1.data<double>()[i] - t1.data<double>()[i - 1] + 1.0, 1.0) == doctest::Approx(0.001).epsilon(1e-9));
}

TEST_CASE("the one-t estimate of the continuous-time bound agrees with the exact finite-T bound at T = 1000 of a tiny network") {
  // Sequences of L = 4 have 16 mask patterns: the exact finite-T bound sums, for each of the T terms, the
  // masked cross-entropy of every pattern weighted by its probability under q. The continuous bound is
  // below it by O(1/T), far less than the estimate's standard error here.
  TinyNetwork tiny;
  const MaskedX0Model model = tiny.model();
  const MaskedDiffusion masked(MaskedSchedule::make("linear", 1e-4, 1), V);
  constexpr int64_t L = 4, T = 1000;
  const Tensor x0 = random_tokens(1, L, 5);
  NoGradGuard no_grad;
  // Every pattern's x_t as one batch: bit n of the pattern masks position n.
  std::vector<int32_t> rows;
  for (int p = 0; p < 16; ++p)
    for (int64_t n = 0; n < L; ++n) rows.push_back((p >> n) & 1 ? masked.mask_id() : x0.data<int32_t>()[n]);
  const Tensor patterns = Tensor::from_vector(rows, {16, L});
  const Tensor x0_rows = concat(std::vector<Tensor>(16, x0), 0);
  const Tensor ce = masked.masked_cross_entropy(model(patterns, MaskedDiffusion::t_tensor(16, 0.5)), x0_rows, patterns).contiguous();
  double exact = masked.prior_nats(L) + masked.reconstruction_nats(L);
  for (int64_t i = 1; i <= T; ++i) {
    const double a = masked.schedule().alpha(static_cast<double>(i) / T);
    double expected = 0;
    for (int p = 0; p < 16; ++p) {
      const int m = __builtin_popcount(static_cast<unsigned>(p));
      expected += std::pow(1 - a, m) * std::pow(a, L - m) * ce.data<double>()[p];
    }
    exact += masked.discrete_weight(i, T) * expected;
  }
  constexpr int64_t B = 2000, rounds = 10;
  Philox rng(11);
  double sum = 0, sum_sq = 0;
  for (int64_t r = 0; r < rounds; ++r) {
    const Tensor x = concat(std::vector<Tensor>(B, x0), 0);
    const Tensor t = MaskedDiffusion::sample_t(B, rng);
    const Tensor x_t = masked.q_sample(x, t, rng);
    const Tensor per = masked.training_loss_at(model, x, t, x_t).per_example.contiguous();
    for (int64_t b = 0; b < B; ++b) {
      const double v = per.data<double>()[b] + masked.prior_nats(L) + masked.reconstruction_nats(L);
      sum += v;
      sum_sq += v * v;
    }
  }
  const double n = B * rounds, mean = sum / n, se = std::sqrt((sum_sq / n - mean * mean) / n);
  MESSAGE("exact finite-T bound " << exact << " nats, one-t estimate " << mean << " +- " << se);
  CHECK(std::abs(mean - exact) < 4 * se);
  CHECK(se < 0.02 * exact);
}

TEST_CASE("sampling that reuses unchanged rows' outputs draws the same samples as recomputing them, with fewer evaluations") {
  TinyNetwork tiny;
  const MaskedDiffusion masked(MaskedSchedule::make("linear", 1e-4, 1), V);
  MaskedSampleOptions options;
  options.steps = 50;
  options.grid = MaskedSamplingGrid::Uniform;
  Philox rng_a(9), rng_b(9);
  const MaskedSampleResult reused = masked.sample(tiny.model(), 3, 8, rng_a, options);
  options.reuse_outputs = false;
  const MaskedSampleResult recomputed = masked.sample(tiny.model(), 3, 8, rng_b, options);
  const std::vector<double> a = reused.x0.to_vector(), b = recomputed.x0.to_vector();
  CHECK(a == b);
  for (double v : a) CHECK(v < V);  // no mask left
  CHECK(recomputed.network_evaluations == 3 * 50);
  CHECK(recomputed.evaluations_saved == 0);
  CHECK(reused.evaluations_saved > 0);
  CHECK(reused.network_evaluations + reused.evaluations_saved == 3 * 50);
  MESSAGE("50 steps of 3 sequences of 8: " << reused.network_evaluations << " evaluations, " << reused.evaluations_saved << " reused");
}

TEST_CASE("given positions (a prefix and an infill) are never masked and never change") {
  TinyNetwork tiny;
  const MaskedDiffusion masked(MaskedSchedule::make("cosine", 1e-4, 1), V);
  MaskedSampleOptions options;
  options.steps = 10;
  options.record_every = 1;
  options.given = Tensor::from_vector(std::vector<int32_t>{3, 4, -1, -1, 7, -1, -1, 26}, {8});
  Philox rng(1);
  const MaskedSampleResult r = masked.sample(tiny.model(), 2, 8, rng, options);
  REQUIRE(r.recorded.size() == 11);
  for (const Tensor& x : r.recorded)
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t n : {0, 1, 4, 7}) CHECK(x.data<int32_t>()[b * 8 + n] == options.given.data<int32_t>()[n]);
  // The forward process leaves them alone too.
  const Tensor x0 = Tensor::from_vector(std::vector<int32_t>{3, 4, 5, 6, 7, 8, 9, 26}, {1, 8});
  const Tensor x_t = masked.q_sample(x0, MaskedDiffusion::t_tensor(1, 0.9999), rng, options.given.view({1, 8}));
  for (int64_t n : {0, 1, 4, 7}) CHECK(x_t.data<int32_t>()[n] == x0.data<int32_t>()[n]);
  for (int64_t n : {2, 3, 5, 6}) CHECK(x_t.data<int32_t>()[n] == masked.mask_id());
}

TEST_CASE("with an oracle for a two-sequence distribution, ancestral sampling draws only those sequences, half each") {
  // Data: "abab" or "baba" with probability 1/2 each. Given x_t, the exact mu(x_t) at a masked
  // position is the character of the sequence the unmasked positions agree with (1/2 each if none).
  constexpr int64_t L = 4;
  auto seq = [](int which, int64_t n) { return static_cast<int32_t>((n + which) % 2); };  // 'a' = 0, 'b' = 1
  const MaskedX0Model oracle = [&](const Tensor& x_t, const Tensor&) {
    const int64_t B = x_t.size(0);
    Tensor logits = Tensor::full({B, L, V}, -1e30, DType::F64);
    for (int64_t b = 0; b < B; ++b) {
      double weight[2] = {1, 1};
      for (int64_t n = 0; n < L; ++n) {
        const int32_t v = x_t.data<int32_t>()[b * L + n];
        if (v == V) continue;
        for (int w = 0; w < 2; ++w)
          if (seq(w, n) != v) weight[w] = 0;
      }
      for (int64_t n = 0; n < L; ++n)
        for (int w = 0; w < 2; ++w)
          if (weight[w] > 0) {
            double& l = logits.data<double>()[(b * L + n) * V + seq(w, n)];
            l = std::log(std::exp(l) + weight[w] / (weight[0] + weight[1]));
          }
    }
    return logits;
  };
  const MaskedDiffusion masked(MaskedSchedule::make("linear", 1e-4, 1), V);
  MaskedSampleOptions options;
  // So fine a grid that two positions almost never unmask in the same step while the sequence is undecided
  // (the only way a factorised step can mix the two sequences: about 0.02 of the 200 samples expected).
  options.steps = 20000;
  options.grid = MaskedSamplingGrid::Uniform;
  Philox rng(3);
  const MaskedSampleResult r = masked.sample(oracle, 200, L, rng, options);
  int counts[2] = {0, 0};
  for (int64_t b = 0; b < 200; ++b) {
    int which = r.x0.data<int32_t>()[b * L] == 0 ? 0 : 1;
    bool valid = true;
    for (int64_t n = 0; n < L; ++n) valid = valid && r.x0.data<int32_t>()[b * L + n] == seq(which, n);
    CHECK(valid);
    ++counts[which];
  }
  CHECK(std::abs(counts[0] - 100) < 30);  // binomial(200, 1/2): sd 7
}

TEST_CASE("a pair's source is never masked at any t, so the loss counts the target's positions only") {
  const MaskedDiffusion masked(MaskedSchedule::make("linear", 1e-4, 1), V);
  // Rows [<bos> x <eos> y <eos>] with ids < V; 1 where given (the source).
  const Tensor x0 = Tensor::from_vector(std::vector<int32_t>{2, 10, 11, 3, 12, 13, 3, 2, 14, 3, 15, 3, 0, 0}, {2, 7});
  const std::vector<int32_t> mask = {1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0};
  std::vector<int32_t> given_ids(mask.size());
  for (size_t i = 0; i < mask.size(); ++i) given_ids[i] = mask[i] ? x0.data<int32_t>()[i] : -1;
  const Tensor given = Tensor::from_vector(given_ids, {2, 7});
  Philox rng(3);
  int64_t target_masked = 0;
  for (double t : {0.0, 0.3, 0.7, 0.999, 1.0}) {
    const Tensor x_t = masked.q_sample(x0, MaskedDiffusion::t_tensor(2, t), rng, given);
    for (size_t i = 0; i < mask.size(); ++i) {
      if (mask[i]) CHECK(x_t.data<int32_t>()[i] == x0.data<int32_t>()[i]);
      else target_masked += x_t.data<int32_t>()[i] == masked.mask_id();
    }
    // The cross-entropy does not look at the logits of the source's positions.
    Philox lr(4);
    Tensor logits = randn({2, 7, V}, lr);
    const Tensor ce = masked.masked_cross_entropy(logits, x0, x_t);
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t n = 0; n < 7; ++n)
        if (mask[static_cast<size_t>(b * 7 + n)])
          for (int64_t v = 0; v < V; ++v) logits.data<float>()[(b * 7 + n) * V + v] += 100.0f * static_cast<float>(v % 3);
    CHECK(masked.masked_cross_entropy(logits, x0, x_t).to_vector() == ce.to_vector());
  }
  CHECK(target_masked >= 7);  // at t = 1 every target position is masked
}

// The draw every text sampler makes (diffusion/token_draw.hpp) against float64 brute force: at 1000 values of u,
// the first j whose cumulative probability of softmax(l / temperature) exceeds u, skipping the u within 1e-5 of a
// boundary (float32's exp moves them by about 1e-7); its log-probability to 1e-5; a -inf logit never drawn.
TEST_CASE("a token drawn from a row of logits is float64's inverse CDF, with its log-probability") {
  Philox rng(5);
  std::vector<float> scratch;
  for (int64_t K : {1, 5, 37})
    for (double temperature : {1.0, 0.5}) {
      CAPTURE(K);
      CAPTURE(temperature);
      const Tensor drawn = randn({K}, rng);
      std::vector<float> l(drawn.data<float>(), drawn.data<float>() + K);
      for (float& v : l) v *= 3.0f;
      if (K > 1) l[1] = -std::numeric_limits<float>::infinity();
      double m = -1e300, z = 0;
      for (float v : l) m = std::max(m, static_cast<double>(v));
      std::vector<double> p(static_cast<size_t>(K)), cumulative(static_cast<size_t>(K));
      for (int64_t j = 0; j < K; ++j) z += p[static_cast<size_t>(j)] = std::exp((l[static_cast<size_t>(j)] - m) / temperature);
      double c = 0;
      for (int64_t j = 0; j < K; ++j) cumulative[static_cast<size_t>(j)] = c += p[static_cast<size_t>(j)] /= z;
      int checked = 0;
      for (int i = 0; i < 1000; ++i) {
        const double u = (i + 0.5) / 1000.0;
        int64_t brute = K - 1;
        bool near_boundary = false;
        for (int64_t j = 0; j < K; ++j) near_boundary |= std::abs(u - cumulative[static_cast<size_t>(j)]) < 1e-5;
        for (int64_t j = 0; j < K; ++j)
          if (u < cumulative[static_cast<size_t>(j)]) {
            brute = j;
            break;
          }
        if (near_boundary) continue;
        const TokenDraw d = draw_token(l.data(), K, u, scratch, temperature);
        CHECK(d.token == brute);
        CHECK(d.token != (K > 1 ? 1 : -1));
        CHECK(d.log_prob == doctest::Approx(std::log(p[static_cast<size_t>(brute)])).epsilon(1e-5));
        ++checked;
      }
      CHECK(checked > 950);
      const TokenDraw best = most_probable_token(l.data(), K, scratch);
      const int64_t argmax = std::max_element(l.begin(), l.end()) - l.begin();
      CHECK(best.token == argmax);
      if (temperature == 1.0) CHECK(best.log_prob == doctest::Approx(std::log(p[static_cast<size_t>(argmax)])).epsilon(1e-5));
    }
}
