// Drawing a token from a row of logits: the categorical distribution softmax(logits / temperature), by its
// inverse CDF, the one way every text sampler draws (masked diffusion, MaskGIT, the autoregressive model).
//
// The samplers used to turn the network's whole output [B, L, V] into float64 probabilities at every step,
// when a step draws at a few positions: for masked diffusion, each position once in the whole run. A draw now
// reads only its own row of logits.
#pragma once
#include <cstdint>
#include <vector>

#include "tensor/tensor.hpp"

namespace diffuse::diffusion {

struct TokenDraw {
  int32_t token = 0;
  double log_prob = 0;  // log softmax(logits / temperature)[token]
};

// With e_j = exp((logits[j] - max) / temperature) (float, in SIMD lanes) and Z their sum (in double): the first j
// with u Z < e_0 + ... + e_j, the partial sums in double (the last index should rounding leave u Z above them
// all). u in [0, 1), temperature > 0; a -inf logit is never drawn. `scratch` is resized to K and overwritten.
TokenDraw draw_token(const float* logits, int64_t K, double u, std::vector<float>& scratch, double temperature = 1.0);

// The most probable token (the first of equal ones) and its log-probability at temperature 1.
TokenDraw most_probable_token(const float* logits, int64_t K, std::vector<float>& scratch);

// The index of the largest value of each row of scores [..., K] (float32 or float64, read as they are; the first
// of equal ones): int32 [...]. Greedy decoding, and the clamping trick's nearest word.
Tensor argmax_last(const Tensor& scores);

}  // namespace diffuse::diffusion
