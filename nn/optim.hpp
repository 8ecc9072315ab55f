// Optimisation over the parameter arena: Adam / AdamW, the learning-rate schedule, global
// gradient-norm clipping, and the EMA of the weights. Each is one loop over the flat arrays.
#pragma once
#include <cstdint>

#include "nn/arena.hpp"

namespace diffuse::nn {

struct AdamConfig {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  // false: Adam with L2 (g += wd * p, as torch.optim.Adam); true: AdamW, p -= lr * wd * p before the update.
  bool decoupled = false;
  // Where eps goes (m, v: the first and second moments; n: the update count). PyTorch:
  // p -= lr * mhat / (sqrt(vhat) + eps) with mhat = m / (1 - b1^n), vhat = v / (1 - b2^n). TensorFlow (the
  // DDPM reference): p -= lr_n * m / (sqrt(v) + eps) with lr_n = lr sqrt(1 - b2^n) / (1 - b1^n), i.e. eps
  // enters after the bias correction.
  bool tf_epsilon = false;
};

class Adam {
 public:
  Adam(const ParameterArena& arena, AdamConfig config);
  // One update of every parameter from the arena's gradients, at learning rate lr.
  void step(double lr);

  const AdamConfig& config() const { return config_; }
  // The number of updates taken (the bias corrections' exponent).
  int64_t updates() const { return updates_; }
  void set_updates(int64_t count) { updates_ = count; }
  const Tensor& first_moment() const { return first_moment_; }    // m, arena-shaped
  const Tensor& second_moment() const { return second_moment_; }  // v, arena-shaped

 private:
  const ParameterArena& arena_;
  AdamConfig config_;
  Tensor first_moment_, second_moment_;
  int64_t updates_ = 0;
};

// Linear warmup from 0 over `warmup` training iterations (lr * iteration / warmup, as the DDPM reference),
// then constant, or a cosine decay from lr to min_lr that ends at total_iterations. `iteration` counts from 1.
struct LrSchedule {
  double lr = 2e-4;
  int64_t warmup = 0;
  bool cosine = false;
  int64_t total_iterations = 0;
  double min_lr = 0.0;
  double at(int64_t iteration) const;
};

// Scales the gradients so that their global L2 norm is at most max_norm (max_norm <= 0: no clipping).
// Returns the norm before clipping.
double clip_grad_norm(const ParameterArena& arena, double max_norm);

// Exponential moving average of the weights: ema = d * ema + (1 - d) * param after each update, starting
// as an exact copy. Schedule constants never live here: only the arena's parameters.
//
// d is the configured decay, or with warm-up d_n = min(decay, (1 + n) / (10 + n)) at training iteration n
// (TensorFlow's ExponentialMovingAverage with num_updates): early iterations average over few updates, so a
// short run's EMA is not dominated by its random initial weights (0.999^600 = 55% of them remain).
class Ema {
 public:
  Ema(const ParameterArena& arena, double decay, bool warmup = false);
  double decay_at(int64_t iteration) const;
  void update(int64_t iteration);
  // Exchanges the EMA weights with the live ones (call twice to restore): evaluate and sample with EMA.
  void swap();
  const Tensor& values() const { return ema_; }  // arena-shaped
  double decay() const { return decay_; }

 private:
  const ParameterArena& arena_;
  double decay_;
  bool warmup_;
  Tensor ema_;
};

}  // namespace diffuse::nn
