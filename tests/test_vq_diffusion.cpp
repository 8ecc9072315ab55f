// VQ-Diffusion's pieces (docs/math.md §12.3-§12.4): the mask-and-replace kind at VQ-Diffusion's own size (K codes,
// T = 100) through the D3PM kind unit; the truncation trick and classifier-free guidance on ptilde(x0 | x_t) as
// X0Model wrappers (diffusion/guidance.hpp) through the D3PM sampler; the transformer's class token and 2-D positions.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "diffusion/d3pm_diffusion.hpp"
#include "diffusion/d3pm_process.hpp"
#include "diffusion/d3pm_sampler.hpp"
#include "diffusion/d3pm_transitions.hpp"
#include "diffusion/guidance.hpp"
#include "gradcheck.hpp"
#include "nn/transformer.hpp"
#include "tensor/autograd.hpp"
#include "tensor/ops.hpp"

using namespace diffuse;
using namespace diffuse::diffusion;

namespace {

// VQ-Diffusion's process over `codes` codes and the mask: mask-and-replace, the vq schedule, T steps.
D3pmConfig vq_config(int64_t codes, int64_t T) {
  D3pmConfig c;
  c.kind = D3pmKind::MaskReplace;
  c.schedule = D3pmScheduleKind::VqDiffusion;
  c.states = D3pmStates{codes + 1, codes, false};
  c.timesteps = T;
  c.hybrid_lambda = 5e-4;
  return c;
}

// A deterministic stand-in for the network: logits [B, L, K] from x_t, the step and (when given) the labels.
Tensor toy_logits(const Tensor& x_t, const Tensor& step, const Tensor& labels, int64_t K) {
  const int64_t B = x_t.size(0), L = x_t.size(1);
  Tensor z = Tensor::empty({B, L, K});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t l = 0; l < L; ++l)
      for (int64_t k = 0; k < K; ++k) {
        const double c = labels.defined() ? labels.data<int32_t>()[b] : 0;
        z.data<float>()[(b * L + l) * K + k] = static_cast<float>(
            3 * std::sin(1.3 * k + 0.7 * l + 0.1 * x_t.data<int32_t>()[b * L + l] + 0.05 * step.data<int32_t>()[b] + 0.9 * c * k));
      }
  return z;
}

}  // namespace

TEST_CASE("mask-and-replace over K = 32 codes at T = 100 (VQ-Diffusion's): rows sum to 1, beta_t = (1 - alpha_t - gamma_t)/K, "
          "closed forms equal dense products") {
  const int64_t K = 32, T = 100;
  const D3pmProcess p(vq_config(K, T));
  const MaskReplaceSchedule& s = p.mask_replace();
  CHECK(s.abar[1] == doctest::Approx(0.99999).epsilon(1e-12));
  CHECK(s.abar[T] == doctest::Approx(0.000009).epsilon(1e-12));
  CHECK(s.gbar[1] == doctest::Approx(0.000009).epsilon(1e-12));
  CHECK(s.gbar[T] == doctest::Approx(0.99999).epsilon(1e-12));
  DenseMatrix prod = DenseMatrix::identity(K + 1);
  for (int64_t t = 1; t <= T; ++t) {
    INFO("t = " << t);
    const size_t i = static_cast<size_t>(t);
    CHECK(s.beta[i] == doctest::Approx((1 - s.alpha[i] - s.gamma[i]) / K).epsilon(1e-12));
    const DenseMatrix q = p.q_matrix(t);
    for (int64_t r = 0; r <= K; ++r) {
      double row = 0;
      for (int64_t j = 0; j <= K; ++j) row += q(r, j);
      CHECK(row == doctest::Approx(1.0).epsilon(1e-14));
    }
    // Independently from the definition (mask_replace_matrix), multiplied out in double.
    prod = dense_matmul(prod, mask_replace_matrix(p.states(), s.alpha[i], s.beta[i], s.gamma[i]));
    CHECK(max_abs_diff(prod, p.qbar_matrix(t)) < 1e-12);
    for (const int64_t from : {int64_t{0}, int64_t{1}, t / 2, t - 1}) {  // Q_{s+1} ... Q_t, the skipping sampler's
      DenseMatrix part = DenseMatrix::identity(K + 1);
      for (int64_t u = from + 1; u <= t; ++u) part = dense_matmul(part, p.q_matrix(u));
      CHECK(max_abs_diff(part, p.q_product(from, t)) < 1e-12);
    }
  }
}

TEST_CASE("truncation: r = 1 samples what the plain model samples; a small r keeps the argmax alone; r between keeps the "
          "smallest set reaching r") {
  const int64_t codes = 16, K = codes + 1;
  const D3pm d3pm(vq_config(codes, 100));
  const X0Model plain = [&](const Tensor& x_t, const Tensor& step) { return toy_logits(x_t, step, Tensor(), K); };
  for (const int64_t steps : {int64_t{0}, int64_t{25}}) {  // every step, and 25 with skipping
    D3pmSampleOptions o;
    o.steps = steps;
    Philox a(5), b(5);
    const Tensor x0 = d3pm_sample(plain, d3pm, 3, 12, a, o).x0;
    const Tensor x1 = d3pm_sample(truncated_x0(plain, 1.0, codes), d3pm, 3, 12, b, o).x0;
    CHECK(testing::max_abs_diff(x0.to(DType::F64), x1.to(DType::F64)) == 0.0);
  }
  // The function itself on rows of known probabilities (the mask, state 4, never kept).
  const std::vector<double> p = {0.5, 0.2, 0.15, 0.1, 0.05};
  std::vector<double> logp;
  for (const double v : p) logp.push_back(std::log(v) + 1.7);  // any shift: logits, not log-probabilities
  const Tensor z = Tensor::from_vector(logp, {1, 5});
  auto kept = [&](double r, int64_t excluded) {
    const Tensor t = truncate_logits(z, r, excluded);
    std::vector<int64_t> k;
    double mass = 0;
    for (int64_t i = 0; i < 5; ++i)
      if (std::isfinite(t.data<double>()[i])) k.push_back(i), mass += std::exp(t.data<double>()[i]);
    CHECK(mass == doctest::Approx(1.0).epsilon(1e-14));
    return k;
  };
  CHECK(kept(0.01, -1) == std::vector<int64_t>{0});  // the argmax alone
  CHECK(kept(0.5, -1) == std::vector<int64_t>{0});   // 0.5 reaches r = 0.5
  CHECK(kept(0.51, -1) == std::vector<int64_t>{0, 1});
  CHECK(kept(0.86, -1) == std::vector<int64_t>{0, 1, 2, 3});  // 0.85 < 0.86 <= 0.95
  CHECK(kept(1.0, -1) == std::vector<int64_t>{0, 1, 2, 3, 4});
  CHECK(kept(1.0, 4) == std::vector<int64_t>{0, 1, 2, 3});  // the mask excluded, the rest renormalised
  const Tensor renorm = truncate_logits(z, 0.86, -1);
  CHECK(std::exp(renorm.data<double>()[1]) == doctest::Approx(0.2 / 0.95).epsilon(1e-14));
  CHECK_THROWS_WITH_AS(truncate_logits(z, 0.0), doctest::Contains("--truncation"), std::invalid_argument);
  // Sampling at a small r: each step's x0 distribution is the argmax, so sampling equals sampling an argmax model.
  const X0Model argmax_model = [&](const Tensor& x_t, const Tensor& step) {
    const Tensor l = toy_logits(x_t, step, Tensor(), K);
    Tensor out = Tensor::full(l.shape(), -1e30);
    const Tensor best = argmax_last(l.narrow(2, 0, codes).contiguous());
    for (int64_t i = 0; i < best.numel(); ++i) out.data<float>()[i * K + best.data<int32_t>()[i]] = 0;
    return out;
  };
  Philox a(8), b(8);
  const Tensor small = d3pm_sample(truncated_x0(plain, 1e-6, codes), d3pm, 3, 12, a).x0;
  const Tensor greedy = d3pm_sample(argmax_model, d3pm, 3, 12, b).x0;
  CHECK(testing::max_abs_diff(small.to(DType::F64), greedy.to(DType::F64)) == 0.0);
}

TEST_CASE("classifier-free guidance on x0: w = 0 samples what the conditional model samples; w > 0 is Tang et al.'s mix") {
  const int64_t codes = 16, K = codes + 1, null_class = 3;
  const D3pm d3pm(vq_config(codes, 100));
  const ConditionalX0Model cond = [&](const Tensor& x_t, const Tensor& step, const Tensor& labels) {
    return toy_logits(x_t, step, labels, K);
  };
  const Tensor labels = Tensor::from_vector(std::vector<int32_t>{0, 1, 2, 1}, {4});
  const X0Model conditional = [&](const Tensor& x_t, const Tensor& step) { return cond(x_t, step, labels); };
  Philox a(11), b(11);
  const Tensor x0 = d3pm_sample(conditional, d3pm, 4, 10, a).x0;
  const Tensor x1 = d3pm_sample(classifier_free_x0(cond, labels, null_class, 0.0), d3pm, 4, 10, b).x0;
  CHECK(testing::max_abs_diff(x0.to(DType::F64), x1.to(DType::F64)) == 0.0);
  // w = 2 by hand on one position: log p~ = (1 + w) log p(.|c) - w log p(.|null), renormalised.
  Philox r(1);
  const Tensor x_t = randint({4, 10}, 0, K, r), step = Tensor::from_vector(std::vector<int32_t>{5, 5, 5, 5}, {4});
  const Tensor guided = classifier_free_x0(cond, labels, null_class, 2.0)(x_t, step).to(DType::F64).contiguous();
  const Tensor lc = log_softmax(cond(x_t, step, labels)).to(DType::F64).contiguous();
  const Tensor lu = log_softmax(cond(x_t, step, Tensor::full({4}, null_class, DType::I32))).to(DType::F64).contiguous();
  double norm = 0;
  const int64_t at = (1 * 10 + 7) * K;  // sample 1, position 7
  for (int64_t k = 0; k < K; ++k) norm += std::exp(3 * lc.data<double>()[at + k] - 2 * lu.data<double>()[at + k]);
  for (int64_t k = 0; k < K; ++k)
    CHECK(guided.data<double>()[at + k] ==
          doctest::Approx(3 * lc.data<double>()[at + k] - 2 * lu.data<double>()[at + k] - std::log(norm)).epsilon(1e-5));
  Philox c(11);
  const Tensor x2 = d3pm_sample(classifier_free_x0(cond, labels, null_class, 2.0), d3pm, 4, 10, c).x0;
  CHECK(testing::max_abs_diff(x0.to(DType::F64), x2.to(DType::F64)) > 0.0);
}

TEST_CASE("the transformer's class token and 2-D positions: the label moves the logits, the null class is one more label; "
          "row and column embeddings, gradients by finite differences") {
  nn::TransformerConfig c;
  c.in_states = c.out_states = 9;
  c.seq_len = 6;
  c.grid_rows = 2;
  c.grid_cols = 3;
  c.width = 8;
  c.layers = 1;
  c.heads = 2;
  c.mlp = 16;
  c.classes = 4;
  Philox init(1), rng(2);
  nn::Transformer net(c, init);
  bool has_rows = false, has_pos = false, has_class = false;
  for (const auto& [name, t] : net.named_parameters()) {
    has_rows |= name == "row_emb" && t.shape() == Shape{2, 8};
    has_pos |= name == "pos_emb";
    has_class |= name == "class_emb.weight" && t.shape() == Shape{5, 8};
  }
  CHECK(has_rows);
  CHECK_FALSE(has_pos);
  CHECK(has_class);
  Philox r(3);
  const Tensor x = randint({2, 6}, 0, 9, r), step = Tensor::from_vector(std::vector<int32_t>{1, 4}, {2});
  NoGradGuard no_grad;
  const Tensor a = net.forward(x, step, rng, Tensor::from_vector(std::vector<int32_t>{0, 1}, {2}));
  const Tensor b = net.forward(x, step, rng, Tensor::from_vector(std::vector<int32_t>{2, 4}, {2}));  // 4: the null class
  CHECK(a.shape() == Shape{2, 6, 9});
  CHECK(testing::max_abs_diff(a, b) > 1e-4);
  CHECK_THROWS_WITH_AS(net.forward(x, step, rng, Tensor::from_vector(std::vector<int32_t>{0, 5}, {2})), doctest::Contains("0..4"),
                       std::invalid_argument);
  CHECK_THROWS_AS(net.forward(x, step, rng), std::invalid_argument);
  c.grid_cols = 4;
  CHECK_THROWS_WITH_AS(c.validate(), doctest::Contains("grid_rows * grid_cols = seq_len"), std::invalid_argument);
}

TEST_CASE("2-D positions: the grid model equals a 1-D model whose pos_emb[i W + j] = row_emb[i] + col_emb[j]") {
  nn::TransformerConfig c;
  c.in_states = c.out_states = 7;
  c.seq_len = 6;
  c.width = 8;
  c.layers = 1;
  c.heads = 2;
  c.mlp = 16;
  c.classes = 2;
  nn::TransformerConfig g = c;
  g.grid_rows = 2;
  g.grid_cols = 3;
  Philox i1(1), i2(2), rng(3);
  nn::Transformer flat(c, i1), grid(g, i2);
  Tensor row, col, pos;
  for (const auto& [name, t] : grid.named_parameters()) {
    if (name == "row_emb") row = t;
    if (name == "col_emb") col = t;
  }
  for (const auto& [name, t] : flat.named_parameters()) {
    if (name == "pos_emb") {
      pos = t;
      continue;
    }
    for (const auto& [other, u] : grid.named_parameters())
      if (other == name) std::copy(u.data<float>(), u.data<float>() + u.numel(), t.data<float>());
  }
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j)
      for (int64_t k = 0; k < 8; ++k)
        pos.data<float>()[(i * 3 + j) * 8 + k] = row.data<float>()[i * 8 + k] + col.data<float>()[j * 8 + k];
  Philox r(4);
  const Tensor x = randint({2, 6}, 0, 7, r), step = Tensor::from_vector(std::vector<int32_t>{0, 9}, {2});
  const Tensor labels = Tensor::from_vector(std::vector<int32_t>{1, 2}, {2});
  NoGradGuard no_grad;
  CHECK(testing::max_abs_diff(flat.forward(x, step, rng, labels), grid.forward(x, step, rng, labels)) < 1e-6);
}
