// A small model and training loop shared by the nn tests: Linear -> LayerNorm -> GELU -> Dropout ->
// Linear on generated regression data, so that the parameters, the RNG (data and dropout) and the
// optimizer state all matter for reproducing a run.
#pragma once
#include "nn/arena.hpp"
#include "nn/layers.hpp"
#include "nn/optim.hpp"
#include "tensor/ops.hpp"

namespace diffuse::testing {

struct TinyNet : nn::Module {
  explicit TinyNet(Philox& rng)
      : fc1(register_module("fc1", std::make_shared<nn::Linear>(6, 16, nn::Init::VarianceScaling, rng))),
        norm(register_module("norm", std::make_shared<nn::LayerNorm>(16))),
        drop(register_module("drop", std::make_shared<nn::Dropout>(0.1))),
        fc2(register_module("fc2", std::make_shared<nn::Linear>(16, 2, nn::Init::Normal002, rng))) {}
  Tensor forward(const Tensor& x, Philox& rng) const {
    return fc2->forward(drop->forward(gelu(norm->forward(fc1->forward(x))), rng));
  }
  std::shared_ptr<nn::Linear> fc1;
  std::shared_ptr<nn::LayerNorm> norm;
  std::shared_ptr<nn::Dropout> drop;
  std::shared_ptr<nn::Linear> fc2;
};

// Everything a run needs, built the same way from a seed.
struct TinyRun {
  explicit TinyRun(uint64_t seed)
      : init_rng(seed, 0), net(init_rng), arena(net), adam(arena, nn::AdamConfig{}), ema(arena, 0.9),
        data_rng(seed, 1), dropout_rng(seed, 2) {
    schedule.lr = 1e-2;
    schedule.warmup = 3;
  }
  // One optimizer step over `micro` micro-batches of `batch` examples each; returns the mean loss.
  double step(int64_t batch = 8, int micro = 1) {
    arena.zero_grad();
    double total = 0;
    for (int k = 0; k < micro; ++k) {
      const Tensor x = randn({batch, 6}, data_rng);
      const Tensor target = sum(x * x, {1}, true).expand({batch, 2}).contiguous();
      const Tensor loss = mean(square(net.forward(x, dropout_rng) - target)) * (1.0 / micro);
      loss.backward();
      total += loss.item();
    }
    nn::clip_grad_norm(arena, 1.0);
    adam.step(schedule.at(adam.updates() + 1));
    ema.update(adam.updates());
    return total;
  }
  Philox init_rng;
  TinyNet net;
  nn::ParameterArena arena;
  nn::Adam adam;
  nn::Ema ema;
  nn::LrSchedule schedule;
  Philox data_rng, dropout_rng;
};

}  // namespace diffuse::testing
