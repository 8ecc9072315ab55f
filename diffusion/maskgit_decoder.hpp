// MaskGIT's confidence-ordered decoding (Chang et al. 2022, "MaskGIT: Masked Generative Image Transformer",
// §3.2 and Algorithm 1) for any absorbing/masked text model: docs/math.md §6.8.
//
// Start from all mask (except the given positions). At step k = 1..K, with N the number of positions to
// generate and n_{k-1} of them still masked:
//   1. run the network once on x; at every masked position draw a candidate token from softmax(logits)
//      (or take the argmax) and note its probability p;
//   2. confidence = log p + tau_k g, with g standard Gumbel noise and tau_k = tau (1 - k/K) (MaskGIT's
//      annealed "choice temperature"; tau = 0: pure confidence);
//   3. n_k = floor(N cos(pi/2 k/K)) positions stay masked (the cosine mask schedule gamma), clamped so that
//      at least one position is unmasked per step (n_k <= n_{k-1} - 1) and n_K = 0;
//   4. the n_{k-1} - n_k most confident masked positions take their candidates; the others stay masked.
// Unmasked and given positions never change. K network evaluations, K <= N (a row of a batch with fewer
// than K positions to generate finishes early).
//
// Shapes: the model maps x int32 [B, L] (ids 0..V-1, the mask V) to logits [B, L, V] over the data tokens.
#pragma once
#include <functional>
#include <vector>

#include "tensor/random.hpp"
#include "tensor/tensor.hpp"

namespace diffuse::diffusion {

using MaskedTokenModel = std::function<Tensor(const Tensor& x)>;

struct MaskGitOptions {
  int64_t steps = 16;              // K
  double choice_temperature = 4.5; // tau (MaskGIT's default for ImageNet)
  bool argmax_tokens = false;      // candidates: the most likely token instead of a draw
  Tensor given;                    // int32 [L] or [B, L]: fixed tokens, -1 where to generate
  std::function<void()> on_step;   // after each step (progress), or empty
};

struct MaskGitResult {
  Tensor x0;                               // int32 [B, L]
  std::vector<std::vector<int64_t>> masked_after_step;  // [k][b]: positions still masked after step k + 1
  int64_t network_evaluations = 0;         // K (batched over B)
};

// The number of positions still masked after step k of K when N are generated: floor(N cos(pi/2 k/K)) before
// the clamping of step 3 (exposed for tests).
int64_t maskgit_schedule(int64_t generated, int64_t k, int64_t steps);

MaskGitResult maskgit_decode(const MaskedTokenModel& model, int64_t batch, int64_t length, int64_t vocab, Philox& rng,
                             const MaskGitOptions& options = {});

}  // namespace diffuse::diffusion
