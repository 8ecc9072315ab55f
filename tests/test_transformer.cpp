// The D3PM transformer: parameter count by formula, names, shapes, bidirectionality, gradients.
#include <doctest/doctest.h>

#include <map>

#include "gradcheck.hpp"
#include "nn/arena.hpp"
#include "nn/transformer.hpp"

using namespace diffuse;
using namespace diffuse::testing;

TEST_CASE("parameter count matches the formula, for the paper's text8 model too") {
  auto expected = [](const nn::TransformerConfig& c) {
    const int64_t C = c.width, M = c.mlp;
    const int64_t block = 2 * 2 * C + (3 * C * C + 3 * C) + (C * C + C) + (M * C + M) + (C * M + C);
    return c.in_states * C + c.seq_len * C + 2 * (C * C + C) + c.layers * block + 2 * C + C * c.out_states + c.out_states;
  };
  Philox rng(0);
  nn::TransformerConfig small{.width = 64, .layers = 2, .heads = 4, .mlp = 128};
  CHECK(nn::Transformer(small, rng).parameter_count() == expected(small));
  const nn::TransformerConfig paper;  // 12 layers, width 768, 12 heads, MLP 3072
  CHECK(expected(paper) > 85'000'000);
  MESSAGE("paper text8 transformer: " << expected(paper) << " parameters");
}

TEST_CASE("shapes, bidirectionality and gradients") {
  Philox rng(1);
  nn::TransformerConfig c{.in_states = 6, .out_states = 5, .seq_len = 9, .width = 16, .layers = 2, .heads = 2, .mlp = 24};
  nn::Transformer net(c, rng);
  nn::ParameterArena arena(net);
  const Tensor x = Tensor::from_vector(std::vector<int32_t>{0, 1, 2, 3, 4, 5, 0, 1, 5, 4, 3, 2, 1, 0}, {2, 7});
  const Tensor t = Tensor::from_vector(std::vector<int32_t>{3, 800}, {2});
  const Tensor y = net.forward(x, t, rng);
  CHECK(y.shape() == Shape{2, 7, 5});
  // Changing the last token changes the first position's logits: attention looks both ways.
  Tensor x2 = x.clone();
  x2.data<int32_t>()[6] = 3;
  CHECK(max_abs_diff(net.forward(x2, t, rng).narrow(1, 0, 1), y.narrow(1, 0, 1)) > 1e-6);
  sum(square(y)).backward();
  for (const nn::ArenaEntry& e : arena.entries()) {
    double g = 0;
    for (double v : e.param.grad().to_vector()) g += v * v;
    CHECK_MESSAGE(g > 0, e.name << " received no gradient");
  }
  CHECK_THROWS_WITH_AS(net.forward(Tensor::zeros({2, 10}, DType::I32), t, rng), doctest::Contains("transformer"),
                       std::invalid_argument);
}

TEST_CASE("parameter names, as checkpoints store them (nn/transformer.hpp lists them)") {
  Philox rng(2);
  nn::Transformer net({.seq_len = 4, .width = 8, .layers = 1, .heads = 2, .mlp = 16}, rng);
  std::vector<std::string> names;
  for (const auto& [name, p] : net.named_parameters()) names.push_back(name);
  const std::vector<std::string> expected = {
      "pos_emb", "tok_emb.weight", "time.0.weight", "time.0.bias", "time.1.weight", "time.1.bias",
      "blocks.0.ln1.weight", "blocks.0.ln1.bias", "blocks.0.attn.qkv.weight", "blocks.0.attn.qkv.bias",
      "blocks.0.attn.proj.weight", "blocks.0.attn.proj.bias", "blocks.0.ln2.weight", "blocks.0.ln2.bias",
      "blocks.0.mlp.fc1.weight", "blocks.0.mlp.fc1.bias", "blocks.0.mlp.fc2.weight", "blocks.0.mlp.fc2.bias",
      "ln_f.weight", "ln_f.bias", "head.weight", "head.bias"};
  REQUIRE(names.size() == expected.size());
  for (size_t i = 0; i < names.size(); ++i) CHECK(names[i] == expected[i]);
}

TEST_CASE("continuous inputs (input_dim) and the pooled head: shapes, names, the mean over positions, gradients") {
  Philox rng(4);
  nn::TransformerConfig c{.out_states = 3, .seq_len = 6, .width = 8, .layers = 1, .heads = 2, .mlp = 16, .input_dim = 5};
  nn::Transformer net(c, rng);
  std::vector<std::string> names;
  for (const auto& [name, p] : net.named_parameters()) names.push_back(name);
  CHECK(names[1] == "in_proj.0.weight");  // no tok_emb
  CHECK(names[4] == "in_proj.1.bias");
  const Tensor x = random_input({2, 6, 5}, 7).to(DType::F32);
  const Tensor t = Tensor::from_vector(std::vector<int32_t>{0, 9}, {2});
  CHECK(net.forward(x, t, rng).shape() == Shape{2, 6, 3});
  CHECK_THROWS_WITH_AS(net.forward(Tensor::zeros({2, 6}, DType::I32), t, rng), doctest::Contains("float x_t [B, L <= 6, 5]"),
                       std::invalid_argument);

  // pooled: the head of the mean over positions of the unpooled network's last hidden state. The head is
  // linear, so that equals the mean over positions of the unpooled logits when both share the weights.
  nn::TransformerConfig p = c;
  p.pooled = true;
  Philox rng_a(5), rng_b(5);
  nn::Transformer pooled(p, rng_a), unpooled(c, rng_b);
  const Tensor y = pooled.forward(x, t, rng);
  CHECK(y.shape() == Shape{2, 3});
  CHECK(max_abs_diff(y, mean(unpooled.forward(x, t, rng), {1})) < 1e-5);

  // Gradients reach every parameter and the input vectors (the ops' own gradients are checked in their tests).
  nn::ParameterArena arena(net);
  Tensor x_in = x.clone().detach();
  x_in.set_requires_grad(true);
  sum(square(net.forward(x_in, t, rng))).backward();
  for (const nn::ArenaEntry& e : arena.entries()) {
    double g = 0;
    for (double v : e.param.grad().to_vector()) g += v * v;
    CHECK_MESSAGE(g > 0, e.name << " received no gradient");
  }
  double g = 0;
  for (double v : x_in.grad().to_vector()) g += v * v;
  CHECK(g > 0);
}

TEST_CASE("a distribution over the ids is read as its expected embedding: one-hot rows give the ids' output exactly") {
  Philox rng(6);
  const nn::TransformerConfig c{
      .in_states = 5, .out_states = 4, .seq_len = 3, .width = 8, .layers = 1, .heads = 2, .mlp = 16, .pooled = true};
  nn::Transformer net(c, rng);
  nn::ParameterArena arena(net);
  const Tensor t = Tensor::from_vector(std::vector<int32_t>{0, 9}, {2});
  const std::vector<int32_t> ids = {4, 0, 2, 1, 1, 3};
  std::vector<double> one_hot(2 * 3 * 5, 0.0);
  for (size_t n = 0; n < ids.size(); ++n) one_hot[n * 5 + static_cast<size_t>(ids[n])] = 1.0;
  const Tensor q = Tensor::from_vector(one_hot, {2, 3, 5}).to(DType::F32);
  CHECK(max_abs_diff(net.forward(q, t, rng), net.forward(Tensor::from_vector(ids, {2, 3}), t, rng)) == 0.0);
  // A mixture moves the output: half of word 4 and half of word 0 at the first position.
  Tensor mixed = q.clone();
  mixed.data<float>()[0] = 0.5f, mixed.data<float>()[4] = 0.5f;
  CHECK(max_abs_diff(net.forward(mixed, t, rng), net.forward(q, t, rng)) > 1e-6);
  CHECK_THROWS_WITH_AS(net.forward(Tensor::zeros({2, 3, 4}), t, rng), doctest::Contains("float q [B, L, 5]"), std::invalid_argument);
  // The gradient reaches q and the token table (matmul's own gradients are checked in its tests).
  Tensor q_in = mixed.clone().detach();
  q_in.set_requires_grad(true);
  sum(square(net.forward(q_in, t, rng))).backward();
  double gq = 0, gt = 0;
  for (double v : q_in.grad().to_vector()) gq += v * v;
  for (const nn::ArenaEntry& e : arena.entries())
    if (e.name == "tok_emb.weight")
      for (double v : e.param.grad().to_vector()) gt += v * v;
  CHECK(gq > 0);
  CHECK(gt > 0);
}

TEST_CASE("half_positions: the two halves share pos_emb, side_emb tells them apart; equal to the 1-D model with those rows") {
  // H reads pos(n) = side_emb[n / 4] + pos_emb[n % 4] over 8 positions; P is the 1-D model given exactly those
  // rows as its pos_emb and H's other weights. Their outputs agree bit for bit, and H's gradients are P's rows
  // summed: pos_emb[j] gets rows j and j + 4, side_emb[s] the rows of half s.
  const int64_t L = 8, half = 4, C = 16;
  nn::TransformerConfig c{.in_states = 6, .out_states = 5, .seq_len = L, .width = C, .layers = 2, .heads = 2, .mlp = 24};
  c.half_positions = true;
  Philox rng(7);
  nn::Transformer h(c, rng);
  c.half_positions = false;
  nn::Transformer p(c, rng);
  std::map<std::string, Tensor> hp;
  for (const auto& [name, t] : h.named_parameters()) hp[name] = t;
  CHECK(hp.at("pos_emb").shape() == Shape{half, C});
  CHECK(hp.at("side_emb").shape() == Shape{2, C});
  for (const auto& [name, t] : p.named_parameters()) {
    float* d = t.data<float>();
    if (name == "pos_emb") {
      for (int64_t n = 0; n < L; ++n)
        for (int64_t k = 0; k < C; ++k)
          d[n * C + k] = hp.at("side_emb").data<float>()[(n / half) * C + k] + hp.at("pos_emb").data<float>()[(n % half) * C + k];
    } else {
      REQUIRE(hp.at(name).shape() == t.shape());
      std::copy(hp.at(name).data<float>(), hp.at(name).data<float>() + t.numel(), d);
    }
  }
  nn::ParameterArena h_arena(h), p_arena(p);
  const Tensor x = Tensor::from_vector(std::vector<int32_t>{2, 1, 3, 0, 2, 1, 4, 5, 0, 5, 4, 3, 3, 4, 5, 0}, {2, L});
  const Tensor t = Tensor::from_vector(std::vector<int32_t>{3, 800}, {2});
  const Tensor yh = h.forward(x, t, rng), yp = p.forward(x, t, rng);
  CHECK(yh.to_vector() == yp.to_vector());
  sum(square(yh)).backward();
  sum(square(yp)).backward();
  std::map<std::string, Tensor> pp;
  for (const auto& [name, t] : p.named_parameters()) pp[name] = t;
  for (const auto& [name, t] : h.named_parameters()) hp[name] = t;  // the arena's handles
  const Tensor gp = pp.at("pos_emb").grad().contiguous();
  const Tensor gh = hp.at("pos_emb").grad().contiguous(), gs = hp.at("side_emb").grad().contiguous();
  for (int64_t k = 0; k < C; ++k) {
    for (int64_t j = 0; j < half; ++j)
      CHECK(gh.data<float>()[j * C + k] == doctest::Approx(gp.data<float>()[j * C + k] + gp.data<float>()[(j + half) * C + k]).epsilon(1e-5));
    for (int64_t s = 0; s < 2; ++s) {
      double rows = 0;
      for (int64_t j = 0; j < half; ++j) rows += gp.data<float>()[(s * half + j) * C + k];
      CHECK(gs.data<float>()[s * C + k] == doctest::Approx(rows).epsilon(1e-5));
    }
  }
  // A causal model of halves reads a prefix (autoregressive decoding) as the first positions of the whole row.
  nn::TransformerConfig causal = c;
  causal.half_positions = true;
  causal.causal = true;
  nn::Transformer ar(causal, rng);
  const Tensor whole = ar.forward(x, t, rng), prefix = ar.forward(x.narrow(1, 0, 6).contiguous(), t, rng);
  CHECK(max_abs_diff(prefix, whole.narrow(1, 0, 6)) < 1e-6);
  causal.seq_len = 7;
  CHECK_THROWS_WITH_AS(causal.validate(), doctest::Contains("half_positions: the two halves of an even seq_len"), std::invalid_argument);
}
