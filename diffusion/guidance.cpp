#include "diffusion/guidance.hpp"

#include <stdexcept>
#include <string>

#include "diffusion/gaussian_diffusion.hpp"
#include "tensor/autograd.hpp"
#include "tensor/ops.hpp"

namespace diffuse::diffusion {

Tensor guide_mean(const VectorGuidance& guidance, const ClassLogProb& log_prob, const Tensor& mean, double variance,
                  int64_t chain_step, int64_t model_step) {
  if (guidance.updates < 0 || !(guidance.step_size > 0) || guidance.fluency < 0 || !(variance > 0))
    throw std::invalid_argument("guidance: updates >= 0, step_size > 0, fluency >= 0 and a positive variance are needed");
  if (chain_step < guidance.skip_last || guidance.updates == 0) return mean;
  const Tensor step = step_tensor(mean.size(0), model_step);
  Tensor x = mean.detach().clone();
  Tensor accumulated = Tensor::zeros(mean.shape(), mean.dtype());  // G, the running sum of g^2
  for (int64_t i = 0; i < guidance.updates; ++i) {
    Tensor g;
    {
      EnableGradGuard grad;  // the sampler around runs without a tape
      Tensor leaf = x.detach().clone();
      leaf.set_requires_grad(true);
      (-sum(log_prob(leaf, step))).backward();
      g = leaf.grad().detach();
    }
    NoGradGuard no_grad;
    accumulated = accumulated + square(g);
    const Tensor eta = pow(sqrt(accumulated) + 1e-10, -1.0) * guidance.step_size;  // Adagrad's per-element step
    const Tensor c = eta * (2.0 * guidance.fluency / variance);
    x = (x - eta * g + c * mean) / (c + 1.0);
  }
  return x.detach();
}

}  // namespace diffuse::diffusion
