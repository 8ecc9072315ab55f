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

// -log p_theta(x) = sum over n of -log softmax(logits)[n][x^n]: [B], nats, differentiable in logits. With
// `given` (int32 [B, L], 1 where given, or undefined) the sum leaves the given positions out: the NLL of the
// rest given them (a pair's target given its source, docs/math.md §9.3).
Tensor sequence_nll(const Tensor& logits, const Tensor& x, const Tensor& given = Tensor());

struct NextTokenLoss {
  Tensor loss;  // scalar: the batch's nats over its scored positions and ln 2 (bits per scored token), differentiable
  Tensor nll;   // [B], nats of each row's scored positions
};
// The loss of every position, or of the positions not given (given int32 [B, L], 1 where given).
NextTokenLoss next_token_loss(const NextTokenModel& model, const Tensor& x, int32_t bos, const Tensor& given = Tensor());

struct AutoregressiveSampleOptions {
  double temperature = 1.0;  // the logits are divided by it
  bool greedy = false;       // take the most likely token (the first on ties) instead of a draw
  Tensor prefix;             // int32 [P] tokens every sample starts with (undefined: none)
  // int32 [B, L]: a row's token where it is given (a pair's source), -1 where it is drawn. A given position
  // takes its token whatever the network says (teacher forcing); rows may give different positions.
  Tensor given;
  // When >= 0: once a row has drawn this id (the target's <eos>), its later positions are fill_id and it is
  // done; sampling ends when every row is done.
  int32_t stop_id = -1;
  int32_t fill_id = 0;
};

// Ancestral sampling, one token at a time from the first position some row does not give (P, the prefix's
// length, without `given`) to L - 1: the network runs on the positions so far (causal, so the longer input
// does not change earlier outputs) and the token is drawn from softmax(logits / temperature) by inverse CDF
// on one double uniform per row per position from rng (drawn whether or not a row uses it), or taken as the
// argmax (greedy). Returns int32 [batch, length]; `evaluations` (if given) counts the network runs.
Tensor autoregressive_sample(const NextTokenModel& model, int64_t batch, int64_t length, int64_t vocab, int32_t bos, Philox& rng,
                             const AutoregressiveSampleOptions& options = {}, int64_t* evaluations = nullptr);

}  // namespace diffuse::diffusion
