// D3PM on images: pixel values round-trip through the model's input scale; a perfect logistic prediction
// (location on x0, a tiny scale) gives zero KL terms and a zero decoder term at K = 256 for the Gaussian,
// uniform and absorbing (mid-gray) kinds; the logits output reads channel c*256 + k as value k of channel c;
// a tiny U-Net's exact bound falls when it trains on the hybrid loss.
#include <doctest/doctest.h>

#include "diffusion/d3pm_elbo.hpp"
#include "diffusion/d3pm_image_model.hpp"
#include "diffusion/discretized_logistic.hpp"
#include "nn/optim.hpp"
#include "tensor/ops.hpp"
#include "tiny_images.hpp"

using namespace diffuse;
using namespace diffuse::diffusion;
using namespace diffuse::testing;

namespace {
D3pmConfig image_config(D3pmKind kind, int64_t T) {
  D3pmConfig c;
  c.kind = kind;
  c.schedule = kind == D3pmKind::Absorbing ? D3pmScheduleKind::Jsd : D3pmScheduleKind::Linear;
  c.timesteps = T;
  c.beta_start = 0.02;
  c.beta_end = 0.3;
  c.states.num_states = kPixelValues;
  c.states.mask = kind == D3pmKind::Absorbing ? kPixelValues / 2 : -1;
  c.states.mask_is_data = kind == D3pmKind::Absorbing;
  c.decoder = D3pmDecoder::Ptilde;
  c.hybrid_lambda = 0.001;
  c.loss_bits_per_dim = true;  // the image code's scale, as the image presets
  return c;
}
}  // namespace

TEST_CASE("pixel values round-trip through the model's [-1, 1] scale") {
  std::vector<int32_t> v(256);
  for (int32_t i = 0; i < 256; ++i) v[static_cast<size_t>(i)] = i;
  const Tensor values = Tensor::from_vector(v, {4, 64});
  const Tensor images = pixel_values_to_images(values, {4, 1, 8, 8});
  CHECK(images.at({0, 0, 0, 0}) == -1.0);
  CHECK(images.at({3, 0, 7, 7}) == 1.0);
  CHECK(images_to_pixel_values(images).to_vector() == values.to_vector());
}

TEST_CASE("a perfect logistic prediction gives zero KL terms and a zero decoder term, K = 256") {
  const int64_t B = 2, L = 12, T = 6;
  Philox rng(3);
  std::vector<int32_t> xs(static_cast<size_t>(B * L));
  for (int32_t& x : xs) x = static_cast<int32_t>(rng.integer(0, 256));
  const Tensor x0 = Tensor::from_vector(xs, {B, L});
  const Tensor loc = pixel_values_to_images(x0, {B, L}).to(DType::F64);
  const Tensor logits = truncated_logistic_logits(loc, Tensor::full({B, L}, -12.0, DType::F64), kPixelValues);
  for (D3pmKind kind : {D3pmKind::Gaussian, D3pmKind::Uniform, D3pmKind::Absorbing}) {
    INFO(d3pm_kind_name(kind));
    const D3pm d(image_config(kind, T));
    for (int64_t t = 1; t <= T; ++t) {
      const Tensor t_batch = D3pm::t_tensor(B, t);
      const Tensor x_t = d.q_sample(x0, t_batch, rng);
      for (double v : d.vb_terms(logits, x0, x_t, t_batch).to_vector()) CHECK(std::abs(v) < 1e-9);
    }
  }
}

TEST_CASE("the logits output reads channel c*256 + k as the logit of value k of channel c") {
  Philox rng(4);
  nn::UNetConfig c = tiny_unet();
  c.out_channels = image_output_channels(ImageOutput::Logits, 3);
  nn::UNet net(c, rng);
  net.eval();
  const X0Model model = image_x0_model(net, ImageOutput::Logits, rng);
  const Tensor x_t = images_to_pixel_values(tiny_images(rng).narrow(0, 0, 2));
  const Tensor step = D3pm::t_tensor(2, 3);
  const Tensor logits = model(x_t, step);  // [2, 192, 256]
  const Tensor h = net.forward(pixel_values_to_images(x_t, {2, 3, 8, 8}), step, rng);
  CHECK(logits.shape() == Shape{2, 192, 256});
  // batch 1, channel 2, pixel (5, 6) = position 2*64 + 5*8 + 6, value 77 = output channel 2*256 + 77
  CHECK(logits.at({1, 2 * 64 + 5 * 8 + 6, 77}) == h.at({1, 2 * 256 + 77, 5, 6}));
  CHECK_THROWS_AS(image_x0_model(net, ImageOutput::Logistic, rng), std::invalid_argument);
}

TEST_CASE("a tiny U-Net's exact bound falls when it trains on the hybrid loss (Gaussian + logistic)") {
  Philox rng(5);
  const Tensor x0 = images_to_pixel_values(tiny_images(rng).narrow(0, 0, 8));
  nn::UNetConfig c = tiny_unet();
  c.out_channels = image_output_channels(ImageOutput::Logistic, 3);
  nn::UNet net(c, rng);
  nn::ParameterArena arena(net);
  nn::Adam adam(arena, {});
  const D3pm d(image_config(D3pmKind::Gaussian, 10));
  const X0Model model = image_x0_model(net, ImageOutput::Logistic, rng);
  auto bound = [&] {
    Philox eval(6);  // the same x_t draws each time
    return d3pm_elbo_exact(model, d, x0, eval).bits_per_token;
  };
  const double before = bound();
  for (int step = 0; step < 70; ++step) {
    arena.zero_grad();
    const Tensor loss = d.training_loss(model, x0, d.sample_t(8, rng), rng).loss;
    loss.backward();
    nn::clip_grad_norm(arena, 1.0);
    adam.step(3e-3);
  }
  const double after = bound();
  MESSAGE("exact bound, bits/dim: " << before << " -> " << after);
  CHECK(after < 0.85 * before);
}
