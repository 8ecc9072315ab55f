#include "diffusion/maskgit_decoder.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string>

#include "diffusion/token_draw.hpp"
#include "tensor/autograd.hpp"
#include "tensor/frozen_weights.hpp"
#include "tensor/ops.hpp"

namespace diffuse::diffusion {

int64_t maskgit_schedule(int64_t generated, int64_t k, int64_t steps) {
  const double r = static_cast<double>(k) / static_cast<double>(steps);
  return static_cast<int64_t>(std::floor(static_cast<double>(generated) * std::cos(std::numbers::pi / 2 * r)));
}

MaskGitResult maskgit_decode(const MaskedTokenModel& model, int64_t batch, int64_t length, int64_t vocab, Philox& rng,
                             const MaskGitOptions& options) {
  const int64_t B = batch, L = length, V = vocab, K = options.steps;
  const int32_t mask = static_cast<int32_t>(V);
  if (K < 1) throw std::invalid_argument("MaskGIT: --steps must be at least 1");
  if (options.choice_temperature < 0) throw std::invalid_argument("MaskGIT: the choice temperature must be >= 0");
  NoGradGuard no_grad;
  FrozenWeights frozen_weights;  // the model is fixed throughout: the ops keep what they derive from its weights
  MaskGitResult r;
  r.x0 = Tensor::full({B, L}, mask, DType::I32);
  int32_t* x = r.x0.data<int32_t>();
  std::vector<int64_t> generated(static_cast<size_t>(B), L), masked(static_cast<size_t>(B), L);
  if (options.given.defined()) {
    const Tensor g = options.given.contiguous();
    const bool per_row = g.dim() == 2;
    if (g.dtype() != DType::I32 || (per_row ? (g.size(0) != B || g.size(1) != L) : (g.dim() != 1 || g.size(0) != L)))
      throw std::invalid_argument("MaskGIT: the given tokens must be int32 [" + std::to_string(L) + "] or [" + std::to_string(B) + ", " +
                                  std::to_string(L) + "], got " + describe(g));
    for (int64_t b = 0; b < B; ++b)
      for (int64_t n = 0; n < L; ++n) {
        const int32_t v = g.data<int32_t>()[(per_row ? b * L : 0) + n];
        if (v >= V) throw std::invalid_argument("MaskGIT: given token " + std::to_string(v) + " is not a data token");
        if (v >= 0) {
          x[b * L + n] = v;
          --generated[static_cast<size_t>(b)];
          --masked[static_cast<size_t>(b)];
        }
      }
  }
  const int64_t most = *std::max_element(generated.begin(), generated.end());
  if (K > std::max<int64_t>(most, 1))
    throw std::invalid_argument("MaskGIT: --steps " + std::to_string(K) + " is more than the " + std::to_string(most) +
                                " positions to generate (at least one is unmasked per step)");
  std::vector<double> u(static_cast<size_t>(B * L)), gumbel(static_cast<size_t>(B * L));
  std::vector<int32_t> candidate(static_cast<size_t>(B * L));
  std::vector<double> confidence(static_cast<size_t>(B * L));
  std::vector<float> scratch;
  for (int64_t k = 1; k <= K; ++k) {
    const Tensor logits = model(r.x0).to(DType::F32).contiguous();  // [B, L, V]
    ++r.network_evaluations;
    if (logits.dim() != 3 || logits.size(0) != B || logits.size(1) != L || logits.size(2) != V)
      throw std::invalid_argument("MaskGIT: the network returned " + describe(logits) + ", expected [" + std::to_string(B) + ", " +
                                  std::to_string(L) + ", " + std::to_string(V) + "]");
    rng.fill_uniform(u.data(), B * L);
    rng.fill_gumbel(gumbel.data(), B * L);
    const double tau = options.choice_temperature * (1.0 - static_cast<double>(k) / static_cast<double>(K));
    std::vector<int64_t> after;
    for (int64_t b = 0; b < B; ++b) {
      std::vector<int64_t> open;  // this row's masked positions
      for (int64_t n = 0; n < L; ++n) {
        const int64_t i = b * L + n;
        if (x[i] != mask) continue;
        const float* row = logits.data<float>() + i * V;
        const TokenDraw d = options.argmax_tokens ? most_probable_token(row, V, scratch)
                                                  : draw_token(row, V, u[static_cast<size_t>(i)], scratch);
        candidate[static_cast<size_t>(i)] = d.token;
        confidence[static_cast<size_t>(i)] = d.log_prob + tau * gumbel[static_cast<size_t>(i)];
        open.push_back(n);
      }
      const int64_t before = masked[static_cast<size_t>(b)];
      int64_t keep_masked = k == K ? 0 : std::min(maskgit_schedule(generated[static_cast<size_t>(b)], k, K), before - 1);
      keep_masked = std::max<int64_t>(keep_masked, 0);
      // The before - keep_masked most confident positions take their candidates.
      std::sort(open.begin(), open.end(), [&](int64_t a, int64_t c) {
        return confidence[static_cast<size_t>(b * L + a)] > confidence[static_cast<size_t>(b * L + c)];
      });
      for (int64_t j = 0; j < before - keep_masked; ++j) {
        const int64_t i = b * L + open[static_cast<size_t>(j)];
        x[i] = candidate[static_cast<size_t>(i)];
      }
      masked[static_cast<size_t>(b)] = keep_masked;
      after.push_back(keep_masked);
    }
    r.masked_after_step.push_back(after);
    if (options.on_step) options.on_step();
  }
  return r;
}

}  // namespace diffuse::diffusion
