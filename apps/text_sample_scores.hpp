// `diffuse evaluate --samples FILE --teacher CKPT [--data PATH]`: how good a file of text samples is, by the
// measures text diffusion papers report (metrics/text_metrics.hpp): generative perplexity under an
// autoregressive teacher the engine trained, the samples' unigram entropy beside the data split's, and
// distinct-n. It reads the samples of any text family (`sample --out`, one sample per line).
#pragma once
#include "apps/command_options.hpp"

namespace diffuse {

int run_text_sample_scores(const EvaluateOptions& options);

}  // namespace diffuse
