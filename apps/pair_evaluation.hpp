// `diffuse evaluate --task pairs`: a model of a target given its source (DiffuSeq, the source-conditioned
// masked model, the autoregressive "x SEP y" baseline; docs/math.md §9), or the copy-the-source baseline,
// scored on the held-out pairs of a pair file (apps/pair_corpus.hpp) as DiffuSeq (Gong et al. 2022) scores
// it. A pair with a side longer than the model's rows allow is refused, naming its line and length; with
// --skip-long it is left out and counted instead. For each pair of the split (the first --chunks N, or all):
//   1. n = --candidates targets (default 5) are generated given the source: the family's decoder
//      (TargetGenerator) writes every position that is not given, the rows of a batch of sources and their
//      candidates in one call, each batch from its own random stream (sharded_evaluation.hpp: --journal,
//      MPI);
//   2. a candidate's text is its written tokens up to the first <eos> (or <pad>), joined by spaces;
//   3. the hypothesis is the first candidate, or with --mbr the minimum-Bayes-risk candidate by BLEU
//      (metrics::mbr_select, DiffuSeq's selection);
//   4. the scores (metrics/bleu.hpp, metrics/text_metrics.hpp): corpus BLEU-4 and ROUGE-L of the hypotheses
//      against the references (the targets as tokenized text, words outside the vocabulary as written);
//      self-BLEU among each source's n candidates (n >= 2); dist-1 and dist-2 of the hypotheses; seconds per
//      generated sentence (the decoding's wall time over sources x candidates).
// --copy-source (no checkpoint) takes each source, tokenized the same way, as its hypothesis: the trivial
// baseline every model must beat. --out FILE writes, after a header line, one line per pair:
// "Book C:V<TAB>source<TAB>reference<TAB>hypothesis" and, when n >= 2, the n candidates in further columns.
// A checkpoint trained on another corpus than pairs, or of a family that cannot write a target given a source,
// is refused, naming its family and data.dataset.
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "apps/command_options.hpp"
#include "apps/text_corpus.hpp"
#include "tensor/random.hpp"
#include "tensor/tensor.hpp"

namespace diffuse {

// A family's model of a target given its source, loaded from a checkpoint, as --task pairs drives it (the
// family's ModelFamily::target_generator makes it from the evaluate options: --decoder, --steps,
// --temperature, --choice-temperature).
struct TargetGenerator {
  nlohmann::json config;  // the checkpoint's configuration
  TextStates states;      // how its vocabulary sizes its network (load_text_corpus)
  std::string decoding;   // for the report: "MaskGIT, 16 steps, choice temperature 4.5"
  int64_t steps = 0;      // the decoder's steps, for the JSON
  // given: int32 [B, L], a source's tokens where given and -1 elsewhere (given_ids) -> int32 [B, L], the rows
  // with every position that is not given written. Adds the sequences it ran the network on to *evaluations.
  std::function<Tensor(const Tensor& given, Philox& rng, int64_t* evaluations)> generate;
};

// The text of a candidate row: the tokens at the positions that are not given (given int32 [L], 1 where
// given), up to the first <eos> or <pad>, as TextVocabulary::decode shows them.
std::string written_target(const Tensor& row, const Tensor& given, const TextVocabulary& vocabulary);

int run_pair_evaluation(const EvaluateOptions& options);

// v as printf's %g writes it ("4.5", "0.001"), for the decoders' descriptions.
std::string format_number(double v);

}  // namespace diffuse
