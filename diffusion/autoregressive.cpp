#include "diffusion/autoregressive.hpp"

#include <algorithm>
#include <numbers>
#include <stdexcept>
#include <string>
#include <vector>

#include "diffusion/token_draw.hpp"
#include "tensor/autograd.hpp"
#include "tensor/frozen_weights.hpp"
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

namespace {
// 1 at the positions scored (not given): [B, L] of `dtype`.
Tensor scored_positions(const Tensor& given, const Tensor& x, DType dtype) {
  if (given.dtype() != DType::I32 || given.shape() != x.shape())
    throw std::invalid_argument("autoregressive: given must be int32 " + describe(x) + ", got " + describe(given));
  return given.to(dtype) * -1.0 + 1.0;
}
}  // namespace

Tensor sequence_nll(const Tensor& logits, const Tensor& x, const Tensor& given) {
  if (logits.dim() != 3 || logits.size(0) != x.size(0) || logits.size(1) != x.size(1))
    throw std::invalid_argument("autoregressive: logits " + describe(logits) + " do not match x " + describe(x));
  if (!given.defined()) return sum(cross_entropy(logits, x, Reduction::None), {1});
  return sum(cross_entropy(logits, x, Reduction::None, scored_positions(given, x, logits.dtype())), {1});
}

NextTokenLoss next_token_loss(const NextTokenModel& model, const Tensor& x, int32_t bos, const Tensor& given) {
  NextTokenLoss out;
  out.nll = sequence_nll(model(shifted_inputs(x, bos)), x, given);
  if (!given.defined()) {
    out.loss = mul(mean(out.nll), 1.0 / (static_cast<double>(x.size(1)) * std::numbers::ln2));
    return out;
  }
  const double scored = sum(scored_positions(given, x, DType::F64)).item();
  out.loss = mul(sum(out.nll), 1.0 / (std::max(scored, 1.0) * std::numbers::ln2));
  return out;
}

Tensor autoregressive_sample(const NextTokenModel& model, int64_t batch, int64_t length, int64_t vocab, int32_t bos, Philox& rng,
                             const AutoregressiveSampleOptions& options, int64_t* evaluations) {
  if (!options.greedy && !(options.temperature > 0)) throw std::invalid_argument("--temperature: must be positive");
  const int64_t P = options.prefix.defined() ? options.prefix.numel() : 0;
  if (P > length) throw std::invalid_argument("autoregressive sampling: a prefix of " + std::to_string(P) + " tokens is longer than " + std::to_string(length));
  NoGradGuard no_grad;
  FrozenWeights frozen_weights;  // the model is fixed throughout: the ops keep what they derive from its weights
  const int64_t B = batch, L = length, V = vocab;
  // fixed[b * L + n]: the token row b gives at n, or -1 where it is drawn (the prefix and `given` together).
  std::vector<int32_t> fixed(static_cast<size_t>(B * L), -1);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t n = 0; n < P; ++n) fixed[static_cast<size_t>(b * L + n)] = options.prefix.contiguous().data<int32_t>()[n];
  if (options.given.defined()) {
    const Tensor g = options.given.contiguous();
    if (g.dtype() != DType::I32 || g.dim() != 2 || g.size(0) != B || g.size(1) != L)
      throw std::invalid_argument("autoregressive sampling: given must be int32 [" + std::to_string(B) + ", " + std::to_string(L) +
                                  "], got " + describe(g));
    for (int64_t i = 0; i < B * L; ++i)
      if (g.data<int32_t>()[i] >= 0) fixed[static_cast<size_t>(i)] = g.data<int32_t>()[i];
  }
  for (const int32_t v : fixed)
    if (v >= V) throw std::invalid_argument("autoregressive sampling: given token " + std::to_string(v) + " is not a data token");
  // x^n is written into x as it is drawn; inputs are [bos, x^0, ..., x^{L-2}].
  Tensor x = Tensor::zeros({B, L}, DType::I32);
  int32_t* xs = x.data<int32_t>();
  int64_t first = L;  // the first position some row draws
  for (int64_t i = 0; i < B * L; ++i) {
    if (fixed[static_cast<size_t>(i)] >= 0) xs[i] = fixed[static_cast<size_t>(i)];
    else first = std::min(first, i % L);
  }
  std::vector<bool> done(static_cast<size_t>(B), false);
  std::vector<double> u(static_cast<size_t>(B));
  std::vector<float> scratch;
  for (int64_t n = first; n < L; ++n) {
    if (std::all_of(done.begin(), done.end(), [](bool d) { return d; })) {
      for (int64_t b = 0; b < B; ++b)
        for (int64_t k = n; k < L; ++k) xs[b * L + k] = options.fill_id;
      break;
    }
    // Positions 0..n of the shifted input decide x^n.
    const Tensor in = shifted_inputs(x, bos).narrow(1, 0, n + 1).contiguous();
    const Tensor logits = model(in).narrow(1, n, 1).to(DType::F32).contiguous();  // [B, 1, V]
    if (evaluations) ++*evaluations;
    rng.fill_uniform(u.data(), B);
    for (int64_t b = 0; b < B; ++b) {
      const size_t i = static_cast<size_t>(b * L + n);
      if (done[static_cast<size_t>(b)]) {
        xs[i] = options.fill_id;
        continue;
      }
      if (fixed[i] >= 0) continue;
      const float* row = logits.data<float>() + b * V;
      const int32_t v = options.greedy ? most_probable_token(row, V, scratch).token
                                       : draw_token(row, V, u[static_cast<size_t>(b)], scratch, options.temperature).token;
      xs[i] = v;
      if (options.stop_id >= 0 && v == options.stop_id) done[static_cast<size_t>(b)] = true;
    }
  }
  return x;
}

}  // namespace diffuse::diffusion
