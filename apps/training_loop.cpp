#include "apps/training_loop.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <memory>

#include "apps/model_family.hpp"
#include "apps/presets.hpp"
#include "apps/run_log.hpp"
#include "apps/run_support.hpp"
#include "apps/tensorboard_log.hpp"
#include "data/file_io.hpp"
#include "nn/checkpoint.hpp"
#include "nn/optim.hpp"
#include "tensor/autograd.hpp"
#include "tensor/threads.hpp"

namespace diffuse {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {
uint64_t dropout_stream(int rank) { return kDropout + (static_cast<uint64_t>(rank) << 32); }
}  // namespace

TrainingStreams::TrainingStreams(uint64_t seed)
    : diffusion(seed, kDiffusion), dropout(seed, dropout_stream(ProcessGroup::world().rank())) {}

std::map<std::string, std::string> TrainingStreams::state() const {
  return {{"rng.diffusion", philox_state(diffusion)}, {"rng.dropout", philox_state(dropout)}};
}

void TrainingStreams::restore(const std::map<std::string, std::string>& meta, const std::string& path) {
  for (const char* key : {"rng.diffusion", "rng.dropout"})
    if (!meta.count(key)) throw std::runtime_error(path + ": the checkpoint records no '" + key + "' state");
  diffusion = philox_from_state(meta.at("rng.diffusion"), path);
  const Philox root_dropout = philox_from_state(meta.at("rng.dropout"), path);
  dropout = Philox(root_dropout.seed(), dropout_stream(ProcessGroup::world().rank()), root_dropout.counter());
}

void require_writable_run_folder(const std::string& dir) {
  // The nearest folder that exists: the run folder, or the one it will be created in.
  fs::path at = fs::absolute(dir).lexically_normal();
  std::error_code error;
  while (!fs::exists(at, error) && at.has_parent_path() && at != at.parent_path()) at = at.parent_path();
  if (!fs::is_directory(at, error))
    throw std::invalid_argument("--out: " + dir + ": cannot be a run folder: " + at.string() + " is not a folder");
  // A probe file, created and removed: permission bits alone do not say (root ignores them; a read-only
  // mount or /proc refuses root too).
  const fs::path probe = at / (".diffuse-write-probe-" + std::to_string(::getpid()));
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) {
    const int code = errno;
    throw std::invalid_argument("--out: the run folder " + dir + " is not writable (cannot create a file in " + at.string() +
                                ": " + std::strerror(code) + "); training would lose its checkpoints");
  }
  ::close(fd);
  fs::remove(probe, error);
}

TrainingRun resolve_training_run(const TrainOptions& options) {
  if (options.out_dir.empty()) throw std::invalid_argument("--out: an output directory is required");
  require_writable_run_folder(options.out_dir);
  const auto existing = nn::list_checkpoints(options.out_dir);
  TrainingRun run;
  if (options.resume) {
    if (existing.empty()) throw std::invalid_argument("--resume: " + options.out_dir + " holds no checkpoint to resume from");
    run.resume_from = existing.back();
    run.config = checkpoint_config(run.resume_from);  // the run's own configuration, not the preset's current one
  } else {
    if (options.preset.empty()) throw std::invalid_argument("--preset: required for a new run");
    if (!existing.empty())
      throw std::invalid_argument("--out: " + options.out_dir + " already holds a run (" + existing.back() +
                                  "); pass --resume to continue it or choose another directory");
    run.config = preset_config(options.preset);
    apply_overrides(run.config, options.sets);
    run.config["overrides"] = options.sets;  // as given, for people and `diffuse plot`'s legend
    run.config["seed"] = options.seed;
  }
  if (options.steps >= 0) run.config["train"]["steps"] = options.steps;
  require_data_path(run.config, options.data_dir);
  return run;
}

EvaluationSchedule evaluation_schedule(const json& train_config) {
  const EvaluationSchedule s{.every = train_config.value("eval_every", int64_t{0}),
                             .items = train_config.value("eval_items", int64_t{0}),  // absent in older runs
                             .keep_best = train_config.value("keep_best", false)};
  if (s.every < 0) throw std::invalid_argument("train.eval_every: must be 0 (never) or a number of steps");
  if (s.every > 0 && s.items < 1) throw std::invalid_argument("train.eval_items: must be at least 1 when train.eval_every > 0");
  const int64_t checkpoint_every = train_config.value("checkpoint_every", int64_t{0});
  if (s.keep_best && (s.every == 0 || checkpoint_every < 1 || s.every % checkpoint_every != 0))
    throw std::invalid_argument("train.keep_best: needs train.eval_every > 0 and a multiple of train.checkpoint_every (" +
                                std::to_string(s.every) + " and " + std::to_string(checkpoint_every) +
                                "), so that every evaluated step has its checkpoint");
  return s;
}

EvaluateOptions periodic_evaluation_options(const json& config, const std::string& split, bool estimate) {
  EvaluateOptions options;
  options.split = split;
  options.estimate = estimate;
  options.batch = config.at("train").at("batch").get<int64_t>();
  options.seed = config.at("seed").get<uint64_t>();
  options.quiet = true;
  options.alone = true;
  return options;
}

namespace {
// FNV-1a over the parameters' bytes: equal on every process of a data-parallel job, or a replica drifted.
uint64_t parameter_checksum(const nn::ParameterArena& arena) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(arena.values().data<float>());
  uint64_t h = 1469598103934665603ull;
  for (int64_t i = 0; i < arena.size() * static_cast<int64_t>(sizeof(float)); ++i) h = (h ^ bytes[i]) * 1099511628211ull;
  return h;
}

// Test hook for the replica check (tests/mpi): DIFFUSE_TEST_PERTURB="RANK:STEP" makes process RANK add
// 1e-3 to its first weight after step STEP, as a silent hardware fault or a missed message would.
void maybe_perturb(nn::ParameterArena& arena, int rank, int64_t step) {
  const char* spec = std::getenv("DIFFUSE_TEST_PERTURB");
  if (!spec) return;
  int r = -1;
  long long s = -1;
  if (std::sscanf(spec, "%d:%lld", &r, &s) == 2 && r == rank && s == step) arena.values().data<float>()[0] += 1e-3f;
}
}  // namespace

namespace {
// One training run's state and the named parts of its step. run_training reads as the step does:
//   draw_batch -> forward_backward -> all_reduce -> all_finite -> update -> log_checkpoint_sample.
class Trainer {
 public:
  Trainer(const TrainOptions& options, const TrainingRun& run, TrainingTask& task);

  int64_t iteration() const { return iteration_; }
  int64_t total_iterations() const { return total_iterations_; }
  bool replicas_agree(int64_t at_iteration);  // compares parameter checksums across processes; says which differ
  void begin();                          // writes config.json and prints the run's header line

  // 1. The step's whole batch: data, t and the forward process's noise, the same on every process.
  void draw_batch();
  // 2. Forward and backward over this process's micro-batches: gradients accumulate in the arena, each
  //    micro-batch's loss scaled by its share of the global batch. Returns this process's share of the loss.
  MicroBatchLoss forward_backward();
  // 3. Sums the gradients (and the loss) over the processes: each now holds the whole batch's.
  void all_reduce(MicroBatchLoss& loss);
  // Whether the loss and every gradient are finite; if not, says so, naming the step and the last good checkpoint.
  bool all_finite(double loss);
  // 4. Clips the global gradient norm, steps Adam at the scheduled learning rate and updates the EMA.
  //    Returns the norm before clipping.
  double update();
  // 5. The log line, the checkpoint, the EMA's evaluation and the EMA samples this step is due for.
  void log_checkpoint_sample(const MicroBatchLoss& loss, double grad_norm);
  // A run resumed from a step due for evaluation whose evaluation metrics.jsonl lacks (a stop or a kill
  // during it) evaluates that step first, as the uninterrupted run did.
  void catch_up_evaluation();

  bool replica_check_due() const { return check_every_ > 0 && iteration_ % check_every_ == 0; }
  std::string save(int64_t at_iteration);  // writes the checkpoint of at_iteration; returns its path
  // Stopped by a signal: the current step's checkpoint, unless this run wrote it already. Returns the path.
  std::string save_on_stop();
  // Done: a run that wrote no checkpoint and resumed from none (train.steps 0) writes the step-0 checkpoint,
  // the untrained model's. Returns the run's last checkpoint.
  std::string finish();
  void say(const std::string& text) {
    if (root_) log_.message(text);
  }

 private:
  void evaluate();  // the EMA's held-out figure at this step: a log line, metrics.jsonl, TensorBoard
  void keep_if_best(const EvaluationRecord& r);  // train.keep_best
  void write_samples();

  const TrainOptions& options_;
  const json& config_;
  const json& train_config_;
  TrainingTask& task_;
  nn::ParameterArena& arena_;
  nn::Adam adam_;
  nn::Ema ema_;
  nn::LrSchedule schedule_;
  int64_t total_iterations_, batch_, micro_batch_;
  const ProcessGroup& group_;
  BatchSlice mine_;  // this process's rows of every batch
  int64_t check_every_;
  bool root_;        // process 0 alone prints and writes
  std::string preset_;
  int64_t iteration_ = 0;
  int64_t saved_iteration_ = -1;  // the step of the checkpoint this run wrote last
  std::string last_checkpoint_;
  int64_t log_every_, sample_every_, checkpoint_every_;
  EvaluationSchedule evaluation_;
  ProgressLog log_;
  std::unique_ptr<MetricsLog> metrics_;  // metrics.jsonl, process 0 only
  std::unique_ptr<TensorBoardLog> tensorboard_;  // this start's events.out.tfevents.*, process 0 only
};

int64_t field(const json& train_config, const char* key) { return train_config.at(key).get<int64_t>(); }

// train.lr and train.warmup, then constant or (train.lr_schedule = "cosine", absent in older runs) a cosine
// decay to train.min_lr at train.steps.
nn::LrSchedule lr_schedule(const json& train_config) {
  const std::string kind = train_config.value("lr_schedule", "constant");
  if (kind != "constant" && kind != "cosine")
    throw std::invalid_argument("train.lr_schedule: 'constant' or 'cosine', got '" + kind + "'");
  return {.lr = train_config.at("lr").get<double>(), .warmup = field(train_config, "warmup"), .cosine = kind == "cosine",
          .total_iterations = field(train_config, "steps"), .min_lr = train_config.value("min_lr", 0.0)};
}

Trainer::Trainer(const TrainOptions& options, const TrainingRun& run, TrainingTask& task)
    : options_(options),
      config_(run.config),
      train_config_(run.config.at("train")),
      task_(task),
      arena_(task.arena()),
      adam_(arena_, {.beta1 = train_config_.at("adam_beta1").get<double>(),
                     .beta2 = train_config_.at("adam_beta2").get<double>(),
                     .eps = train_config_.at("adam_eps").get<double>(),
                     .tf_epsilon = train_config_.at("tf_adam_epsilon").get<bool>()}),
      ema_(arena_, train_config_.at("ema_decay").get<double>(), train_config_.value("ema_warmup", false)),  // absent in old runs
      schedule_(lr_schedule(train_config_)),
      total_iterations_(field(train_config_, "steps")),
      batch_(field(train_config_, "batch")),
      micro_batch_(field(train_config_, "micro_batch") > 0 ? field(train_config_, "micro_batch") : batch_),
      group_(ProcessGroup::world()),
      check_every_(train_config_.value("replica_check_every", int64_t{100})),  // absent in older runs
      root_(group_.is_root()),
      preset_(run.config.at("preset").get<std::string>()),
      log_every_(field(train_config_, "log_every")),
      sample_every_(field(train_config_, "sample_every")),
      checkpoint_every_(field(train_config_, "checkpoint_every")),
      evaluation_(evaluation_schedule(train_config_)),
      log_(1, total_iterations_, task.item_name()) {
  if (batch_ < 1 || micro_batch_ > batch_)
    throw std::invalid_argument("--set train.batch / train.micro_batch: need 1 <= micro_batch <= batch");
  if (batch_ < group_.size())
    throw std::invalid_argument("--set train.batch: " + std::to_string(batch_) + " examples cannot be shared by " +
                                std::to_string(group_.size()) + " processes");
  mine_ = batch_slice(batch_, group_.rank(), group_.size());
  if (!run.resume_from.empty()) {
    const auto meta = nn::load_checkpoint(run.resume_from, arena_, &adam_, &ema_);
    iteration_ = std::stoll(meta.at("step"));
    task_.restore(meta, run.resume_from);
    last_checkpoint_ = run.resume_from;
    if (root_) std::printf("resuming %s from step %lld\n", run.resume_from.c_str(), static_cast<long long>(iteration_));
  }
  log_ = ProgressLog(iteration_ + 1, total_iterations_, task.item_name());
}

// The replicas must start equal (the same seed or the same checkpoint) and stay equal (the same summed
// gradients, the same optimizer step): parameter checksums are compared at the start and every
// train.replica_check_every steps.
bool Trainer::replicas_agree(int64_t at_iteration) {
  if (!group_.distributed()) return true;
  const std::vector<uint64_t> sums = group_.allgather(parameter_checksum(arena_));
  bool equal = true;
  for (uint64_t v : sums) equal = equal && v == sums[0];
  if (!equal && root_) {
    std::string list;
    for (size_t r = 0; r < sums.size(); ++r) list += (r ? ", " : "") + std::to_string(r) + ": " + std::to_string(sums[r]);
    std::fprintf(stderr, "error: step %lld: the processes' parameters disagree (checksums by rank: %s); stopping "
                 "without saving. The last good checkpoint is %s\n", static_cast<long long>(at_iteration), list.c_str(),
                 (last_checkpoint_.empty() ? std::string("none") : last_checkpoint_).c_str());
  }
  return equal;
}

void Trainer::begin() {
  if (!root_) return;
  fs::create_directories(options_.out_dir);  // only now: a refused run leaves nothing behind
  write_text_atomically(fs::path(options_.out_dir) / "config.json", config_.dump(2) + "\n");
  task_.write_run_files(options_.out_dir);
  // Rewritten to the lines of steps up to the one resumed from (none for a new run), then appended to.
  metrics_ = std::make_unique<MetricsLog>(fs::path(options_.out_dir) / "metrics.jsonl", iteration_, log_every_,
                                          total_iterations_);
  // A new event file each start; its SessionLog START hides what earlier files logged past the checkpoint.
  tensorboard_ = std::make_unique<TensorBoardLog>(options_.out_dir, iteration_ + 1);
  std::printf("training %s: %lld parameters, %s, batch %lld (micro-batch %lld), steps %lld..%lld, %d threads%s\n"
              "  outputs in %s\n",
              preset_.c_str(), static_cast<long long>(arena_.parameter_count()), task_.data_summary().c_str(),
              static_cast<long long>(batch_), static_cast<long long>(micro_batch_), static_cast<long long>(iteration_ + 1),
              static_cast<long long>(total_iterations_), num_threads(),
              group_.distributed() ? (" x " + std::to_string(group_.size()) + " processes").c_str() : "",
              options_.out_dir.c_str());
}

void Trainer::draw_batch() {
  ++iteration_;
  arena_.zero_grad();
  task_.draw_batch(batch_);
}

MicroBatchLoss Trainer::forward_backward() {
  MicroBatchLoss sum{0, std::vector<double>(task_.loss_part_names().size(), 0.0)};
  for (int64_t begin = mine_.begin; begin < mine_.end; begin += micro_batch_) {
    const int64_t end = std::min(begin + micro_batch_, mine_.end);
    const double weight = static_cast<double>(end - begin) / static_cast<double>(batch_);
    const MicroBatchLoss part = task_.accumulate_gradients(begin, end, weight);
    sum.loss += weight * part.loss;
    for (size_t i = 0; i < sum.parts.size(); ++i) sum.parts[i] += weight * part.parts.at(i);
  }
  return sum;
}

void Trainer::all_reduce(MicroBatchLoss& loss) {
  group_.allreduce_sum(arena_.grads().data<float>(), arena_.size());
  std::vector<double> values = {loss.loss};
  values.insert(values.end(), loss.parts.begin(), loss.parts.end());
  group_.allreduce_sum(values.data(), static_cast<int64_t>(values.size()));
  loss.loss = values[0];
  std::copy(values.begin() + 1, values.end(), loss.parts.begin());
}

bool Trainer::all_finite(double loss) {
  if (std::isfinite(loss) && diffuse::all_finite(arena_.grads())) return true;
  say("error: step " + std::to_string(iteration_) + ": the " + (std::isfinite(loss) ? "gradient" : "loss") +
      " is not finite (NaN or Inf); stopping without saving. The last good checkpoint is " +
      (last_checkpoint_.empty() ? std::string("none (no checkpoint was written yet)") : last_checkpoint_));
  return false;
}

double Trainer::update() {
  const double grad_norm = nn::clip_grad_norm(arena_, train_config_.at("grad_clip").get<double>());
  adam_.step(schedule_.at(iteration_));
  ema_.update(iteration_);
  maybe_perturb(arena_, group_.rank(), iteration_);
  return grad_norm;
}

std::string Trainer::save(int64_t at_iteration) {
  const std::string path = nn::checkpoint_path(options_.out_dir, at_iteration);
  std::map<std::string, std::string> meta = task_.state();
  meta.insert({{"config", config_.dump()}, {"model", config_.at("model").dump()}, {"preset", preset_},
               {"kind", config_.at("kind").get<std::string>()}, {"step", std::to_string(at_iteration)},
               {"precision", config_.value("precision", std::string("fp32"))}});
  if (config_.contains("diffusion")) meta.insert({"diffusion", config_.at("diffusion").dump()});  // the autoregressive model has none
  meta.merge(model_family(config_, "kind").network_metadata(config_));
  nn::save_checkpoint(path, arena_, &adam_, &ema_, meta);
  nn::prune_checkpoints(options_.out_dir, static_cast<int>(field(train_config_, "keep_checkpoints")));
  saved_iteration_ = at_iteration;
  last_checkpoint_ = path;
  return path;
}

std::string Trainer::save_on_stop() {
  if (root_ && saved_iteration_ != iteration_) save(iteration_);
  return last_checkpoint_;
}

std::string Trainer::finish() {
  if (root_ && last_checkpoint_.empty()) save(iteration_);
  return last_checkpoint_;
}

void Trainer::log_checkpoint_sample(const MicroBatchLoss& loss, double grad_norm) {
  if (!root_) return;
  const bool last = iteration_ == total_iterations_;
  if (iteration_ % log_every_ == 0 || last) {  // the line before the checkpoint: a resume keeps it
    const double lr = schedule_.at(iteration_), clip = train_config_.at("grad_clip").get<double>();  // 0: no clipping
    const ProgressLog::Rates rates = log_.step(iteration_, loss.loss, grad_norm, lr, batch_ * task_.items_per_example());
    std::vector<std::pair<std::string, double>> parts;
    const std::vector<std::string> names = task_.loss_part_names();
    for (size_t i = 0; i < names.size(); ++i) parts.emplace_back(names[i], loss.parts[i]);
    const MetricsRecord record{.step = iteration_, .wall_time = unix_time_now(), .lr = lr, .loss = loss.loss,
                               .loss_parts = parts, .grad_norm = grad_norm, .clipped = clip > 0 && grad_norm > clip,
                               .ms_per_step = rates.ms_per_step, .items_per_second = rates.items_per_second,
                               .ema_decay = ema_.decay_at(iteration_)};
    metrics_->write(record);
    tensorboard_->write_scalars(record);
  }
  if ((checkpoint_every_ > 0 && iteration_ % checkpoint_every_ == 0) || last) save(iteration_);
  // The evaluation and the samples after the checkpoint: a signal during them ends them at the next network
  // evaluation, with nothing lost (a resumed run evaluates the step again: catch_up_evaluation).
  if (evaluation_.due(iteration_)) evaluate();
  if (sample_every_ > 0 && (iteration_ % sample_every_ == 0 || last)) write_samples();
}

void Trainer::catch_up_evaluation() {
  if (root_ && evaluation_.due(iteration_) && !metrics_->has_evaluation(iteration_)) evaluate();
}

// Process 0 alone evaluates; the other processes of a job go on to the next step's first collective and
// wait there for it.
void Trainer::evaluate() {
  if (!root_ || stop_requested()) return;
  ema_.swap();
  try {
    NoGradGuard no_grad;
    EvaluationRecord r = task_.evaluate(evaluation_.items);
    r.step = iteration_;
    const size_t per = r.figure.find("_per_");  // bits_per_char -> bits/char
    const std::string unit = per == std::string::npos ? r.figure : r.figure.substr(0, per) + "/" + r.figure.substr(per + 5);
    char line[256];
    std::snprintf(line, sizeof line, "evaluation at step %lld: %.4f +- %.4f %s on %lld %s %s (%s)",
                  static_cast<long long>(r.step), r.value, r.standard_error, unit.c_str(), static_cast<long long>(r.items),
                  r.split.c_str(), r.item_noun.c_str(), r.method.c_str());
    log_.message(line);
    metrics_->write(r);
    tensorboard_->write_evaluation(r);
    if (evaluation_.keep_best) keep_if_best(r);
  } catch (const StopRequested&) {
    log_.message("evaluation at step " + std::to_string(iteration_) + " stopped by signal; a resumed run evaluates it again");
  }
  ema_.swap();
}

// best.json holds the best evaluation so far; a better one (or the first) copies this step's checkpoint, just
// written, to best.safetensors: through a temporary file and a rename, as every checkpoint is written.
void Trainer::keep_if_best(const EvaluationRecord& r) {
  if (saved_iteration_ != iteration_) return;  // the step's checkpoint was not written (stopped before it)
  const fs::path dir(options_.out_dir), record = dir / "best.json", best = dir / "best.safetensors";
  if (fs::exists(record)) {
    const std::vector<uint8_t> bytes = data::read_file_bytes(record.string(), "the record of the best evaluation");
    const json kept = json::parse(bytes.begin(), bytes.end());
    const double value = kept.at("value").get<double>();
    const bool higher_is_better = r.figure == "accuracy";
    if (kept.at("figure") == r.figure && (higher_is_better ? r.value <= value : r.value >= value)) return;
  }
  const fs::path partial = dir / "best.safetensors.partial";
  fs::copy_file(last_checkpoint_, partial, fs::copy_options::overwrite_existing);
  fs::rename(partial, best);
  write_text_atomically(record, json{{"step", r.step}, {"figure", r.figure}, {"value", r.value}, {"split", r.split},
                                     {"items", r.items}, {"checkpoint", fs::path(last_checkpoint_).filename().string()}}
                                    .dump() + "\n");
  log_.message("the best " + r.figure + " so far: best.safetensors is now step " + std::to_string(r.step) + "'s checkpoint");
}

void Trainer::write_samples() {
  if (stop_requested()) return;
  ema_.swap();
  try {
    const SamplesFile samples = task_.write_samples(fs::path(options_.out_dir) / "samples", iteration_);
    log_.message("wrote EMA samples " + samples.path.string() + (samples.preview.empty() ? "" : "\n  " + samples.preview));
    tensorboard_->write_samples(iteration_, samples.path);
  } catch (const StopRequested&) {
    log_.message("sampling at step " + std::to_string(iteration_) + " stopped by signal; no samples written");
  }
  ema_.swap();
}
}  // namespace

int run_training(const TrainOptions& options, const TrainingRun& run, TrainingTask& task) {
  Trainer trainer(options, run, task);
  if (!trainer.replicas_agree(trainer.iteration())) return 4;
  trainer.begin();
  install_stop_handlers();
  trainer.catch_up_evaluation();
  for (;;) {
    // A signal to any process stops them all at the same step; one during the last step's evaluation or
    // samples too, so that a resume makes up the evaluation before the run is done.
    if (ProcessGroup::world().any(stop_requested())) {
      trainer.say("stopped by signal at step " + std::to_string(trainer.iteration()) + "; saved " + trainer.save_on_stop());
      return 130;
    }
    if (trainer.iteration() >= trainer.total_iterations()) break;
    trainer.draw_batch();
    MicroBatchLoss loss = trainer.forward_backward();
    trainer.all_reduce(loss);
    if (!trainer.all_finite(loss.loss)) return 3;
    const double grad_norm = trainer.update();
    if (trainer.replica_check_due() && !trainer.replicas_agree(trainer.iteration())) return 4;
    trainer.log_checkpoint_sample(loss, grad_norm);
  }
  const std::string checkpoint = trainer.finish();
  trainer.say("done: " + std::to_string(trainer.iteration()) + " steps; checkpoint " + checkpoint);
  return 0;
}

}  // namespace diffuse
