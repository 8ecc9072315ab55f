// The per-op profile (tensor/profile.hpp): self times exclude nested scopes, phases follow the backward pass,
// FLOPs and allocations land on the op that made them, and the rows of a whole training step add up to it.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "nn/arena.hpp"
#include "nn/optim.hpp"
#include "nn/transformer.hpp"
#include "nn/unet.hpp"
#include "tensor/autograd.hpp"
#include "tensor/ops.hpp"
#include "tensor/profile.hpp"

using namespace diffuse;

namespace {
const ProfileRow* find(const std::vector<ProfileRow>& rows, const std::string& op, ProfilePhase phase) {
  for (const ProfileRow& r : rows)
    if (r.op == op && r.phase == phase) return &r;
  return nullptr;
}
void spin_for(double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
  }
}

// One training step as the benchmark takes it: zero the gradients, forward, loss, backward, clip, Adam.
template <class Forward>
std::function<void()> training_step(nn::ParameterArena& arena, nn::Adam& adam, Forward forward) {
  return [&arena, &adam, forward] {
    arena.zero_grad();
    forward().backward();
    nn::clip_grad_norm(arena, 1.0);
    adam.step(1e-3);
  };
}

// The rows' self times add up to the steps' wall time within 5%: no time counted twice, and nothing of
// weight left outside a scope.
void check_adds_up(const StepProfile& p, const char* what) {
  INFO(what << ": rows " << p.rows_seconds() * 1e3 << " ms of " << p.seconds * 1e3 << " ms");
  CHECK(p.rows_seconds() <= p.seconds * 1.0001);
  CHECK(p.rows_seconds() >= 0.95 * p.seconds);
  CHECK(find(p.rows, "adam", ProfilePhase::Update) != nullptr);
  CHECK(find(p.rows, "autograd", ProfilePhase::Backward) != nullptr);
}
}  // namespace

TEST_CASE("self time excludes the scopes opened inside; a scope takes its phase from its parent") {
  start_profile();
  {
    ProfileScope outer("outer");
    spin_for(0.02);
    {
      ProfileScope inner("inner");
      spin_for(0.03);
    }
    ProfileScope update("step", ProfilePhase::Update);
    ProfileScope nested("nested");
    spin_for(0.01);
  }
  const std::vector<ProfileRow> rows = stop_profile();
  REQUIRE(rows.size() == 4);
  CHECK(rows[0].op == "inner");  // the largest self time first
  const ProfileRow* outer = find(rows, "outer", ProfilePhase::Forward);
  const ProfileRow* inner = find(rows, "inner", ProfilePhase::Forward);
  const ProfileRow* nested = find(rows, "nested", ProfilePhase::Update);
  REQUIRE(outer);
  REQUIRE(inner);
  REQUIRE(nested);
  CHECK(outer->self_seconds == doctest::Approx(0.02).epsilon(0.25));
  CHECK(inner->self_seconds == doctest::Approx(0.03).epsilon(0.25));
  CHECK(nested->self_seconds == doctest::Approx(0.01).epsilon(0.25));
  CHECK(outer->calls == 1);
  CHECK(!profiling());
}

TEST_CASE("no profile, no rows; a scope outliving its profile is dropped") {
  { ProfileScope s("before"); }
  start_profile();
  auto* late = new ProfileScope("late");
  std::vector<ProfileRow> rows = stop_profile();
  CHECK(rows.empty());
  start_profile();
  delete late;  // opened in the last profile: not counted in this one, and no frame of this one popped
  { ProfileScope s("counted"); }
  rows = stop_profile();
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].op == "counted");
}

TEST_CASE("ops: forward and backward rows apart, the ops a backward function calls counted as backward") {
  Philox rng(3);
  const Tensor a = randn({64, 32}, rng).set_requires_grad(), b = randn({32, 16}, rng).set_requires_grad();
  const Tensor c = randn({64, 16}, rng).set_requires_grad();
  start_profile();
  sum(mul(matmul(a, b), c)).backward();
  const std::vector<ProfileRow> rows = stop_profile();
  const ProfileRow* mm = find(rows, "matmul", ProfilePhase::Forward);
  const ProfileRow* mm_back = find(rows, "matmul", ProfilePhase::Backward);
  const ProfileRow* mul_fwd = find(rows, "mul", ProfilePhase::Forward);
  const ProfileRow* mul_back = find(rows, "mul", ProfilePhase::Backward);
  REQUIRE(mm);
  REQUIRE(mm_back);
  REQUIRE(mul_fwd);
  REQUIRE(mul_back);
  CHECK(mm->calls == 1);
  CHECK(mm->flops == 2 * 64 * 32 * 16);        // the forward GEMM's FLOPs, on the forward row
  CHECK(mm_back->flops == 2 * 2 * 64 * 32 * 16);  // dA and dB
  CHECK(mul_fwd->calls == 1);
  CHECK(mul_fwd->bytes == 3 * 64 * 16 * 4);
  CHECK(mul_back->calls == 3);  // the node, and the two products its backward function computes
  CHECK(mm->allocations >= 1);  // its output
}

TEST_CASE("a transformer training step: the rows add up to the step") {
  Philox rng(4);
  nn::Transformer net({.in_states = 28, .out_states = 27, .seq_len = 64, .width = 64, .layers = 2, .heads = 4, .mlp = 256}, rng);
  net.train();
  nn::ParameterArena arena(net);
  nn::Adam adam(arena, nn::AdamConfig{});
  std::vector<int32_t> xv(8 * 64), yv(8 * 64), tv(8);
  for (int32_t& v : xv) v = static_cast<int32_t>(rng.integer(0, 28));
  for (int32_t& v : yv) v = static_cast<int32_t>(rng.integer(0, 27));
  for (int32_t& v : tv) v = static_cast<int32_t>(rng.integer(0, 1000));
  const Tensor x = Tensor::from_vector(xv, {8, 64}), y = Tensor::from_vector(yv, {8, 64}), t = Tensor::from_vector(tv, {8});
  const auto step = training_step(arena, adam, [&] { return cross_entropy(net.forward(x, t, rng), y); });
  step();  // warm up
  const StepProfile p = profile_steps(step, 3);
  check_adds_up(p, "transformer");
  CHECK(find(p.rows, "attention", ProfilePhase::Backward) != nullptr);
  CHECK(find(p.rows, "linear", ProfilePhase::Forward)->flops > 0);
}

TEST_CASE("a U-Net training step: the rows add up to the step, reorders in rows of their own") {
  Philox rng(5);
  nn::UNet net({.in_channels = 3, .out_channels = 3, .resolution = 16, .ch = 32, .ch_mult = {1, 2}, .num_res_blocks = 1,
                .attn_resolutions = {8}, .dropout = 0.1, .groups = 8},
               rng);
  net.train();
  nn::ParameterArena arena(net);
  nn::Adam adam(arena, nn::AdamConfig{});
  const Tensor x = randn({4, 3, 16, 16}, rng), target = randn({4, 3, 16, 16}, rng);
  const Tensor t = Tensor::from_vector(std::vector<int32_t>{1, 200, 500, 999}, {4});
  const auto step = training_step(arena, adam, [&] { return mean(square(sub(net.forward(x, t, rng), target))); });
  step();
  const StepProfile p = profile_steps(step, 3);
  check_adds_up(p, "U-Net");
  CHECK(find(p.rows, "conv2d", ProfilePhase::Forward)->flops > 0);
  CHECK(find(p.rows, "conv2d", ProfilePhase::Backward)->flops > 0);
  CHECK(find(p.rows, "group_norm_silu", ProfilePhase::Forward) != nullptr);
  const ProfileRow* reorder = find(p.rows, "reorder", ProfilePhase::Forward);
  if (reorder) CHECK(reorder->bytes > 0);  // oneDNN picks the layouts: a reorder is there when it wants a blocked one
}
