// The autoregressive baseline (diffusion/autoregressive.hpp, nn::Transformer with causal = true): the
// causal mask keeps position n blind to later inputs, the sequence NLL equals the product rule computed by
// hand, and ancestral sampling keeps its prefix and draws what the model's conditionals give.
#include <doctest/doctest.h>

#include <cmath>

#include "diffusion/autoregressive.hpp"
#include "nn/transformer.hpp"
#include "tensor/autograd.hpp"
#include "tensor/ops.hpp"

using namespace diffuse;
using namespace diffuse::diffusion;

namespace {

constexpr int64_t V = 27;
constexpr int32_t kBos = 27;

nn::TransformerConfig causal_config(bool causal = true) {
  nn::TransformerConfig c;
  c.in_states = 28;
  c.out_states = V;
  c.seq_len = 12;
  c.width = 16;
  c.layers = 2;
  c.heads = 2;
  c.mlp = 32;
  c.causal = causal;
  c.time_embedding = false;
  return c;
}

}  // namespace

TEST_CASE("causal attention: the output at position n does not change when later inputs change") {
  Philox rng(1);
  const nn::Transformer net(causal_config(), rng);
  NoGradGuard no_grad;
  Philox draw(2);
  const Tensor x = randint({2, 12}, 0, 28, draw);
  const Tensor base = net.forward(x, Tensor(), draw).contiguous();
  for (int64_t n = 0; n < 11; ++n) {
    CAPTURE(n);
    Tensor changed = x.clone();
    for (int64_t m = n + 1; m < 12; ++m)
      for (int64_t b = 0; b < 2; ++b) changed.data<int32_t>()[b * 12 + m] = (changed.data<int32_t>()[b * 12 + m] + 5) % 28;
    const Tensor out = net.forward(changed, Tensor(), draw).contiguous();
    double same = 0, later = 0;
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t m = 0; m < 12; ++m)
        for (int64_t k = 0; k < V; ++k) {
          const int64_t i = (b * 12 + m) * V + k;
          const double d = std::abs(out.data<float>()[i] - base.data<float>()[i]);
          (m <= n ? same : later) = std::max(m <= n ? same : later, d);
        }
    CHECK(same == 0.0);
    CHECK(later > 1e-4);  // the positions after n do see the change
  }
  // The bidirectional network, by contrast, changes everywhere.
  Philox rng2(1);
  const nn::Transformer bidirectional(causal_config(false), rng2);
  Tensor changed = x.clone();
  changed.data<int32_t>()[11] = (changed.data<int32_t>()[11] + 1) % 28;
  const double d0 = std::abs(bidirectional.forward(changed, Tensor(), draw).contiguous().data<float>()[0] -
                             bidirectional.forward(x, Tensor(), draw).contiguous().data<float>()[0]);
  CHECK(d0 > 0);
}

TEST_CASE("the sequence NLL is the sum of -log p(x^n | x^{<n}) with [bos, x^0, ..] as input") {
  const Tensor x = Tensor::from_vector(std::vector<int32_t>{4, 0, 26, 9}, {1, 4});
  const Tensor in = shifted_inputs(x, kBos);
  CHECK(in.to_vector() == std::vector<double>{27, 4, 0, 26});
  Philox rng(3);
  const Tensor logits = randn({1, 4, V}, rng, DType::F64);
  double expected = 0;
  for (int64_t n = 0; n < 4; ++n) {
    double z = 0;
    for (int64_t k = 0; k < V; ++k) z += std::exp(logits.data<double>()[n * V + k]);
    expected -= logits.data<double>()[n * V + x.data<int32_t>()[n]] - std::log(z);
  }
  CHECK(sequence_nll(logits, x).item() == doctest::Approx(expected).epsilon(1e-12));
}

TEST_CASE("the next-token loss falls when a causal transformer learns a repeating sequence") {
  Philox rng(4);
  nn::Transformer net(causal_config(), rng);
  const std::vector<int32_t> pattern = {0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3};
  const Tensor x = Tensor::from_vector(pattern, {1, 12});
  const NextTokenModel model = [&](const Tensor& in) { return net.forward(in, Tensor(), rng); };
  const double first = next_token_loss(model, x, kBos).loss.item();
  for (int step = 0; step < 60; ++step) {
    net.zero_grad();
    next_token_loss(model, x, kBos).loss.backward();
    for (const Tensor& p : net.parameters()) add_(p, p.grad(), -0.05);
  }
  const double last = next_token_loss(model, x, kBos).loss.item();
  MESSAGE("bits/char " << first << " -> " << last);
  CHECK(last < 0.5 * first);
}

TEST_CASE("ancestral sampling keeps the prefix and follows the model's conditionals") {
  // A 'model' that always predicts (previous input + 1) mod 27 with certainty: the sample is determined.
  const NextTokenModel counter = [](const Tensor& in) {
    const int64_t B = in.size(0), L = in.size(1);
    Tensor logits = Tensor::full({B, L, V}, -1e9);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t n = 0; n < L; ++n) {
        const int32_t prev = in.data<int32_t>()[b * L + n];
        logits.data<float>()[(b * L + n) * V + (prev == kBos ? 0 : (prev + 1) % V)] = 0;
      }
    return logits;
  };
  Philox rng(5);
  AutoregressiveSampleOptions options;
  options.prefix = Tensor::from_vector(std::vector<int32_t>{20, 25}, {2});
  int64_t evaluations = 0;
  const Tensor x = autoregressive_sample(counter, 2, 6, V, kBos, rng, options, &evaluations);
  CHECK(x.to_vector() == std::vector<double>{20, 25, 26, 0, 1, 2, 20, 25, 26, 0, 1, 2});
  CHECK(evaluations == 4);
  options.temperature = 0;
  CHECK_THROWS_WITH_AS(autoregressive_sample(counter, 1, 6, V, kBos, rng, options), doctest::Contains("--temperature"),
                       std::invalid_argument);
}

TEST_CASE("a pair's source is given: its positions are forced and not scored; greedy decoding stops at <eos>") {
  // The counter model again: (previous input + 1) mod V, certain.
  const NextTokenModel counter = [](const Tensor& in) {
    const int64_t B = in.size(0), L = in.size(1);
    Tensor logits = Tensor::full({B, L, V}, -1e9);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t n = 0; n < L; ++n) {
        const int32_t prev = in.data<int32_t>()[b * L + n];
        logits.data<float>()[(b * L + n) * V + (prev == kBos ? 0 : (prev + 1) % V)] = 0;
      }
    return logits;
  };
  // Row 0 gives 3 positions, row 1 gives 1 and one more later (teacher forcing anywhere).
  AutoregressiveSampleOptions options;
  options.greedy = true;
  options.given = Tensor::from_vector(std::vector<int32_t>{5, 9, 20, -1, -1, -1, 7, -1, -1, 0, -1, -1}, {2, 6});
  Philox rng(2);
  int64_t evaluations = 0;
  const Tensor x = autoregressive_sample(counter, 2, 6, V, kBos, rng, options, &evaluations);
  CHECK(x.to_vector() == std::vector<double>{5, 9, 20, 21, 22, 23, 7, 8, 9, 0, 1, 2});
  CHECK(evaluations == 5);  // positions 1..5: row 1 draws from position 1
  // Stop at id 22: row 0 draws 21, 22 then pads with fill_id; row 1 never draws 22 and runs to the end.
  options.stop_id = 22;
  options.fill_id = 26;
  CHECK(autoregressive_sample(counter, 2, 6, V, kBos, rng, options).to_vector() ==
        std::vector<double>{5, 9, 20, 21, 22, 26, 7, 8, 9, 0, 1, 2});
  // Both rows stop: sampling ends early and fills the rest.
  options.stop_id = 21;
  options.given = Tensor::from_vector(std::vector<int32_t>{19, -1, -1, -1, -1, -1, 20, -1, -1, -1, -1, -1}, {2, 6});
  evaluations = 0;
  CHECK(autoregressive_sample(counter, 2, 6, V, kBos, rng, options, &evaluations).to_vector() ==
        std::vector<double>{19, 20, 21, 26, 26, 26, 20, 21, 26, 26, 26, 26});
  CHECK(evaluations == 2);

  // The NLL leaves the given positions out: only the target's terms count.
  Philox lr(9);
  const Tensor logits = randn({1, 4, V}, lr).to(DType::F64);
  const Tensor seq = Tensor::from_vector(std::vector<int32_t>{3, 1, 4, 1}, {1, 4});
  const Tensor given = Tensor::from_vector(std::vector<int32_t>{1, 1, 0, 0}, {1, 4});
  const Tensor all = sequence_nll(logits, seq);
  const Tensor head = sequence_nll(logits.narrow(1, 0, 2).contiguous(), seq.narrow(1, 0, 2).contiguous());
  CHECK(sequence_nll(logits, seq, given).item() == doctest::Approx(all.item() - head.item()).epsilon(1e-12));
}
