#include "diffusion/guidance.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

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
    const Tensor g = -class_log_prob_gradient(log_prob, x, step);  // the sampler around runs without a tape
    NoGradGuard no_grad;
    accumulated = accumulated + square(g);
    const Tensor eta = pow(sqrt(accumulated) + 1e-10, -1.0) * guidance.step_size;  // Adagrad's per-element step
    const Tensor c = eta * (2.0 * guidance.fluency / variance);
    x = (x - eta * g + c * mean) / (c + 1.0);
  }
  return x.detach();
}

Tensor drop_labels(const Tensor& labels, int32_t null_label, double p_uncond, Philox& rng) {
  if (!(p_uncond >= 0.0 && p_uncond <= 1.0)) {
    char got[32];
    std::snprintf(got, sizeof got, "%g", p_uncond);
    throw std::invalid_argument(std::string("train.p_uncond: the probability of dropping a label must be in [0, 1], got ") + got);
  }
  if (labels.dtype() != DType::I32 || labels.dim() != 1)
    throw std::invalid_argument("drop_labels: expected int32 labels [B], got " + describe(labels));
  const int64_t B = labels.size(0);
  std::vector<double> u(static_cast<size_t>(B));
  rng.fill_uniform(u.data(), B);
  const Tensor in = labels.contiguous();
  std::vector<int32_t> out(in.data<int32_t>(), in.data<int32_t>() + B);
  for (int64_t b = 0; b < B; ++b)
    if (u[static_cast<size_t>(b)] < p_uncond) out[static_cast<size_t>(b)] = null_label;
  return Tensor::from_vector(out, {B});
}

EpsModel classifier_free_eps(ConditionalEpsModel model, Tensor labels, int32_t null_label, double w) {
  return [model = std::move(model), labels = std::move(labels), null_label, w](const Tensor& x_t, const Tensor& step) {
    if (w == 0.0) return model(x_t, step, labels);
    const int64_t B = x_t.size(0);
    const Tensor both = model(concat({x_t, x_t}, 0), concat({step, step}, 0),
                              concat({labels, Tensor::full({B}, static_cast<double>(null_label), DType::I32)}, 0));
    const Tensor conditional = both.narrow(0, 0, B), unconditional = both.narrow(0, B, B);
    return conditional * (1.0 + w) - unconditional * w;  // Ho & Salimans eq. 6
  };
}

Tensor class_log_prob_gradient(const ClassLogProb& log_prob, const Tensor& x, const Tensor& step) {
  EnableGradGuard grad;
  Tensor leaf = x.detach().clone();
  leaf.set_requires_grad(true);
  sum(log_prob(leaf, step)).backward();
  return leaf.grad().detach();
}

Tensor classifier_guided_mean(const Tensor& mean, const Tensor& variance, const Tensor& gradient, double scale) {
  return mean + variance * gradient * scale;  // Dhariwal & Nichol Algorithm 1: mu + s Sigma grad log p_phi(y | x_t)
}

Tensor classifier_guided_eps(const GaussianDiffusion& diffusion, const Tensor& eps, const Tensor& step, const Tensor& gradient,
                             double scale) {
  // Dhariwal & Nichol eq. 14: eps^ = eps_theta(x_t) - sqrt(1 - abar_t) grad log p_phi(y | x_t)
  return eps - diffusion.extract(diffusion.schedule().sqrt_one_minus_alphas_cumprod, step, eps) * gradient * scale;
}

X0Model classifier_free_x0(ConditionalX0Model model, Tensor labels, int32_t null_label, double w) {
  return [model = std::move(model), labels = std::move(labels), null_label, w](const Tensor& x_t, const Tensor& step) {
    if (w == 0.0) return model(x_t, step, labels);
    const int64_t B = x_t.size(0);
    const Tensor both = model(concat({x_t, x_t}, 0), concat({step, step}, 0),
                              concat({labels, Tensor::full({B}, static_cast<double>(null_label), DType::I32)}, 0));
    const Tensor conditional = log_softmax(both.narrow(0, 0, B)), unconditional = log_softmax(both.narrow(0, B, B));
    return log_softmax(conditional + (conditional - unconditional) * w);  // Tang et al. §3.2 with s = 1 + w
  };
}

// [..., K] -> [..., K]: per row, the kept states' log p - log(sum of kept p), -inf elsewhere.
Tensor truncate_logits(const Tensor& logits, double r, int64_t excluded) {
  if (!(r > 0 && r <= 1)) throw std::invalid_argument("--truncation: r in (0, 1], got " + std::to_string(r));
  NoGradGuard no_grad;
  const int64_t K = logits.size(-1), rows = logits.numel() / K;
  const Tensor z = logits.to(DType::F64).contiguous();
  Tensor out = Tensor::empty(logits.shape(), DType::F64);
  std::vector<double> p(static_cast<size_t>(K));
  std::vector<int64_t> order(static_cast<size_t>(K));
  for (int64_t row = 0; row < rows; ++row) {
    const double* in = z.data<double>() + row * K;
    double* o = out.data<double>() + row * K;
    double top = -std::numeric_limits<double>::infinity(), total = 0;
    for (int64_t k = 0; k < K; ++k)
      if (k != excluded) top = std::max(top, in[k]);
    for (int64_t k = 0; k < K; ++k) total += (p[static_cast<size_t>(k)] = k == excluded ? 0.0 : std::exp(in[k] - top));
    for (int64_t k = 0; k < K; ++k) p[static_cast<size_t>(k)] /= total;
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return p[static_cast<size_t>(a)] > p[static_cast<size_t>(b)]; });
    double kept = 0;
    std::fill(o, o + K, -std::numeric_limits<double>::infinity());
    for (int64_t i = 0; i < K; ++i) {
      const int64_t k = order[static_cast<size_t>(i)];
      if (p[static_cast<size_t>(k)] <= 0 || (kept >= r && i > 0)) break;
      kept += p[static_cast<size_t>(k)];
      o[k] = 0;  // marked: filled below
    }
    for (int64_t k = 0; k < K; ++k)
      if (o[k] == 0) o[k] = std::log(p[static_cast<size_t>(k)] / kept);
  }
  return out.to(logits.dtype());
}

X0Model truncated_x0(X0Model model, double r, int64_t excluded) {
  (void)truncate_logits(Tensor::zeros({1, 2}), r);  // the range check, before any network evaluation
  return [model = std::move(model), r, excluded](const Tensor& x_t, const Tensor& step) {
    return truncate_logits(model(x_t, step), r, excluded);
  };
}

}  // namespace diffuse::diffusion
