// The DDPM U-Net: the reference's parameter count, names, shapes, the zero output at initialisation,
// and gradients reaching every parameter.
#include <doctest/doctest.h>

#include "gradcheck.hpp"
#include "nn/arena.hpp"
#include "nn/unet.hpp"

using namespace diffuse;
using namespace diffuse::testing;

TEST_CASE("the paper configuration has the reference code's 35,746,307 parameters") {
  Philox rng(0);
  nn::UNet paper(nn::UNetConfig{}, rng);
  CHECK(paper.parameter_count() == 35746307);
  // ch 64 is the benchmark model of the speed issue: 8.95M.
  nn::UNetConfig small;
  small.ch = 64;
  CHECK(nn::UNet(small, rng).parameter_count() == doctest::Approx(8.95e6).epsilon(0.001));
}

TEST_CASE("parameter names follow the PyTorch ports of the reference") {
  Philox rng(0);
  nn::UNetConfig c;
  c.ch = 32;
  nn::UNet net(c, rng);
  std::map<std::string, Shape> shapes;
  for (auto& [name, p] : net.named_parameters()) shapes[name] = p.shape();
  CHECK(shapes.at("temb.dense.0.weight") == Shape{128, 32});
  CHECK(shapes.at("conv_in.weight") == Shape{32, 3, 3, 3});
  CHECK(shapes.at("down.1.block.0.conv1.weight") == Shape{64, 32, 3, 3});
  CHECK(shapes.at("down.1.block.0.nin_shortcut.weight") == Shape{64, 32, 1, 1});
  CHECK(shapes.at("down.1.attn.1.q.weight") == Shape{64, 64});  // attention at 16x16 = level 1
  CHECK(shapes.count("down.0.attn.0.q.weight") == 0);
  CHECK(shapes.at("down.2.downsample.conv.weight") == Shape{64, 64, 3, 3});
  CHECK(shapes.count("down.3.downsample.conv.weight") == 0);
  CHECK(shapes.at("mid.attn_1.proj_out.weight") == Shape{64, 64});
  CHECK(shapes.at("up.0.block.2.conv1.weight") == Shape{32, 64, 3, 3});  // 32 + 32 skip channels in
  CHECK(shapes.at("up.3.upsample.conv.weight") == Shape{64, 64, 3, 3});
  CHECK(shapes.at("conv_out.weight") == Shape{3, 32, 3, 3});
  CHECK_THROWS_WITH_AS(nn::UNetConfig::from_json({{"ch", 64}}), doctest::Contains("model.in_channels is missing"),
                       std::invalid_argument);
  nn::UNetConfig bad = c;
  bad.resolution = 20;
  CHECK_THROWS_WITH_AS(bad.validate(), doctest::Contains("model.resolution 20"), std::invalid_argument);
  CHECK(nn::UNetConfig::from_json(c.to_json()).to_json() == c.to_json());
}

TEST_CASE("a tiny U-Net: shapes, zero output at initialisation, and gradients everywhere") {
  Philox rng(1);
  nn::UNetConfig c;
  c.in_channels = 1;
  c.out_channels = 2;
  c.resolution = 8;
  c.ch = 8;
  c.ch_mult = {1, 2};
  c.num_res_blocks = 1;
  c.attn_resolutions = {4};
  c.groups = 4;
  c.dropout = 0.1;
  nn::UNet net(c, rng);
  nn::ParameterArena arena(net);
  const Tensor x = randn({3, 1, 8, 8}, rng);
  const Tensor t = Tensor::from_vector(std::vector<int32_t>{0, 5, 999}, {3});
  const Tensor y0 = net.forward(x, t, rng);
  CHECK(y0.shape() == Shape{3, 2, 8, 8});
  CHECK(max_abs_diff(y0, Tensor::zeros({3, 2, 8, 8})) == 0);  // conv_out starts at zero
  // Give every parameter a non-trivial value, then every one must receive a gradient.
  arena.values().copy_(mul(randn({arena.size()}, rng), 0.2));
  sum(square(net.forward(x, t, rng))).backward();
  for (const nn::ArenaEntry& e : arena.entries()) {
    double g = 0;
    for (double v : e.param.grad().to_vector()) g += v * v;
    CHECK_MESSAGE(g > 0, e.name << " received no gradient");
  }
  CHECK_THROWS_WITH_AS(net.forward(randn({3, 3, 8, 8}, rng), t, rng), doctest::Contains("unet: expected x [B, 1, 8, 8]"),
                       std::invalid_argument);
  // eval mode is deterministic (no dropout).
  net.eval();
  CHECK(max_abs_diff(net.forward(x, t, rng), net.forward(x, t, rng)) == 0);
}

TEST_CASE("a class-conditional U-Net: the class embedding's parameters, the label changes the output, the null class") {
  nn::UNetConfig c;
  c.in_channels = 1;
  c.out_channels = 1;
  c.resolution = 8;
  c.ch = 8;
  c.ch_mult = {1, 2};
  c.num_res_blocks = 1;
  c.attn_resolutions = {};
  c.groups = 4;
  c.dropout = 0.0;
  Philox rng_a(2), rng_b(2);
  const int64_t unconditional = nn::UNet(c, rng_a).parameter_count();
  c.num_classes = 10;
  nn::UNet net(c, rng_b);
  CHECK(net.parameter_count() == unconditional + 11 * 4 * c.ch);  // K + 1 rows (the null class) of 4 ch
  CHECK(nn::UNetConfig::from_json(c.to_json()).num_classes == 10);
  nn::ParameterArena arena(net);
  Philox rng(3);
  arena.values().copy_(mul(randn({arena.size()}, rng), 0.2));  // conv_out starts at zero: make the output depend on temb
  net.eval();
  const Tensor x = randn({2, 1, 8, 8}, rng);
  const Tensor t = Tensor::from_vector(std::vector<int32_t>{10, 10}, {2});
  auto labels = [](int32_t a, int32_t b) { return Tensor::from_vector(std::vector<int32_t>{a, b}, {2}); };
  const Tensor y = net.forward(x, t, rng, labels(3, 10));  // the second: no label
  CHECK(max_abs_diff(y, net.forward(x, t, rng, labels(3, 10))) == 0);
  CHECK(max_abs_diff(y.narrow(0, 0, 1), net.forward(x, t, rng, labels(4, 10)).narrow(0, 0, 1)) > 1e-4);
  CHECK(max_abs_diff(y.narrow(0, 1, 1), net.forward(x, t, rng, labels(4, 10)).narrow(0, 1, 1)) == 0);  // rows are independent
  CHECK_THROWS_WITH_AS(net.forward(x, t, rng), doctest::Contains("needs int32 labels [B] in 0..10 (10: no label)"),
                       std::invalid_argument);
  CHECK_THROWS(net.forward(x, t, rng, labels(3, 11)));
}
