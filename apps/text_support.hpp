// What the text families (D3PM text, masked diffusion, the autoregressive baseline, Diffusion-LM) share
// around their corpus (apps/text_corpus.hpp: characters, verses or pairs): the --split names, the evaluation
// items of --chunks and of a run's periodic evaluation, the training task's rows and state, the given tokens
// of a conditional corpus, samples files with their vocabulary, MaskGIT decoding, and the evaluation of a
// per-item figure (bits/char, bits/token) with its standard error, journaled and shared over MPI.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "apps/command_options.hpp"
#include "apps/text_corpus.hpp"
#include "apps/training_loop.hpp"
#include "data/text8.hpp"
#include "diffusion/maskgit_decoder.hpp"
#include "tensor/random.hpp"
#include "tensor/tensor.hpp"

namespace diffuse {

data::Text8Split parse_text_split(const std::string& name);  // --split: train, valid, test

// The first `count` (0: all) evaluation items of the split for rows of `length` (apps/text_corpus.hpp: chunks
// of characters, verses or pairs); throws naming --chunks when the split has fewer. An item longer than the
// rows is refused, naming it, or with --skip-long (skip_long) left out and counted (TextItems::dropped, and a
// note on stderr).
TextItems evaluation_items(const TextCorpus& corpus, const std::string& split_name, int64_t count, int64_t length,
                           bool skip_long = false);

// A training run's held-out items: the first train.eval_items items of the valid split for rows of `length`
// when the run evaluates (train.eval_every > 0), else none; a verse or pair among them longer than the rows is
// left out (so the evaluation's record counts fewer items), never the reason a run stops. Throws naming
// train.eval_items when the split has fewer.
TextItems held_out_items(const TextCorpus& corpus, const nlohmann::json& config, int64_t length);

// A periodic evaluation's record of bits per unit (bits_per_char, bits_per_token) on valid items.
EvaluationRecord held_out_record(const TextVocabulary& vocabulary, const std::string& noun, int64_t items, double bits_per_unit,
                                 double standard_error, const std::string& method);

// The given tokens of rows (int32 [B, L]) under their given mask (int32 [B, L], 1 where given): the row's id
// where given, -1 elsewhere, as the samplers take them (MaskedSampleOptions, MaskGitOptions,
// EmbeddingSampleOptions, AutoregressiveSampleOptions: `given`). Undefined when the mask is.
Tensor given_ids(const Tensor& rows, const Tensor& given);

// A conditional model (TextVocabulary::conditional: pairs) writes a target given its source: `sample` of one
// needs the source as --template ("SOURCE <eos>"). Throws naming --template otherwise; no-op for others.
void require_source_template(const TextVocabulary& vocabulary, const std::string& template_text);

// What every text family's training task shares: the corpus's training rows (as long as the configuration's
// model.seq_len: random windows of characters, or verses), the random streams, their state in checkpoints,
// the run's vocabulary file, and the log's counts. A family derives from it and adds its model, its batch and
// its loss.
class TextTrainingTask : public TrainingTask {
 public:
  TextTrainingTask(const nlohmann::json& config, std::shared_ptr<const TextCorpus> corpus);
  std::map<std::string, std::string> state() const override;
  void restore(const std::map<std::string, std::string>& metadata, const std::string& path) override;
  void write_run_files(const std::filesystem::path& dir) const override { vocabulary_->write_run_files(dir); }
  std::string data_summary() const override { return rows_->summary(); }
  std::string item_name() const override { return "tokens"; }
  int64_t items_per_example() const override { return length_; }

  // The given tokens of the training samples (given_ids): for a conditional corpus, the sources of the first
  // train.sample_count valid pairs, so that a run's samples are targets of real sources; undefined otherwise.
  const Tensor& sample_given() const { return sample_given_; }

 protected:
  uint64_t seed_;
  int64_t sample_count_;  // train.sample_count
  int64_t length_;        // model.seq_len
  std::shared_ptr<const TextCorpus> corpus_;
  std::shared_ptr<const TextVocabulary> vocabulary_;
  std::unique_ptr<TextRowSampler> rows_;
  TrainingStreams streams_;
  TextItems held_out_;  // the first train.eval_items valid items, when the run evaluates (held_out_items)
  Tensor sample_given_;
};

// A training run's samples (int32 ids [N, L]): dir/step-S.txt, one sample a line, atomically; the first
// sample is the log's preview.
SamplesFile write_training_text_samples(const std::filesystem::path& dir, int64_t step, const Tensor& ids,
                                        const TextVocabulary& vocabulary);

// The share of row b of x (int32 [B, L]) that holds mask_id.
double masked_share(const Tensor& x, int64_t b, int32_t mask_id);

// `sample --decoder maskgit` for any absorbing text model, given as a MaskedTokenModel over the V ids of
// `vocabulary`, the mask V (diffusion/maskgit_decoder.hpp): --steps (default 16), --choice-temperature,
// --argmax, --template, --out; prints the samples and a summary line. `family` names the checkpoint's family.
int run_maskgit_sample(const SampleOptions& options, const diffusion::MaskedTokenModel& model, const TextVocabulary& vocabulary,
                       int64_t n, int64_t length, const std::string& family);

// Writes one sample per line to `path` (atomically), and beside it `path.json` with the vocabulary
// (TextVocabulary::identity), the checkpoint and what the caller adds, so that `evaluate --samples` knows
// what it reads.
void write_text_samples(const std::filesystem::path& path, const std::vector<std::string>& texts, const TextVocabulary& vocabulary,
                        const std::string& checkpoint, const std::string& family, double seconds_per_sample, int64_t steps);

// Per-item bits per unit (a chunk's bits/char, a verse's bits/token): their mean and its standard error (the
// sample standard deviation over sqrt(N)).
struct ChunkBits {
  int64_t chunks = 0;
  double sum = 0, sum_squares = 0;
  int64_t network_evaluations = 0;
  void add(double bits) {
    ++chunks;
    sum += bits;
    sum_squares += bits * bits;
  }
  double mean() const { return sum / static_cast<double>(chunks); }
  double standard_error() const;
  nlohmann::json to_json() const;
  static ChunkBits from_json(const nlohmann::json& j);
  static ChunkBits merge(const ChunkBits& a, const ChunkBits& b);
};

// Evaluates items [0, N) in batches (sharded_evaluation.hpp: journal, MPI, one stream per batch): nats_of(x
// [b, L], given [b, L] or undefined, rng) returns each row's nats (of the positions not given), which become
// bits per unit (TextItems::to_bits), and counts its network evaluations in the result.
ChunkBits evaluate_chunk_bits(const TextItems& items, int64_t batch, const EvaluateOptions& options, int64_t evaluations_per_batch,
                              const std::function<std::vector<double>(const Tensor& x, const Tensor& given, Philox& rng)>& nats_of);

}  // namespace diffuse
