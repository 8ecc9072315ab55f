#include "diffusion/autoregressive.hpp"

#include <numbers>
#include <stdexcept>
#include <string>
#include <vector>

#include "tensor/autograd.hpp"
#include "tensor/ops.hpp"

namespace diffuse::diffusion {

Tensor shifted_inputs(const Tensor& x, int32_t bos) {
  if (x.dtype() != DType::I32 || x.dim() != 2) throw std::invalid_argument("autoregressive: expected int32 x [B, L], got " + describe(x));
  const int64_t B = x.size(0), L = x.size(1);
  const Tensor xc = x.contiguous();
  Tensor in = Tensor::empty({B, L}, DType::I32);
  for (int64_t b = 0; b < B; ++b) {
    in.data<int32_t>()[b * L] = bos;
    for (int64_t n = 1; n < L; ++n) in.data<int32_t>()[b * L + n] = xc.data<int32_t>()[b * L + n - 1];
  }
  return in;
}

Tensor sequence_nll(const Tensor& logits, const Tensor& x) {
  if (logits.dim() != 3 || logits.size(0) != x.size(0) || logits.size(1) != x.size(1))
    throw std::invalid_argument("autoregressive: logits " + describe(logits) + " do not match x " + describe(x));
  return sum(cross_entropy(logits, x, Reduction::None), {1});
}

NextTokenLoss next_token_loss(const NextTokenModel& model, const Tensor& x, int32_t bos) {
  NextTokenLoss out;
  out.nll = sequence_nll(model(shifted_inputs(x, bos)), x);
  out.loss = mul(mean(out.nll), 1.0 / (static_cast<double>(x.size(1)) * std::numbers::ln2));
  return out;
}

Tensor autoregressive_sample(const NextTokenModel& model, int64_t batch, int64_t length, int64_t vocab, int32_t bos, Philox& rng,
                             const AutoregressiveSampleOptions& options, int64_t* evaluations) {
  if (!(options.temperature > 0)) throw std::invalid_argument("--temperature: must be positive");
  const int64_t P = options.prefix.defined() ? options.prefix.numel() : 0;
  if (P > length) throw std::invalid_argument("autoregressive sampling: a prefix of " + std::to_string(P) + " tokens is longer than " + std::to_string(length));
  NoGradGuard no_grad;
  const int64_t B = batch, L = length, V = vocab;
  // inputs[b] = [bos, x^0, ..., x^{L-2}]; x^n is written into inputs[n + 1] as it is drawn.
  Tensor x = Tensor::zeros({B, L}, DType::I32);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t n = 0; n < P; ++n) {
      const int32_t v = options.prefix.contiguous().data<int32_t>()[n];
      if (v < 0 || v >= V) throw std::invalid_argument("autoregressive sampling: prefix token " + std::to_string(v) + " is not a data token");
      x.data<int32_t>()[b * L + n] = v;
    }
  std::vector<double> u(static_cast<size_t>(B));
  for (int64_t n = P; n < L; ++n) {
    // Positions 0..n of the shifted input decide x^n.
    const Tensor in = shifted_inputs(x, bos).narrow(1, 0, n + 1).contiguous();
    const Tensor logits = model(in).narrow(1, n, 1).to(DType::F64).contiguous();  // [B, 1, V]
    if (evaluations) ++*evaluations;
    const Tensor p = softmax(mul(logits, 1.0 / options.temperature), -1).contiguous();
    rng.fill_uniform(u.data(), B);
    for (int64_t b = 0; b < B; ++b) {
      const double* row = p.data<double>() + b * V;
      double c = 0;
      int32_t v = static_cast<int32_t>(V - 1);
      for (int64_t j = 0; j < V; ++j) {
        c += row[j];
        if (u[static_cast<size_t>(b)] < c) {
          v = static_cast<int32_t>(j);
          break;
        }
      }
      x.data<int32_t>()[b * L + n] = v;
    }
  }
  return x;
}

}  // namespace diffuse::diffusion
