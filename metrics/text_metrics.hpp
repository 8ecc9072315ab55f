// Statistics of generated text, for comparing text models by their samples (docs/math.md §6.7):
//
// - Generative perplexity (MDLM §4.1, SEDD §5.2): the samples' perplexity under a teacher language model,
//   exp(total negative log-likelihood / total tokens). MDLM and SEDD use GPT-2 Large; here the teacher is
//   any sequence scorer (the engine's own autoregressive model), and a sample longer than the teacher's
//   window is scored in consecutive windows, each read from its start.
// - Unigram entropy: H = -sum_c p(c) log2 p(c) of the samples' token frequencies (bytes of character text,
//   or token ids of word text), to set beside the test split's: a model that collapses into repetition
//   scores well on generative perplexity and low here.
// - Distinct-n (Li et al. 2016, "A Diversity-Promoting Objective Function for Neural Conversation
//   Models"): the number of distinct word n-grams over the total number of word n-grams, over all samples
//   (words split at spaces).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "tensor/tensor.hpp"

namespace diffuse::metrics {

// Shannon entropy in bits of the byte frequencies of all `texts` together (0 for no bytes).
double unigram_entropy_bits(const std::vector<std::string_view>& texts);
// Shannon entropy in bits of the frequencies of the ids (non-negative) in all `sequences` together (0 for
// none). Throws std::invalid_argument on a negative id.
double id_entropy_bits(const std::vector<std::vector<int32_t>>& sequences);

// distinct-n for n = 1..max_n: entry n - 1 is distinct / total word n-grams (0 when there are none).
std::vector<double> distinct_n(const std::vector<std::string_view>& texts, int64_t max_n);

// Negative log-likelihoods of a batch of token windows under the teacher: ids int32 [B, W] -> nats [B].
using SequenceScorer = std::function<Tensor(const Tensor& ids)>;

struct GenerativePerplexity {
  double nats = 0;        // total over all tokens
  int64_t tokens = 0;
  int64_t windows = 0;
  double perplexity() const;          // exp(nats / tokens)
  double bits_per_token() const;      // nats / (tokens ln 2)
};

// Scores each sample (int32 ids [L_i], any lengths) in windows of at most `window` tokens, batching
// windows of equal length `batch` at a time.
GenerativePerplexity generative_perplexity(const std::vector<Tensor>& samples, const SequenceScorer& scorer, int64_t window,
                                           int64_t batch);

}  // namespace diffuse::metrics
