// Diffusion-LM's Gaussian diffusion on embeddings (diffusion/embedding_diffusion.hpp): the sqrt schedule's
// closed form against the product of its alphas, the gradients of L_e2e (the rounding term's included)
// through the harness, clean positions (partial noising), decoding with clamping that returns the input
// exactly, the one-t estimate of the bound against its every-t sum, the respaced chain, the word posterior
// q(w | x_t) against Bayes' rule and calibrated on the process's draws (with its gradients), and a tiny
// end-to-end training whose embeddings do not collapse.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <numbers>
#include <utility>

#include "diffusion/embedding_diffusion.hpp"
#include "diffusion/gaussian_diffusion.hpp"
#include "gradcheck.hpp"
#include "nn/arena.hpp"
#include "nn/optim.hpp"
#include "nn/embedding_transformer.hpp"
#include "tensor/autograd.hpp"
#include "tensor/ops.hpp"

using namespace diffuse;
using namespace diffuse::diffusion;
using namespace diffuse::testing;

namespace {

DiffusionSchedule sqrt_schedule(int64_t T) {
  BetaScheduleConfig c;
  c.kind = BetaScheduleKind::Sqrt;
  c.timesteps = T;
  return make_schedule(c);
}

Tensor ids(const std::vector<int32_t>& v, int64_t B, int64_t L) { return Tensor::from_vector(v, {B, L}); }

// Embeddings far apart: row v is `scale` e_v in d = V dimensions.
Tensor one_hot_embedding(int64_t V, double scale) {
  Tensor e = Tensor::zeros({V, V});
  for (int64_t v = 0; v < V; ++v) e.data<float>()[v * V + v] = static_cast<float>(scale);
  return e;
}

}  // namespace

TEST_CASE("the sqrt schedule: the product of the alphas is (1 - sqrt(t/T + s)) / (1 - sqrt(s)) until the last step's clip") {
  for (int64_t T : {10, 2000}) {
    CAPTURE(T);
    const DiffusionSchedule s = sqrt_schedule(T);
    double product = 1.0;
    for (int64_t t = 1; t <= T; ++t) {
      product *= 1.0 - s.betas[t - 1];  // brute force, step by step
      CHECK(s.alphas_cumprod[t - 1] == doctest::Approx(product).epsilon(1e-13));
      if (t < T) {
        const double closed = (1.0 - std::sqrt(static_cast<double>(t) / T + 1e-4)) / (1.0 - std::sqrt(1e-4));
        CHECK(product == doctest::Approx(closed).epsilon(1e-12));
      }
    }
    // abar(1) = 1 - sqrt(1 + s) < 0: the last beta is the clip, 0.999.
    CHECK(s.betas[T - 1] == 0.999);
  }
  // sigma0 = sqrt(1 - abar_1), the reference code's std of q(x0 | w).
  const EmbeddingDiffusion diffusion(sqrt_schedule(2000));
  CHECK(diffusion.sigma0() == doctest::Approx(std::sqrt(1.0 - (1.0 - std::sqrt(1.0 / 2000 + 1e-4)) / 0.99)).epsilon(1e-12));
  CHECK_THROWS_WITH_AS(parse_beta_schedule("sqrtt"), doctest::Contains("sqrt"), std::invalid_argument);
}

TEST_CASE("L_e2e: gradients of every part in the embedding and the network (the rounding term's included), float64") {
  const EmbeddingDiffusion diffusion(sqrt_schedule(20));
  const int64_t B = 3, L = 4, V = 5, d = 3;
  const Tensor w = ids({0, 1, 2, 3, 4, 0, 1, 1, 2, 3, 3, 4}, B, L);
  const Tensor noise0 = random_input({B, L, d}, 11);
  const Tensor noise = random_input({B, L, d}, 12);
  const Tensor clean = ids({0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0}, B, L);
  for (int32_t first_step : {0, 7}) {  // t = 1 (the EMB(w) target) and t = 8
    CAPTURE(first_step);
    const Tensor step = Tensor::from_vector(std::vector<int32_t>{first_step, 19, 3}, {B});
    // The network: f(x_t) = x_t a + c, a [d, d] and c [d] under test too.
    auto loss_part = [&](int part, bool with_clean) {
      return [&, part, with_clean](const std::vector<Tensor>& in) {
        const EmbeddingX0Model model = [&](const Tensor& x_t, const Tensor&) { return matmul(x_t, in[1]) + in[2]; };
        const EmbeddingLoss l = diffusion.training_loss(model, in[0], w, step, noise0, noise, with_clean ? clean : Tensor());
        return part == 0 ? l.mse : part == 1 ? l.prior : part == 2 ? l.rounding : l.loss;
      };
    };
    for (int part = 0; part < 4; ++part)
      for (bool with_clean : {false, true}) {
        CAPTURE(part);
        CAPTURE(with_clean);
        CHECK_GRADIENTS(loss_part(part, with_clean), {random_input({V, d}, 13), random_input({d, d}, 14, 0.5), random_input({d}, 15)});
      }
  }
}

TEST_CASE("clean positions are x0 at every t, and the loss does not look at the network's output there") {
  const EmbeddingDiffusion diffusion(sqrt_schedule(50));
  const int64_t B = 2, L = 3, d = 4;
  const Tensor x0 = random_input({B, L, d}, 1).to(DType::F32);
  const Tensor noise = random_input({B, L, d}, 2).to(DType::F32);
  const Tensor clean = ids({1, 0, 0, 0, 0, 1}, B, L);
  const Tensor step = Tensor::from_vector(std::vector<int32_t>{49, 10}, {B});
  const Tensor x_t = diffusion.q_sample(x0, step, noise, clean);
  CHECK(max_abs_diff(x_t.narrow(0, 0, 1).narrow(1, 0, 1), x0.narrow(0, 0, 1).narrow(1, 0, 1)) == 0.0);
  CHECK(max_abs_diff(x_t.narrow(0, 1, 1).narrow(1, 2, 1), x0.narrow(0, 1, 1).narrow(1, 2, 1)) == 0.0);
  CHECK(max_abs_diff(x_t.narrow(0, 0, 1).narrow(1, 1, 1), x0.narrow(0, 0, 1).narrow(1, 1, 1)) > 0.1);

  const Tensor emb = random_input({6, d}, 3).to(DType::F32);
  const Tensor w = ids({5, 1, 2, 3, 4, 0}, B, L);
  const Tensor n0 = random_input({B, L, d}, 4).to(DType::F32);
  const Tensor bump = Tensor::from_vector(std::vector<float>{100, 0, 0, 0, 0, 100}, {B, L, 1});
  const EmbeddingX0Model plain = [](const Tensor& x, const Tensor&) { return x * 0.5; };
  const EmbeddingX0Model bumped = [&](const Tensor& x, const Tensor&) { return x * 0.5 + bump; };  // off only where clean
  const EmbeddingLoss a = diffusion.training_loss(plain, emb, w, step, n0, noise, clean);
  const EmbeddingLoss b = diffusion.training_loss(bumped, emb, w, step, n0, noise, clean);
  CHECK(max_abs_diff(a.mse, b.mse) < 1e-6);
  CHECK(max_abs_diff(a.loss, b.loss) < 1e-6);
  // Without the mask the bump counts.
  CHECK(max_abs_diff(diffusion.training_loss(plain, emb, w, step, n0, noise).mse,
                     diffusion.training_loss(bumped, emb, w, step, n0, noise).mse) > 100);
}

TEST_CASE("partial noising (DiffuSeq): the source's embeddings are bit-identical after q_sample at every t, and the loss's "
          "gradient in the source part of x_t and of the prediction is zero") {
  const int64_t T = 50, B = 2, L = 6, V = 7, d = 3;
  const EmbeddingDiffusion diffusion(sqrt_schedule(T));
  // Pair rows [<bos> x <eos> y <eos> <pad>]: sources of 2 and 1 tokens (given: 4 and 3 positions).
  const Tensor w = ids({2, 4, 5, 3, 6, 3, 2, 5, 3, 4, 6, 3}, B, L);
  const Tensor clean = ids({1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0}, B, L);
  const Tensor emb = random_input({V, d}, 21);
  const Tensor noise0 = random_input({B, L, d}, 22), noise = random_input({B, L, d}, 23);
  const Tensor x0 = diffusion.embed(emb, w, noise0);
  for (int64_t step = 0; step < T; ++step) {
    const Tensor x_t = diffusion.q_sample(x0, diffusion::step_tensor(B, step), noise, clean).contiguous();
    const Tensor x0c = x0.contiguous();
    for (int64_t b = 0; b < B; ++b)
      for (int64_t n = 0; n < L; ++n)
        if (clean.data<int32_t>()[b * L + n] == 1)
          for (int64_t k = 0; k < d; ++k) {
            const int64_t i = (b * L + n) * d + k;
            CHECK(std::memcmp(x_t.data<double>() + i, x0c.data<double>() + i, sizeof(double)) == 0);
          }
  }
  // A network that works position by position, f(x_t) = (x_t + p_in) A + c + p_out, with probes p_in and p_out
  // of zeros: the gradient in p_in is the loss's gradient in the network's input x_t, in p_out its gradient in
  // the prediction. Neither is anything but zero at a given position, at the t = 1 target and any other t.
  for (int32_t first : {0, 30}) {
    CAPTURE(first);
    Tensor p_in = Tensor::zeros({B, L, d}, DType::F64).set_requires_grad();
    Tensor p_out = Tensor::zeros({B, L, d}, DType::F64).set_requires_grad();
    const Tensor a = random_input({d, d}, 24, 0.5), c = random_input({d}, 25);
    const EmbeddingX0Model model = [&](const Tensor& x_t, const Tensor&) { return matmul(x_t + p_in, a) + c + p_out; };
    const Tensor step = Tensor::from_vector(std::vector<int32_t>{first, 17}, {B});
    diffusion.training_loss(model, emb, w, step, noise0, noise, clean).loss.backward();
    const Tensor g_in = p_in.grad().contiguous(), g_out = p_out.grad().contiguous();
    double target_gradient = 0;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t n = 0; n < L; ++n)
        for (int64_t k = 0; k < d; ++k) {
          const int64_t i = (b * L + n) * d + k;
          if (clean.data<int32_t>()[b * L + n] == 1) {
            CHECK(g_in.data<double>()[i] == 0.0);
            CHECK(g_out.data<double>()[i] == 0.0);
          } else {
            target_gradient += std::abs(g_out.data<double>()[i]);
          }
        }
    CHECK(target_gradient > 1e-3);  // the target's positions do carry the loss
  }
}

TEST_CASE("embeddings far apart and a perfect x0 predictor: decoding with clamping returns the words exactly") {
  const int64_t V = 7, L = 5, B = 3;
  const Tensor emb = one_hot_embedding(V, 3.0);
  const Tensor truth = ids({1, 2, 3, 4, 5, 6, 0, 6, 0, 1, 2, 2, 2, 5, 4}, B, L);
  const EmbeddingDiffusion diffusion(sqrt_schedule(200));
  // The perfect predictor knows x0 = EMB(truth); an imperfect one adds noise well inside the rows' spacing.
  Philox noise_rng(9);
  const EmbeddingX0Model perfect = [&](const Tensor&, const Tensor&) { return embedding(emb, truth); };
  const EmbeddingX0Model noisy = [&](const Tensor&, const Tensor&) {
    return embedding(emb, truth) + randn({B, L, V}, noise_rng) * 0.3;
  };
  for (int64_t steps : {0, 20}) {
    CAPTURE(steps);
    Philox rng(1);
    EmbeddingSampleOptions options;
    options.steps = steps;
    const EmbeddingSampleResult r = diffusion.sample(perfect, emb, B, L, rng, options);
    CHECK(r.words.to_vector() == truth.to_vector());
    CHECK(r.network_evaluations == (steps > 0 ? steps : 200));
    // With clamping the noisy predictor's last step lands on EMB(truth) exactly; without, it stays off by the noise.
    Philox rng2(2);
    const EmbeddingSampleResult n = diffusion.sample(noisy, emb, B, L, rng2, options);
    CHECK(max_abs_diff(n.x0, embedding(emb, truth)) == 0.0);
    CHECK(n.words.to_vector() == truth.to_vector());
    options.clamp = false;
    Philox rng3(2);
    CHECK(max_abs_diff(diffusion.sample(noisy, emb, B, L, rng3, options).x0, embedding(emb, truth)) > 0.1);
  }
  // Given positions are held: the template's words come back whatever the network says.
  Philox rng(3);
  EmbeddingSampleOptions options;
  options.steps = 10;
  options.given = Tensor::from_vector(std::vector<int32_t>{-1, 4, -1, -1, 0}, {L});
  const EmbeddingX0Model zero = [&](const Tensor& x, const Tensor&) { return x * 0.0; };
  const Tensor words = diffusion.sample(zero, emb, B, L, rng, options).words;
  for (int64_t b = 0; b < B; ++b) {
    CHECK(words.data<int32_t>()[b * L + 1] == 4);
    CHECK(words.data<int32_t>()[b * L + 4] == 0);
  }
}

TEST_CASE("nearest_words is the Euclidean nearest row; the respaced chain keeps abar at the visited steps") {
  const Tensor emb = Tensor::from_vector(std::vector<float>{0, 0, 10, 0, 0, 10, 3, 3}, {4, 2});
  const Tensor x = Tensor::from_vector(std::vector<float>{9, 1, 1, -1, 2, 2.5f, 0.4f, 8}, {1, 4, 2});
  CHECK(EmbeddingDiffusion::nearest_words(x, emb).to_vector() == std::vector<double>{1, 0, 3, 2});
  // 2,400 positions: three blocks of the search (1024 at a time), the last one short; against brute force.
  Philox rng(8);
  const Tensor e = randn({37, 8}, rng), xs = randn({3, 800, 8}, rng) * 2.0;
  const std::vector<double> ids = EmbeddingDiffusion::nearest_words(xs, e).to_vector();
  REQUIRE(ids.size() == 2400);
  const std::vector<double> ev = e.to_vector(), xv = xs.to_vector();
  for (int64_t i = 0; i < 2400; ++i) {
    double best = 1e300;
    int64_t arg = 0;
    for (int64_t v = 0; v < 37; ++v) {
      double d2 = 0;
      for (int64_t k = 0; k < 8; ++k) d2 += (xv[static_cast<size_t>(i * 8 + k)] - ev[static_cast<size_t>(v * 8 + k)]) * (xv[static_cast<size_t>(i * 8 + k)] - ev[static_cast<size_t>(v * 8 + k)]);
      if (d2 < best) best = d2, arg = v;
    }
    CHECK(ids[static_cast<size_t>(i)] == static_cast<double>(arg));
  }

  CHECK(EmbeddingDiffusion::respaced_steps(10, 10) == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  CHECK(EmbeddingDiffusion::respaced_steps(2000, 4) == std::vector<int64_t>{0, 666, 1333, 1999});
  CHECK_THROWS_WITH_AS(EmbeddingDiffusion::respaced_steps(10, 11), doctest::Contains("--steps"), std::invalid_argument);
}

// The calibration gap of posteriors P [N, V] against the words w that drew them: the mean over draws of
// P[n, w_n] - sum_w P[n, w]^2, zero in expectation for the true posterior (both are E[sum_w q(w | x)^2]),
// and its standard error.
static std::pair<double, double> calibration_gap(const std::vector<double>& P, const std::vector<int32_t>& w, int64_t V) {
  const int64_t N = static_cast<int64_t>(w.size());
  double sum = 0, sum_sq = 0;
  for (int64_t n = 0; n < N; ++n) {
    double sq = 0;
    for (int64_t v = 0; v < V; ++v) sq += P[static_cast<size_t>(n * V + v)] * P[static_cast<size_t>(n * V + v)];
    const double g = P[static_cast<size_t>(n * V + w[static_cast<size_t>(n)])] - sq;
    sum += g, sum_sq += g * g;
  }
  const double mean = sum / N;
  return {mean, std::sqrt((sum_sq / N - mean * mean) / N)};
}

TEST_CASE("the word posterior q(w | x_t) is Bayes' rule: against the densities word by word, and calibrated on the process's own draws") {
  const int64_t T = 20, V = 4, d = 2;
  const EmbeddingDiffusion diffusion(sqrt_schedule(T));
  const std::vector<double>& abar = diffusion.schedule().alphas_cumprod;
  const double s0 = diffusion.sigma0();
  const Tensor emb = Tensor::from_vector(std::vector<double>{1.0, 0.2, -0.7, 0.9, -0.4, -1.1, 0.3, -0.2}, {V, d});
  // 1. Against log N(x_t; sqrt(abar_t) EMB_w, v_t I) in double, normalised over w by hand, at t = 1, 8 and T.
  const int64_t B = 3, L = 2;
  const Tensor x = random_input({B, L, d}, 31, 1.5);
  const Tensor step = Tensor::from_vector(std::vector<int32_t>{0, 7, 19}, {B});
  const std::vector<double> q = softmax(diffusion.word_posterior_logits(x, step, emb), 2).to_vector();
  const std::vector<double> xv = x.to_vector(), ev = emb.to_vector();
  for (int64_t b = 0; b < B; ++b) {
    const double a = abar[static_cast<size_t>(std::vector<int>{0, 7, 19}[static_cast<size_t>(b)])], v = 1 - a + a * s0 * s0;
    for (int64_t i = 0; i < L; ++i) {
      std::vector<double> density(V);
      double total = 0;
      for (int64_t w = 0; w < V; ++w) {
        double d2 = 0;
        for (int64_t k = 0; k < d; ++k) {
          const double r = xv[static_cast<size_t>((b * L + i) * d + k)] - std::sqrt(a) * ev[static_cast<size_t>(w * d + k)];
          d2 += r * r;
        }
        density[w] = std::exp(-d2 / (2 * v)) / std::pow(2 * std::numbers::pi * v, d / 2.0);
        total += density[w];
      }
      for (int64_t w = 0; w < V; ++w) CHECK(q[static_cast<size_t>((b * L + i) * V + w)] == doctest::Approx(density[w] / total).epsilon(1e-12));
    }
  }
  // 2. Calibration at t = 1, where x0's own noise sigma0 doubles the variance: words drawn uniformly, x0 and
  //    x_t drawn by embed and q_sample. The posterior with v_t leaves no gap; one that forgets sigma0
  //    (v_t = 1 - abar_t: too sure) leaves one many standard errors wide.
  const int64_t N = 200000;
  Philox rng(41);
  std::vector<int32_t> words(N);
  for (int64_t n = 0; n < N; ++n) words[static_cast<size_t>(n)] = static_cast<int32_t>(rng.uniform() * V) % V;
  const Tensor w = Tensor::from_vector(words, {N, 1});
  const Tensor at_1 = Tensor::from_vector(std::vector<int32_t>(N, 0), {N});
  const Tensor x0 = diffusion.embed(emb, w, randn({N, 1, d}, rng).to(DType::F64));
  const Tensor x1 = diffusion.q_sample(x0, at_1, randn({N, 1, d}, rng).to(DType::F64));
  const auto [gap, se] = calibration_gap(softmax(diffusion.word_posterior_logits(x1, at_1, emb), 2).to_vector(), words, V);
  CHECK(std::abs(gap) < 3 * se);
  const double a = abar[0];
  const Tensor overconfident = (matmul(x1, emb.transpose(0, 1)) * std::sqrt(a) - sum(square(emb), {1}).view({1, 1, V}) * (a / 2)) * (1 / (1 - a));
  const auto [wrong_gap, wrong_se] = calibration_gap(softmax(overconfident, 2).to_vector(), words, V);
  CHECK(std::abs(wrong_gap) > 10 * wrong_se);
  MESSAGE("calibration gap at t = 1: " << gap << " +- " << se << "; forgetting sigma0: " << wrong_gap << " +- " << wrong_se);
}

TEST_CASE("the word posterior's gradients in x_t and in the embedding, float64") {
  const EmbeddingDiffusion diffusion(sqrt_schedule(20));
  const Tensor step = Tensor::from_vector(std::vector<int32_t>{0, 11}, {2});
  CHECK_GRADIENTS([&](const std::vector<Tensor>& in) { return softmax(diffusion.word_posterior_logits(in[0], step, in[1]), 2); },
                  {random_input({2, 3, 4}, 51), random_input({5, 4}, 52)}, kFourPoint);
}

TEST_CASE("word presence is the noisy-OR of the positions: against enumerating every sequence, in float and float64") {
  // B = 2 sequences of L = 3 positions over V = 4 words, each position its own distribution (one of them sure of
  // word 2, as a position at t near 0 is). P(w in x) sums prod_i q_i(x_i) over the V^L sequences that hold w.
  const int64_t B = 2, L = 3, V = 4;
  const std::vector<double> q = {0.7,  0.1,  0.1, 0.1,  0.25, 0.25, 0.25, 0.25, 1e-9, 0.2, 0.3, 0.5 - 1e-9,
                                 1e-12, 0.0,  1.0, 0.0,  0.4,  0.3,  0.2,  0.1,  0.05, 0.05, 0.8, 0.1};
  for (const DType dtype : {DType::F64, DType::F32}) {
    const std::vector<double> z = EmbeddingDiffusion::word_presence_logits(Tensor::from_vector(q, {B, L, V}).to(dtype)).to_vector();
    for (int64_t b = 0; b < B; ++b)
      for (int64_t w = 0; w < V; ++w) {
        double present = 0;
        for (int64_t n = 0; n < V * V * V; ++n) {
          const int64_t x[3] = {n % V, n / V % V, n / (V * V)};
          double p = 1;
          for (int64_t i = 0; i < L; ++i) p *= q[static_cast<size_t>((b * L + i) * V + x[i])];
          if (x[0] == w || x[1] == w || x[2] == w) present += p;
        }
        const double got = z[static_cast<size_t>(b * V + w)];
        if (b == 1 && w == 2) {  // a sure position: the logit of 1 - (1 - 1e-6) prod(...), about 13.8 + log(1/(...))
          CHECK(got > 13.0);
          continue;
        }
        const double want = std::log(present) - std::log1p(-present);
        CHECK(got == doctest::Approx(want).epsilon(dtype == DType::F64 ? 1e-9 : 1e-5));
      }
  }
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) { return EmbeddingDiffusion::word_presence_logits(softmax(in[0], 2)); },
                  {random_input({2, 3, 5}, 61)}, kFourPoint);
}

TEST_CASE("the bound: its one-t estimate L_T + T L_{t-1} agrees with the sum of all T terms, and it is positive") {
  const int64_t T = 16, B = 64, L = 3, V = 5, d = 2;
  const EmbeddingDiffusion diffusion(sqrt_schedule(T));
  Philox rng(21);
  const Tensor emb = randn({V, d}, rng);
  const Tensor w = randint({B, L}, 0, V, rng);
  // A fixed network that is neither perfect nor useless.
  const EmbeddingX0Model model = [](const Tensor& x, const Tensor&) { return tanh(x) * 0.8; };
  // Exact: every t for each example, averaged over 8 draws of the noise.
  double exact = 0;
  const int draws = 8;
  for (int k = 0; k < draws; ++k) {
    const Tensor n0 = randn({B, L, d}, rng);
    double total = 0;
    for (int64_t s = 0; s < T; ++s) {
      const EmbeddingBoundTerms terms = diffusion.bound_terms(model, emb, w, step_tensor(B, s), n0, randn({B, L, d}, rng));
      total += sum(terms.term).item();
      if (s == 0) total += sum(terms.prior).item();
    }
    exact += total / B / draws;
  }
  // The estimate: one t per example, uniform.
  double mean_estimate = 0, mean_square = 0;
  const int rounds = 40;
  for (int k = 0; k < rounds; ++k) {
    const EmbeddingBoundTerms terms =
        diffusion.bound_terms(model, emb, w, sample_steps(B, T, rng), randn({B, L, d}, rng), randn({B, L, d}, rng));
    for (double v : (terms.prior + terms.term * static_cast<double>(T)).to_vector()) {
      mean_estimate += v;
      mean_square += v * v;
    }
  }
  const double n = static_cast<double>(B) * rounds;
  mean_estimate /= n;
  const double standard_error = std::sqrt((mean_square / n - mean_estimate * mean_estimate) / n);
  MESSAGE("every-t sum " << exact << " nats/sequence; one-t estimate " << mean_estimate << " +- " << standard_error);
  CHECK(std::abs(mean_estimate - exact) < 4 * standard_error + 0.02 * std::abs(exact));
  CHECK(exact > 0);
}

TEST_CASE("a tiny Diffusion-LM trains end to end: the loss falls and the embeddings stay apart") {
  // Four 'sentences' of six words over a vocabulary of 8; d = 4; the transformer reads vectors.
  const int64_t V = 8, L = 6, d = 4, B = 8;
  const std::vector<int32_t> corpus = {1, 2, 3, 4, 5, 0, 1, 6, 7, 4, 5, 0, 2, 3, 2, 3, 0, 0, 6, 7, 6, 7, 1, 0};
  Philox rng(31);
  nn::TransformerConfig c{.in_states = V, .out_states = d, .seq_len = L, .width = 32, .layers = 1, .heads = 2, .mlp = 64,
                          .input_dim = d};
  nn::EmbeddingTransformer net(c, rng);
  nn::ParameterArena arena(net);
  nn::Adam adam(arena, {});
  const Tensor& emb = net.embedding();
  const EmbeddingDiffusion diffusion(sqrt_schedule(100));
  auto mean_pairwise_distance = [&] {
    double total = 0;
    int pairs = 0;
    const std::vector<double> e = emb.to_vector();
    for (int64_t a = 0; a < V; ++a)
      for (int64_t b = a + 1; b < V; ++b, ++pairs) {
        double s = 0;
        for (int64_t k = 0; k < d; ++k) s += (e[a * d + k] - e[b * d + k]) * (e[a * d + k] - e[b * d + k]);
        total += std::sqrt(s);
      }
    return total / pairs;
  };
  const double distance_before = mean_pairwise_distance();
  const EmbeddingX0Model model = [&](const Tensor& x_t, const Tensor& step) { return net.forward(x_t, step, rng); };
  double first = 0, last = 0;
  const int steps = 300;
  for (int i = 0; i < steps; ++i) {
    std::vector<int32_t> rows;
    for (int64_t b = 0; b < B; ++b) {
      const int64_t r = static_cast<int64_t>(rng.uniform() * 4);
      rows.insert(rows.end(), corpus.begin() + r * L, corpus.begin() + (r + 1) * L);
    }
    const Tensor w = ids(rows, B, L);
    const EmbeddingLoss l = diffusion.training_loss(model, emb, w, sample_steps(B, 100, rng), randn({B, L, d}, rng),
                                                    randn({B, L, d}, rng));
    arena.zero_grad();
    l.loss.backward();
    adam.step(3e-3);
    if (i < 30) first += l.loss.item() / 30;
    if (i >= steps - 30) last += l.loss.item() / 30;
  }
  const double distance_after = mean_pairwise_distance();
  MESSAGE("L_e2e " << first << " -> " << last << "; mean pairwise embedding distance " << distance_before << " -> "
                   << distance_after);
  CHECK(last < 0.6 * first);
  CHECK(distance_after > 0.5 * distance_before);
}
