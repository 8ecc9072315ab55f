// D3PM on text end to end: a tiny transformer trained on the hybrid loss over windows of a generated
// corpus brings the exact bound in bits/char down, for the absorbing and the uniform kinds.
#include <doctest/doctest.h>

#include <string>

#include "data/text8.hpp"
#include "diffusion/d3pm_elbo.hpp"
#include "nn/optim.hpp"
#include "nn/transformer.hpp"

using namespace diffuse;
using namespace diffuse::diffusion;

TEST_CASE("a tiny transformer's exact bound in bits/char falls under the hybrid loss") {
  std::string text;
  for (int i = 0; i < 400; ++i) text += "the cat sat on the mat and the dog ran to the fox ";
  auto corpus = std::make_shared<const data::Text8Corpus>(data::make_text8_corpus(text, "generated"));
  for (D3pmKind kind : {D3pmKind::Absorbing, D3pmKind::Uniform}) {
    INFO(d3pm_kind_name(kind));
    D3pmConfig c;
    c.kind = kind;
    c.schedule = kind == D3pmKind::Absorbing ? D3pmScheduleKind::Jsd : D3pmScheduleKind::Cosine;
    c.timesteps = 20;
    c.hybrid_lambda = 0.01;
    const D3pm d(c);
    nn::TransformerConfig tc;
    tc.seq_len = 32;
    tc.width = 32;
    tc.layers = 2;
    tc.heads = 4;
    tc.mlp = 64;
    Philox rng(1);
    nn::Transformer net(tc, rng);
    nn::ParameterArena arena(net);
    nn::Adam adam(arena, {});
    data::Text8WindowSampler windows(corpus, data::Text8Split::Train, 32, 2);
    const X0Model model = [&](const Tensor& x_t, const Tensor& step) { return net.forward(x_t, step, rng); };
    const Tensor chunks = data::text8_chunks(corpus->split(data::Text8Split::Test), 32, 8);
    auto bound = [&] {
      Philox eval(3);  // the same x_t draws each time
      return d3pm_elbo_exact(model, d, chunks, eval).bits_per_token;
    };
    const double before = bound();
    for (int step = 0; step < 150; ++step) {
      arena.zero_grad();
      d.training_loss(model, windows.next(16), d.sample_t(16, rng), rng).loss.backward();
      nn::clip_grad_norm(arena, 1.0);
      adam.step(3e-3);
    }
    const double after = bound();
    MESSAGE(std::string(d3pm_kind_name(kind)) << ": exact bound " << before << " -> " << after << " bits/char");
    CHECK(after < 0.75 * before);
  }
}
