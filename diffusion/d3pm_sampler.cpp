// Ancestral D3PM sampling with step skipping and progressive output.
#include "diffusion/d3pm_sampler.hpp"

#include <algorithm>
#include <stdexcept>

#include "tensor/autograd.hpp"
#include "tensor/conv2d.hpp"

namespace diffuse::diffusion {

std::vector<int64_t> d3pm_reverse_steps(int64_t timesteps, int64_t reverse_steps) {
  if (reverse_steps < 1 || reverse_steps > timesteps)
    throw std::invalid_argument("d3pm_reverse_steps: reverse_steps must be in 1..T = " + std::to_string(timesteps) +
                                ", got " + std::to_string(reverse_steps));
  std::vector<int64_t> visited;
  for (int64_t i = reverse_steps; i >= 1; --i) visited.push_back(i * timesteps / reverse_steps);
  return visited;
}

D3pmSampleResult d3pm_sample(const X0Model& model, const D3pm& d3pm, int64_t batch, int64_t length, Philox& rng,
                             const D3pmSampleOptions& options) {
  NoGradGuard no_grad;
  FrozenWeights frozen_weights;  // the model is fixed throughout: the ops keep what they derive from its weights
  if (options.skip < 1) throw std::invalid_argument("d3pm_sample: skip must be >= 1");
  if (batch < 1 || length < 1) throw std::invalid_argument("d3pm_sample: batch and length must be >= 1");
  const int64_t T = d3pm.timesteps();
  D3pmSampleResult r;
  Tensor x;
  if (options.x_T.defined()) {
    if (options.x_T.dtype() != DType::I32 || options.x_T.shape() != Shape{batch, length})
      throw std::invalid_argument("d3pm_sample: x_T must be int32 [batch, length]");
    x = options.x_T.contiguous();
  } else {
    x = d3pm.prior_sample(batch, length, rng);
  }
  auto record = [&](int64_t t) {
    const bool every = options.record_every > 0 && t % options.record_every == 0;
    const bool listed = std::find(options.record_at.begin(), options.record_at.end(), t) != options.record_at.end();
    if (every || listed) {
      r.recorded_t.push_back(t);
      r.recorded.push_back(x.clone());
    }
  };
  std::vector<int64_t> visited;  // then s = the next entry, or 0 after the last
  if (options.steps > 0) {
    visited = d3pm_reverse_steps(T, options.steps);
  } else {
    for (int64_t t = T; t > 0; t -= options.skip) visited.push_back(t);
  }
  record(T);
  for (size_t i = 0; i < visited.size(); ++i) {
    const int64_t t = visited[i], s = i + 1 < visited.size() ? visited[i + 1] : 0;
    const Tensor t_batch = D3pm::t_tensor(batch, t);
    const Tensor logits = model(x, D3pm::model_step(t_batch));
    ++r.network_evaluations;
    r.visited.push_back(t);
    const Tensor plog =
        t - s == 1 ? d3pm.p_logits(logits, x, t_batch) : d3pm.p_logits_skip(logits, x, t_batch, D3pm::t_tensor(batch, s));
    x = options.argmax ? argmax_last(plog) : sample_categorical(plog, rng);
    record(s);
  }
  r.x0 = x;
  return r;
}

}  // namespace diffuse::diffusion
