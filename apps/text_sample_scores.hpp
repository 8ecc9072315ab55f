// `diffuse evaluate --samples FILE --teacher CKPT [--data PATH]`: how good a file of text samples is, by the
// measures text diffusion papers report (metrics/text_metrics.hpp): generative perplexity under an
// autoregressive teacher the engine trained, the samples' unigram entropy beside the data split's, and
// distinct-n. It reads the samples of any text family (`sample --out`, one sample per line), characters or
// words (apps/text_corpus.hpp): the samples' vocabulary, recorded in their .json, must be the teacher's.
// Words: each line is read as the corpus is tokenized (a word outside the vocabulary is refused) and scored
// as the teacher's rows hold a verse, <bos> first as context, then its tokens and <eos>; so generative
// perplexity is per token (<eos> counted, as in bits/token), the unigram entropy is of token ids (the
// reference: the split's tokens, unknown words as <unk>), and distinct-n counts n-grams of tokens.
#pragma once
#include "apps/command_options.hpp"

namespace diffuse {

int run_text_sample_scores(const EvaluateOptions& options);

}  // namespace diffuse
