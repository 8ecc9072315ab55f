// The autoregressive baseline of the text families: p_theta(x) = prod_n p_theta(x^n | x^{<n}), a causal
// transformer (nn::Transformer with causal = true) trained by next-token cross-entropy. Its negative
// log-likelihood is exact, so its bits/char on the test chunks are the figure the diffusion models' bounds
// are measured against (MD4 Table 1, MDLM Table 1). docs/math.md §6.6.
//
// Each sequence of L tokens is read with a beginning-of-sequence id in front: the network sees
// [bos, x^0, ..., x^{L-2}] and its output at position n is the logits of p(x^n | x^{<n}); bos is the one
// id outside the data (the text families' mask id), so the first token is predicted from nothing.
//
// Shapes: x int32 [B, L] (ids 0..V-1), logits [B, L, V].
#pragma once
#include <functional>

#include "tensor/random.hpp"
#include "tensor/tensor.hpp"

namespace diffuse::diffusion {

// The causal network: inputs int32 [B, L] -> logits [B, L, V].
using NextTokenModel = std::function<Tensor(const Tensor& inputs)>;

// [bos, x^0, ..., x^{L-2}]: int32 [B, L].
Tensor shifted_inputs(const Tensor& x, int32_t bos);

// -log p_theta(x) = sum over n of -log softmax(logits)[n][x^n]: [B], nats, differentiable in logits.
Tensor sequence_nll(const Tensor& logits, const Tensor& x);

struct NextTokenLoss {
  Tensor loss;  // scalar: the batch mean of nll over L ln 2 (bits per token), differentiable
  Tensor nll;   // [B], nats
};
NextTokenLoss next_token_loss(const NextTokenModel& model, const Tensor& x, int32_t bos);

struct AutoregressiveSampleOptions {
  double temperature = 1.0;  // the logits are divided by it
  Tensor prefix;             // int32 [P] tokens every sample starts with (undefined: none)
};

// Ancestral sampling, one token at a time from position P (the prefix's length) to L - 1: the network runs
// on the prefix so far (causal, so the longer input does not change earlier outputs) and the token is drawn
// from softmax(logits / temperature) by inverse CDF on one double uniform per row per position from rng.
// Returns int32 [batch, length]; `evaluations` (if given) counts the network runs.
Tensor autoregressive_sample(const NextTokenModel& model, int64_t batch, int64_t length, int64_t vocab, int32_t bos, Philox& rng,
                             const AutoregressiveSampleOptions& options = {}, int64_t* evaluations = nullptr);

}  // namespace diffuse::diffusion
