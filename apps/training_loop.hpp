// The training loop every model family shares: configuration (a preset with overrides, or the run's own
// recorded configuration on --resume), Adam with warmup, gradient accumulation over micro-batches, the
// finite check, global-norm clipping, EMA, the log line (with metrics.jsonl and the TensorBoard event file:
// apps/run_log.hpp, apps/tensorboard_log.hpp), the EMA's held-out figure every train.eval_every steps, EMA
// samples every train.sample_every steps, checkpoints (on a schedule, at the end and on SIGINT/SIGTERM) and
// exact resume.
//
// A family supplies a TrainingTask: its model's parameter arena, one micro-batch's forward and backward,
// its evaluation and samples, and the state of its data order and random streams for the checkpoint.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/command_options.hpp"
#include "apps/process_group.hpp"
#include "apps/run_log.hpp"
#include "nn/arena.hpp"
#include "tensor/random.hpp"

namespace diffuse {

// What TrainingTask::write_samples wrote.
struct SamplesFile {
  std::filesystem::path path;  // a .png grid (image families) or a .txt, a sample a line (text families)
  std::string preview;         // what the log prints under the path (the first text sample), or empty
};

// A micro-batch's loss (the mean over its rows, what backward was taken of) and its named parts, each the
// mean over the rows in the loss's units, in the order of TrainingTask::loss_part_names().
struct MicroBatchLoss {
  double loss = 0;
  std::vector<double> parts;
};

class TrainingTask {
 public:
  virtual ~TrainingTask() = default;
  virtual nn::ParameterArena& arena() = 0;
  // Draws the step's whole batch of `batch` examples (the data, t and the forward process's noise) from
  // the shared streams. Every process of a data-parallel job draws the same batch and computes its own rows,
  // so the result does not depend on how the batch is split (over processes or micro-batches).
  virtual void draw_batch(int64_t batch) = 0;
  // Forward and backward on rows [begin, end) of the drawn batch, the loss (their mean) scaled by `weight`
  // (their share of the batch) before backward. Returns the unscaled loss and its parts.
  virtual MicroBatchLoss accumulate_gradients(int64_t begin, int64_t end, double weight) = 0;
  // The names of the loss's parts that metrics.jsonl and TensorBoard log beside it: "L_simple"; "L_vb",
  // "CE" (L_lambda = L_vb + lambda CE); ...
  virtual std::vector<std::string> loss_part_names() const = 0;
  // Samples of the current weights (the loop swaps the EMA in), written under `dir`; returns the file (the
  // loop also puts it in the run's TensorBoard event file).
  virtual SamplesFile write_samples(const std::filesystem::path& dir, int64_t step) = 0;
  // The figure of the current weights (the loop swaps the EMA in) on the first `items` held-out items (the
  // valid split's chunks, the test images), computed by the family's `diffuse evaluate` code with
  // periodic_evaluation_options: its randomness comes from the run's evaluation streams, so a resumed run
  // writes what an uninterrupted one does. The loop fills in the step. A stop signal ends it at the next
  // network evaluation (StopRequested).
  virtual EvaluationRecord evaluate(int64_t items) = 0;
  // The data order's position and the random streams' states, for the checkpoint's metadata, and back.
  virtual std::map<std::string, std::string> state() const = 0;
  virtual void restore(const std::map<std::string, std::string>& metadata, const std::string& path) = 0;
  // Files the run folder keeps beside config.json, written when a run starts or resumes (the word
  // families' vocabulary.txt); none by default.
  virtual void write_run_files(const std::filesystem::path& dir) const {}
  virtual std::string data_summary() const = 0;  // "50000 training images"
  virtual std::string item_name() const = 0;     // what the log counts per second: "images", "tokens"
  virtual int64_t items_per_example() const = 0;
};

// The random streams every task draws from (the diffusion's t and noise, and dropout), seeded from the
// run's seed, with their states for the checkpoint's metadata ("rng.diffusion", "rng.dropout"). The
// diffusion stream is the same in every process of a job (they draw the same batch); dropout is each
// process's own (its rows' masks): stream kDropout + rank * 2^32, so process 0 of any job, and a single
// process, draw exactly what an undistributed run draws. The checkpoint keeps process 0's dropout state;
// on resume every process takes its counter.
struct TrainingStreams {
  explicit TrainingStreams(uint64_t seed);
  Philox diffusion, dropout;
  std::map<std::string, std::string> state() const;
  void restore(const std::map<std::string, std::string>& metadata, const std::string& path);
};

// train.eval_every (0: never) and train.eval_items (how many held-out items), both absent in older runs
// (0). Throws naming the key when eval_every < 0, or eval_items < 1 while eval_every > 0.
// train.eval_every, train.eval_items, and train.keep_best: keep the checkpoint of the best evaluation so far as
// best.safetensors (never pruned), with best.json naming its step and figure (early stopping, chosen afterwards).
// The figure is lower-is-better (bits, MSE) except accuracy.
struct EvaluationSchedule {
  int64_t every = 0, items = 0;
  bool keep_best = false;
  bool enabled() const { return every > 0; }
  bool due(int64_t step) const { return every > 0 && step > 0 && step % every == 0; }
};
EvaluationSchedule evaluation_schedule(const nlohmann::json& train_config);

// The options a task's evaluate hands its family's evaluation: the estimate (or the exact figure), in
// batches of train.batch, seeded with the run's seed (batch k's stream Philox(seed, kEval + (k + 1) 2^32),
// sharded_evaluation.hpp), on this process alone, quiet, without a journal.
EvaluateOptions periodic_evaluation_options(const nlohmann::json& config, const std::string& split, bool estimate);

struct TrainingRun {
  nlohmann::json config;    // resolved: the preset with --set overrides and the seed, or the run's own
  std::string resume_from;  // the checkpoint to continue from (--resume), or empty
};

// Throws std::invalid_argument naming dir unless a file can be created in it (or, when it does not exist
// yet, in the nearest folder above it that does): tried by creating and removing a probe file.
void require_writable_run_folder(const std::string& dir);

// Resolves what `diffuse train` runs. A new run refuses an --out that already holds checkpoints; --resume
// needs one; either refuses a run folder it cannot write in (before any training). --steps overrides
// train.steps either way. A new run's configuration records its --set overrides under "overrides".
TrainingRun resolve_training_run(const TrainOptions& options);

// Runs the loop to train.steps (Ho et al. Algorithm 1, and its D3PM counterpart: docs/math.md §2.6, §3.9). Returns the exit code: 0 done, 130 stopped by a signal (checkpoint
// saved), 3 a non-finite loss or gradient (nothing saved; the message names the step and the last good
// checkpoint).
int run_training(const TrainOptions& options, const TrainingRun& run, TrainingTask& task);

}  // namespace diffuse
