#include "apps/training_loop.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "apps/network_metadata.hpp"
#include "apps/presets.hpp"
#include "apps/run_support.hpp"
#include "nn/checkpoint.hpp"
#include "nn/optim.hpp"
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

TrainingRun resolve_training_run(const TrainOptions& o) {
  if (o.out_dir.empty()) throw std::invalid_argument("--out: an output directory is required");
  const auto existing = nn::list_checkpoints(o.out_dir);
  TrainingRun run;
  if (o.resume) {
    if (existing.empty()) throw std::invalid_argument("--resume: " + o.out_dir + " holds no checkpoint to resume from");
    run.resume_from = existing.back();
    run.config = checkpoint_config(run.resume_from);  // the run's own configuration, not the preset's current one
  } else {
    if (o.preset.empty()) throw std::invalid_argument("--preset: required for a new run");
    if (!existing.empty())
      throw std::invalid_argument("--out: " + o.out_dir + " already holds a run (" + existing.back() +
                                  "); pass --resume to continue it or choose another directory");
    run.config = preset_config(o.preset);
    apply_overrides(run.config, o.sets);
    run.config["seed"] = o.seed;
  }
  if (o.steps >= 0) run.config["train"]["steps"] = o.steps;
  require_data_path(run.config, o.data_dir);
  return run;
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

int run_training(const TrainOptions& o, const TrainingRun& run, TrainingTask& task) {
  const json& config = run.config;
  const json& tc = config.at("train");
  nn::ParameterArena& arena = task.arena();
  nn::Adam adam(arena, {.beta1 = tc.at("adam_beta1").get<double>(), .beta2 = tc.at("adam_beta2").get<double>(),
                        .eps = tc.at("adam_eps").get<double>(), .tf_epsilon = tc.at("tf_adam_epsilon").get<bool>()});
  nn::Ema ema(arena, tc.at("ema_decay").get<double>(), tc.value("ema_warmup", false));  // absent in old runs
  const nn::LrSchedule schedule{.lr = tc.at("lr").get<double>(), .warmup = tc.at("warmup").get<int64_t>()};
  const int64_t total_steps = tc.at("steps").get<int64_t>(), batch = tc.at("batch").get<int64_t>();
  const int64_t micro = tc.at("micro_batch").get<int64_t>() > 0 ? tc.at("micro_batch").get<int64_t>() : batch;
  if (batch < 1 || micro > batch) throw std::invalid_argument("--set train.batch / train.micro_batch: need 1 <= micro_batch <= batch");
  const ProcessGroup& group = ProcessGroup::world();
  if (batch < group.size())
    throw std::invalid_argument("--set train.batch: " + std::to_string(batch) + " examples cannot be shared by " +
                                std::to_string(group.size()) + " processes");
  const BatchSlice mine = batch_slice(batch, group.rank(), group.size());  // this process's rows of every batch
  const int64_t check_every = tc.value("replica_check_every", int64_t{100});  // absent in older runs
  const bool root = group.is_root();  // process 0 alone prints and writes

  int64_t step = 0;
  if (!run.resume_from.empty()) {
    const auto meta = nn::load_checkpoint(run.resume_from, arena, &adam, &ema);
    step = std::stoll(meta.at("step"));
    task.restore(meta, run.resume_from);
    if (root) std::printf("resuming %s from step %lld\n", run.resume_from.c_str(), static_cast<long long>(step));
  }
  std::string last_checkpoint = run.resume_from;
  // The replicas must start equal (the same seed or the same checkpoint) and stay equal (the same summed
  // gradients, the same optimizer step): compare parameter checksums now and every train.replica_check_every steps.
  auto replicas_agree = [&](int64_t at_step) {
    if (!group.distributed()) return true;
    const std::vector<uint64_t> sums = group.allgather(parameter_checksum(arena));
    bool equal = true;
    for (uint64_t v : sums) equal = equal && v == sums[0];
    if (!equal && root) {
      std::string list;
      for (size_t r = 0; r < sums.size(); ++r) list += (r ? ", " : "") + std::to_string(r) + ": " + std::to_string(sums[r]);
      std::fprintf(stderr, "error: step %lld: the processes' parameters disagree (checksums by rank: %s); stopping "
                   "without saving. The last good checkpoint is %s\n", static_cast<long long>(at_step), list.c_str(),
                   (last_checkpoint.empty() ? std::string("none") : last_checkpoint).c_str());
    }
    return equal;
  };
  if (!replicas_agree(step)) return 4;
  if (root) {
    fs::create_directories(o.out_dir);  // only now: a refused run leaves nothing behind
    write_text_atomically(fs::path(o.out_dir) / "config.json", config.dump(2) + "\n");
  }
  const std::string preset = config.at("preset").get<std::string>();
  if (root)
    std::printf("training %s: %lld parameters, %s, batch %lld (micro-batch %lld), steps %lld..%lld, %d threads%s\n"
                "  outputs in %s\n",
                preset.c_str(), static_cast<long long>(arena.parameter_count()), task.data_summary().c_str(),
                static_cast<long long>(batch), static_cast<long long>(micro), static_cast<long long>(step + 1),
                static_cast<long long>(total_steps), num_threads(),
                group.distributed() ? (" x " + std::to_string(group.size()) + " processes").c_str() : "",
                o.out_dir.c_str());

  auto save = [&](int64_t at_step) {
    const std::string path = nn::checkpoint_path(o.out_dir, at_step);
    std::map<std::string, std::string> meta = task.state();
    meta.insert({{"config", config.dump()}, {"model", config.at("model").dump()},
                 {"diffusion", config.at("diffusion").dump()}, {"preset", preset},
                 {"kind", config.at("kind").get<std::string>()}, {"step", std::to_string(at_step)}});
    meta.merge(network_metadata(config));
    nn::save_checkpoint(path, arena, &adam, &ema, meta);
    nn::prune_checkpoints(o.out_dir, static_cast<int>(tc.at("keep_checkpoints").get<int64_t>()));
    return path;
  };

  install_stop_handlers();
  const int64_t log_every = tc.at("log_every").get<int64_t>(), sample_every = tc.at("sample_every").get<int64_t>();
  const int64_t ckpt_every = tc.at("checkpoint_every").get<int64_t>();
  ProgressLog log(step + 1, total_steps, task.item_name());
  auto say = [&](const std::string& text) {
    if (root) log.message(text);
  };
  int64_t saved_step = -1;  // the step of the checkpoint this run wrote last
  while (step < total_steps) {
    if (group.any(stop_requested())) {  // a signal to any process stops them all at the same step
      if (root && saved_step != step) last_checkpoint = save(step);
      say("stopped by signal at step " + std::to_string(step) + "; saved " + last_checkpoint);
      return 130;
    }
    ++step;
    arena.zero_grad();
    task.draw_batch(batch);
    double loss = 0;
    for (int64_t begin = mine.begin; begin < mine.end; begin += micro) {  // accumulation over micro-batches
      const int64_t end = std::min(begin + micro, mine.end);
      const double weight = static_cast<double>(end - begin) / static_cast<double>(batch);
      loss += weight * task.accumulate_gradients(begin, end, weight);
    }
    // Every process now holds its rows' share of the batch-mean gradient: the sum is the whole batch's.
    group.allreduce_sum(arena.grads().data<float>(), arena.size());
    group.allreduce_sum(&loss, 1);
    if (!std::isfinite(loss) || !all_finite(arena.grads())) {
      say("error: step " + std::to_string(step) + ": the " + (std::isfinite(loss) ? "gradient" : "loss") +
          " is not finite (NaN or Inf); stopping without saving. The last good checkpoint is " +
          (last_checkpoint.empty() ? std::string("none (no checkpoint was written yet)") : last_checkpoint));
      return 3;
    }
    const double grad_norm = nn::clip_grad_norm(arena, tc.at("grad_clip").get<double>());
    const double lr = schedule.at(step);
    adam.step(lr);
    ema.update(step);
    maybe_perturb(arena, group.rank(), step);
    if (check_every > 0 && step % check_every == 0 && !replicas_agree(step)) return 4;
    if (root && (step % log_every == 0 || step == total_steps))
      log.step(step, loss, grad_norm, lr, batch * task.items_per_example());
    if (root && ((ckpt_every > 0 && step % ckpt_every == 0) || step == total_steps)) {
      last_checkpoint = save(step);
      saved_step = step;
    }
    // Samples after the checkpoint: a signal during their (long) sampling ends it at the next network
    // evaluation, with nothing lost.
    if (root && sample_every > 0 && (step % sample_every == 0 || step == total_steps) && !stop_requested()) {
      ema.swap();
      try {
        log.message("wrote EMA samples " + task.write_samples(fs::path(o.out_dir) / "samples", step));
      } catch (const StopRequested&) {
        log.message("sampling at step " + std::to_string(step) + " stopped by signal; no samples written");
      }
      ema.swap();
    }
  }
  say("done: " + std::to_string(step) + " steps; checkpoint " + last_checkpoint);
  return 0;
}

}  // namespace diffuse
