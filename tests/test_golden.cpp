// Golden tests against a PyTorch twin (tests/golden/make_golden.py): a tiny transformer block and a
// tiny U-Net residual block with attention. Inputs, outputs, loss, every parameter gradient, and the
// weights and EMA after three Adam steps with warmup and clipping must agree within float32 tolerances.
#include <doctest/doctest.h>

#include <cmath>

#include "gradcheck.hpp"
#include "nn/checkpoint.hpp"
#include "nn/safetensors.hpp"
#include "nn/transformer_block.hpp"
#include "nn/unet_blocks.hpp"

using namespace diffuse;
using namespace diffuse::testing;

namespace {
// max |a - b| / (1 + max |b|): float32 agreement relative to the reference's scale.
double scaled_diff(const Tensor& a, const Tensor& b) {
  double scale = 0;
  for (double v : b.to_vector()) scale = std::max(scale, std::abs(v));
  return max_abs_diff(a, b) / (1 + scale);
}

// Compares ours with the reference tensor `name`. Elements where `skip` is non-zero are left out.
void check_close(const Tensor& ours, const nn::SafetensorsContents& ref, const std::string& name, double tol,
                 const Tensor& skip = Tensor()) {
  const Tensor* r = ref.find(name);
  REQUIRE_MESSAGE(r != nullptr, "reference tensor " << name << " is missing");
  REQUIRE_MESSAGE(ours.shape() == r->shape(), name << ": shape " << to_string(ours.shape()) << " vs " << to_string(r->shape()));
  const double d = skip.defined() ? scaled_diff(where(skip, *r, ours), *r) : scaled_diff(ours, *r);
  CHECK_MESSAGE(d < tol, name << ": largest scaled difference " << d << " (tolerance " << tol << ")");
}

// 1 where |t| < c, else 0.
Tensor lt(const Tensor& t, double c) {
  Tensor out = Tensor::empty(t.shape());
  const auto v = t.to_vector();
  for (size_t i = 0; i < v.size(); ++i) out.data<float>()[i] = v[i] < c ? 1.0f : 0.0f;
  return out;
}

// Runs the whole comparison for a module whose loss is mean((forward(x) - target)^2).
template <class M, class Forward>
void compare_with_golden(const std::string& file, M& model, Forward forward) {
  const std::string path = std::string(DIFFUSE_GOLDEN_DIR) + "/" + file;
  const nn::SafetensorsContents ref = nn::read_safetensors(path);
  nn::ParameterArena arena(model);
  nn::load_checkpoint(path, arena, nullptr, nullptr);
  const Tensor x0 = *ref.find("input.x"), target = *ref.find("input.target");

  Tensor x = x0.clone();
  x.set_requires_grad();
  const Tensor y = forward(x, ref);
  const Tensor loss = mean(square(y - target));
  loss.backward();
  check_close(y, ref, "output.y", 1e-5);
  check_close(loss.reshape({1}), ref, "loss", 1e-5);
  check_close(x.grad(), ref, "grad/input.x", 1e-5);
  for (const nn::ArenaEntry& e : arena.entries()) check_close(e.param.grad(), ref, "grad/" + e.name, 1e-5);

  nn::Adam adam(arena, {});
  nn::Ema ema(arena, 0.9);
  const nn::LrSchedule schedule{.lr = 1e-2, .warmup = 2};
  for (int step = 1; step <= 3; ++step) {
    arena.zero_grad();
    mean(square(forward(x0, ref) - target)).backward();
    nn::clip_grad_norm(arena, 0.1);
    adam.step(schedule.at(step));
    ema.update(step);
  }
  // The key bias has an identically zero gradient (softmax ignores a constant added to every score of
  // a query), so both sides hold rounding noise there, which Adam's m / sqrt(v) blows up to +-lr with
  // arbitrary signs. Those elements are left out of the after-step comparison.
  for (const nn::ArenaEntry& e : arena.entries()) {
    const Tensor zero_grad_elements = lt(abs(*ref.find("grad/" + e.name)), 1e-6);
    check_close(e.param, ref, "step3/" + e.name, 1e-5, zero_grad_elements);
    check_close(arena.view_of(ema.values(), e), ref, "ema3/" + e.name, 1e-5, zero_grad_elements);
  }
}
}  // namespace

TEST_CASE("transformer block matches PyTorch: forward, gradients, three Adam steps") {
  Philox rng(0);
  nn::TransformerBlock block(12, 3, 24, 0.0, rng);
  compare_with_golden("transformer_block.safetensors", block,
                      [&](const Tensor& x, const nn::SafetensorsContents&) { return block.forward(x, rng); });
}

TEST_CASE("U-Net residual block with attention matches PyTorch: forward, gradients, three Adam steps") {
  Philox rng(0);
  struct ResAttn : nn::Module {
    explicit ResAttn(Philox& rng)
        : block(register_module("block", std::make_shared<nn::ResBlock>(6, 8, 10, 2, 0.0, rng))),
          attn(register_module("attn", std::make_shared<nn::SpatialSelfAttention>(8, 2, rng))) {}
    std::shared_ptr<nn::ResBlock> block;
    std::shared_ptr<nn::SpatialSelfAttention> attn;
  } model(rng);
  compare_with_golden("unet_res_attn_block.safetensors", model, [&](const Tensor& x, const nn::SafetensorsContents& ref) {
    return model.attn->forward(model.block->forward(x, silu(*ref.find("input.temb")), rng));
  });
}
