// What the text families (D3PM text, masked diffusion, the autoregressive baseline) share around the
// text8-format corpus: loading it from --data, the --split names, the evaluation chunks of --chunks,
// decoding samples, the --template of conditional sampling, the vocabulary a samples file is in, and the
// evaluation of a per-chunk figure (bits/char) with its standard error, journaled and shared over MPI.
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
#include "apps/training_loop.hpp"
#include "data/text8.hpp"
#include "diffusion/maskgit_decoder.hpp"
#include "tensor/random.hpp"
#include "tensor/tensor.hpp"

namespace diffuse {

// The corpus at --data: a text8-format file, or a directory holding one named `text8`.
std::shared_ptr<const data::Text8Corpus> load_text_corpus(const std::string& path);

data::Text8Split parse_text_split(const std::string& name);  // --split: train, valid, test

// The first `count` (0: all) canonical chunks of `length` characters of the split (int32 [N, L]); throws
// naming --chunks when the split has fewer.
Tensor evaluation_chunks(const data::Text8Corpus& corpus, data::Text8Split split, const std::string& split_name,
                         int64_t count, int64_t length);

// A training run's held-out chunks: the first train.eval_items chunks of `length` of the valid split when
// the run evaluates (train.eval_every > 0), else an undefined tensor. Throws naming train.eval_items when the
// split has fewer.
Tensor held_out_chunks(const data::Text8Corpus& corpus, const nlohmann::json& config, int64_t length);

// A periodic evaluation's record of bits/char on valid chunks.
EvaluationRecord valid_chunks_record(int64_t chunks, double bits_per_char, double standard_error, const std::string& method);

// Each row of int32 ids [B, L] as text (the mask as '_').
std::vector<std::string> decode_rows(const Tensor& ids);

// --template: the characters of `text` are given, '_' marks a position to generate, and positions past
// its end are generated: int32 [length] with -1 where the sampler generates. Throws naming --template for
// a character outside the alphabet (with its offset) or a template longer than `length`.
Tensor parse_text_template(const std::string& text, int64_t length);

// What every text family's training task shares: random windows of the training split (as long as the
// configuration's model.seq_len), the random streams, their state in checkpoints, and the log's counts. A
// family derives from it and adds its model, its batch and its loss.
class TextTrainingTask : public TrainingTask {
 public:
  TextTrainingTask(const nlohmann::json& config, std::shared_ptr<const data::Text8Corpus> corpus);
  std::map<std::string, std::string> state() const override;
  void restore(const std::map<std::string, std::string>& metadata, const std::string& path) override;
  std::string data_summary() const override;
  std::string item_name() const override { return "tokens"; }
  int64_t items_per_example() const override { return windows_.length(); }

 protected:
  uint64_t seed_;
  int64_t sample_count_;  // train.sample_count
  std::shared_ptr<const data::Text8Corpus> corpus_;
  data::Text8WindowSampler windows_;
  TrainingStreams streams_;
  Tensor held_out_;  // the first train.eval_items valid chunks, when the run evaluates (held_out_chunks)
};

// A training run's samples (int32 ids [N, L]): dir/step-S.txt, one sample a line, atomically; the first
// sample is the log's preview.
SamplesFile write_training_text_samples(const std::filesystem::path& dir, int64_t step, const Tensor& ids);

// The share of row b of x (int32 [B, L]) that holds mask_id.
double masked_share(const Tensor& x, int64_t b, int32_t mask_id);

// `sample --decoder maskgit` for any absorbing text model, given as a MaskedTokenModel over the 27
// characters (diffusion/maskgit_decoder.hpp): --steps (default 16), --choice-temperature, --argmax,
// --template, --out; prints the samples and a summary line. `family` names the checkpoint's family.
int run_maskgit_sample(const SampleOptions& options, const diffusion::MaskedTokenModel& model, int64_t n, int64_t length,
                       const std::string& family);

// The vocabulary of the text families' samples and teachers: the text8 characters, in id order.
std::string text8_vocabulary();

// Writes one sample per line to `path` (atomically), and beside it `path.json` with the vocabulary, the
// checkpoint and what the caller adds, so that `evaluate --samples` knows what it reads.
void write_text_samples(const std::filesystem::path& path, const std::vector<std::string>& texts, const std::string& checkpoint,
                        const std::string& family, double seconds_per_sample, int64_t steps);

// Per-chunk bits/char: their mean and its standard error (the sample standard deviation over sqrt(N)).
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

// Evaluates chunks [0, N) in batches (sharded_evaluation.hpp: journal, MPI, one stream per batch):
// bits_of(x [b, L], rng) returns each row's bits/char and counts its network evaluations in the result.
ChunkBits evaluate_chunk_bits(const Tensor& chunks, int64_t batch, const EvaluateOptions& options, int64_t evaluations_per_batch,
                              const std::function<std::vector<double>(const Tensor& x, Philox& rng)>& bits_of);

}  // namespace diffuse
