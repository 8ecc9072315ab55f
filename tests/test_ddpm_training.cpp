// DDPM end to end on a tiny U-Net: the loss falls on 64 images, and the bits/dim of the freshly
// initialised U-Net (whose last conv starts at zero, so eps_theta = 0) equals the bound of a model
// that outputs 0.
#include <doctest/doctest.h>

#include "diffusion/ddpm_nll.hpp"
#include "gradcheck.hpp"
#include "nn/arena.hpp"
#include "nn/optim.hpp"
#include "nn/unet.hpp"
#include "tiny_images.hpp"

using namespace diffuse;
using namespace diffuse::testing;

namespace {
diffusion::GaussianDiffusion tiny_diffusion() {
  diffusion::BetaScheduleConfig s;
  s.timesteps = 50;
  s.beta_start = 1e-3;
  s.beta_end = 0.2;
  return diffusion::GaussianDiffusion(diffusion::make_schedule(s), diffusion::VarianceType::Large);
}
}  // namespace

TEST_CASE("a tiny U-Net on 64 images loses loss steadily under L_simple") {
  Philox rng(1);
  const Tensor images = tiny_images(rng);
  nn::UNet net(tiny_unet(), rng);
  nn::ParameterArena arena(net);
  nn::Adam adam(arena, {});
  const auto d = tiny_diffusion();
  const diffusion::EpsModel model = [&](const Tensor& x, const Tensor& t) { return net.forward(x, t, rng); };
  std::vector<double> losses;
  for (int step = 0; step < 120; ++step) {
    arena.zero_grad();
    const Tensor x0 = images.narrow(0, (step * 16) % 64, 16);
    const Tensor t = diffusion::sample_steps(16, d.timesteps(), rng);
    const Tensor loss = d.training_loss(model, x0, t, randn(x0.shape(), rng), diffusion::LossType::Simple).loss;
    loss.backward();
    nn::clip_grad_norm(arena, 1.0);
    adam.step(2e-3);
    losses.push_back(loss.item());
  }
  auto window = [&](size_t from) {
    double s = 0;
    for (size_t i = from; i < from + 20; ++i) s += losses[i];
    return s / 20;
  };
  MESSAGE("L_simple, mean of 20 steps: " << window(0) << " -> " << window(50) << " -> " << window(100));
  CHECK(window(50) < 0.8 * window(0));
  CHECK(window(100) < window(50));
}

TEST_CASE("bits/dim of the freshly initialised U-Net equals the bound of a zero eps-model") {
  Philox rng(2);
  const Tensor images = tiny_images(rng).narrow(0, 0, 3);
  nn::UNet net(tiny_unet(), rng);
  net.eval();
  const auto d = tiny_diffusion();
  const diffusion::EpsModel unet = [&](const Tensor& x, const Tensor& t) { return net.forward(x, t, rng); };
  const diffusion::EpsModel zero = [](const Tensor& x, const Tensor&) { return Tensor::zeros(x.shape()); };
  Philox r1(5), r2(5);  // the same x_t draws on both sides
  const auto a = diffusion::bpd_exact(unet, d, images, r1);
  const auto b = diffusion::bpd_exact(zero, d, images, r2);
  CHECK(a.method == "exact");
  CHECK(a.num_images == 3);
  CHECK(a.total_bpd == doctest::Approx(b.total_bpd).epsilon(1e-9));
  CHECK(a.total_bpd > 1.0);
}
