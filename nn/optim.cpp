#include "nn/optim.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

#include "tensor/kernels.hpp"
#include "tensor/ops.hpp"
#include "tensor/profile.hpp"

namespace diffuse::nn {

Adam::Adam(const ParameterArena& arena, AdamConfig config)
    : arena_(arena),
      config_(config),
      first_moment_(Tensor::zeros({arena.size()})),
      second_moment_(Tensor::zeros({arena.size()})) {}

void Adam::step(double lr) {
  ProfileScope scope("adam", ProfilePhase::Update);
  ++updates_;
  const AdamConfig c = config_;
  const double bc1 = 1.0 - std::pow(c.beta1, static_cast<double>(updates_));
  const double bc2 = 1.0 - std::pow(c.beta2, static_cast<double>(updates_));
  // p -= step_size * m / (sqrt(v) * v_scale + eps) covers both placements of eps:
  //   PyTorch: step_size = lr / bc1, v_scale = 1 / sqrt(bc2)
  //   TF:      step_size = lr sqrt(bc2) / bc1, v_scale = 1
  const float step_size = static_cast<float>(c.tf_epsilon ? lr * std::sqrt(bc2) / bc1 : lr / bc1);
  const float v_scale = static_cast<float>(c.tf_epsilon ? 1.0 : 1.0 / std::sqrt(bc2));
  const float b1 = static_cast<float>(c.beta1), b2 = static_cast<float>(c.beta2), eps = static_cast<float>(c.eps);
  const float wd = static_cast<float>(c.weight_decay), decay = static_cast<float>(1.0 - lr * c.weight_decay);
  const bool decoupled = c.decoupled;
  float* p = arena_.values().data<float>();
  const float* g = arena_.grads().data<float>();
  float* m = first_moment_.data<float>();
  float* v = second_moment_.data<float>();
  kernels::parallel_for(arena_.size(), 1 << 14, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      float gi = g[i];
      if (decoupled) p[i] *= decay;
      else gi += wd * p[i];
      m[i] = b1 * m[i] + (1 - b1) * gi;
      v[i] = b2 * v[i] + (1 - b2) * gi * gi;
      p[i] -= step_size * m[i] / (std::sqrt(v[i]) * v_scale + eps);
    }
  });
}

double LrSchedule::at(int64_t iteration) const {
  if (warmup > 0 && iteration < warmup) return lr * static_cast<double>(iteration) / static_cast<double>(warmup);
  if (!cosine || total_iterations <= warmup) return lr;
  const double progress =
      std::min(1.0, static_cast<double>(iteration - warmup) / static_cast<double>(total_iterations - warmup));
  return min_lr + 0.5 * (lr - min_lr) * (1.0 + std::cos(std::numbers::pi * progress));
}

double clip_grad_norm(const ParameterArena& arena, double max_norm) {
  ProfileScope scope("clip_grad_norm", ProfilePhase::Update);
  // Partial sums over fixed blocks, added in block order: the same bits whatever the thread count.
  const float* g = arena.grads().data<float>();
  const int64_t n = arena.size(), block = 1 << 16, blocks = (n + block - 1) / block;
  std::vector<double> partial(blocks, 0.0);
  kernels::parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      double ss = 0;
      for (int64_t i = b * block; i < std::min(n, (b + 1) * block); ++i) ss += static_cast<double>(g[i]) * g[i];
      partial[b] = ss;
    }
  });
  double ss = 0;
  for (double p : partial) ss += p;
  const double norm = std::sqrt(ss);
  if (max_norm > 0 && norm > max_norm) scale_(arena.grads(), max_norm / (norm + 1e-6));
  return norm;
}

Ema::Ema(const ParameterArena& arena, double decay, bool warmup)
    : arena_(arena), decay_(decay), warmup_(warmup), ema_(arena.values().clone()) {
  if (decay < 0 || decay > 1) throw std::invalid_argument("ema: decay " + std::to_string(decay) + " is outside [0, 1]");
}

double Ema::decay_at(int64_t iteration) const {
  if (!warmup_) return decay_;
  return std::min(decay_, (1.0 + static_cast<double>(iteration)) / (10.0 + static_cast<double>(iteration)));
}

void Ema::update(int64_t iteration) {
  ProfileScope scope("ema", ProfilePhase::Update);
  const float d = static_cast<float>(decay_at(iteration));
  const float* p = arena_.values().data<float>();
  float* e = ema_.data<float>();
  kernels::parallel_for(arena_.size(), 1 << 14, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) e[i] = d * e[i] + (1 - d) * p[i];
  });
}

void Ema::swap() {
  float* p = arena_.values().data<float>();
  float* e = ema_.data<float>();
  for (int64_t i = 0; i < arena_.size(); ++i) std::swap(p[i], e[i]);
}

}  // namespace diffuse::nn
