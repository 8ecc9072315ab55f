// Diffusion-LM's controls of `diffuse sample` (Li et al. 2022, §5.2 and §7; docs/math.md §7.3, §7.6), one flag:
//
//   --control word=W        the verse mentions W: guided by a noisy classifier of target "words" (--classifier)
//   --control testament=T   old or new: guided by a noisy classifier of target "testament"
//   --control group=G       law, history, poetry, prophets, gospels or letters: a noisy "group" classifier
//   --control length=N      exactly N tokens: <bos>, N generated positions, <eos>, then <pad> are given
//   --template "..."        infilling: the template's words are given, each "_" generated (text_corpus.hpp)
//
// Guidance's constants are flags too: --guidance-updates (3), --guidance-step-size (0.1), --fluency (lambda,
// 0.01), --guidance-skip-last (10) (diffusion/guidance.hpp). A word outside the vocabulary, a value that is
// not a class, a classifier of another target, vocabulary or embedding: refused, naming them.
//
// evaluate --samples F --control ... scores a samples file for the same control (success_rate):
//   word: the share of samples holding the word (exact, by the tokenizer); length: the share of exactly N
//   tokens of text (a <pad> or <eos> written inside the span fails); testament and group: the share that an independent clean classifier (--judge) puts in the class.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "apps/command_options.hpp"
#include "apps/text_classifier.hpp"
#include "apps/text_corpus.hpp"
#include "diffusion/guidance.hpp"
#include "tensor/tensor.hpp"

namespace diffuse {

struct TextControlRequest {
  std::string kind, value;  // "word" and "god", ...; empty: no --control
  bool empty() const { return kind.empty(); }
  std::string text() const { return kind + "=" + value; }
};
// --control KIND=VALUE; throws naming --control and the kinds.
TextControlRequest parse_control_flag(const std::string& flag);

struct TextControl {
  Tensor given;  // int32 [L]: ids of given positions, -1 where generated; undefined when nothing is given
  std::shared_ptr<const TextClassifierModel> classifier;  // the guide (word, testament, group)
  diffusion::VectorGuidance guidance;
  diffusion::ClassLogProb log_prob;  // log p(c | x_t, t) of the requested class, per row
  std::string summary;               // for the sample command's last line: ", guided to group=gospels (...)"
};

// What a Diffusion-LM sample command's flags ask for, for `n` rows of `length` of the model `guided`.
TextControl text_control(const SampleOptions& options, const TextVocabulary& vocabulary, int64_t length, const DiffusionLmModel& guided,
                         int64_t n);

// The share of `samples` (lines of text) that meet the control; `judge` is a clean classifier checkpoint
// (testament and group). Throws naming --control or --judge.
double control_success_rate(const TextControlRequest& control, const std::vector<std::string>& samples, const TextVocabulary& vocabulary,
                            const std::string& judge);

}  // namespace diffuse
