#include "apps/training_loop.hpp"

#include <cmath>
#include <cstdio>

#include "apps/presets.hpp"
#include "apps/run_support.hpp"
#include "nn/checkpoint.hpp"
#include "nn/optim.hpp"
#include "tensor/threads.hpp"

namespace diffuse {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::map<std::string, std::string> TrainingStreams::state() const {
  return {{"rng.diffusion", philox_state(diffusion)}, {"rng.dropout", philox_state(dropout)}};
}

void TrainingStreams::restore(const std::map<std::string, std::string>& meta, const std::string& path) {
  for (const char* key : {"rng.diffusion", "rng.dropout"})
    if (!meta.count(key)) throw std::runtime_error(path + ": the checkpoint records no '" + key + "' state");
  diffusion = philox_from_state(meta.at("rng.diffusion"), path);
  dropout = philox_from_state(meta.at("rng.dropout"), path);
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

  int64_t step = 0;
  if (!run.resume_from.empty()) {
    const auto meta = nn::load_checkpoint(run.resume_from, arena, &adam, &ema);
    step = std::stoll(meta.at("step"));
    task.restore(meta, run.resume_from);
    std::printf("resuming %s from step %lld\n", run.resume_from.c_str(), static_cast<long long>(step));
  }
  fs::create_directories(o.out_dir);  // only now: a refused run leaves nothing behind
  write_text_atomically(fs::path(o.out_dir) / "config.json", config.dump(2) + "\n");
  const std::string preset = config.at("preset").get<std::string>();
  std::printf("training %s: %lld parameters, %s, batch %lld (micro-batch %lld), steps %lld..%lld, %d threads\n"
              "  outputs in %s\n",
              preset.c_str(), static_cast<long long>(arena.parameter_count()), task.data_summary().c_str(),
              static_cast<long long>(batch), static_cast<long long>(micro), static_cast<long long>(step + 1),
              static_cast<long long>(total_steps), num_threads(), o.out_dir.c_str());

  auto save = [&](int64_t at_step) {
    const std::string path = nn::checkpoint_path(o.out_dir, at_step);
    std::map<std::string, std::string> meta = task.state();
    meta.insert({{"config", config.dump()}, {"model", config.at("model").dump()},
                 {"diffusion", config.at("diffusion").dump()}, {"preset", preset},
                 {"kind", config.at("kind").get<std::string>()}, {"step", std::to_string(at_step)}});
    nn::save_checkpoint(path, arena, &adam, &ema, meta);
    nn::prune_checkpoints(o.out_dir, static_cast<int>(tc.at("keep_checkpoints").get<int64_t>()));
    return path;
  };

  install_stop_handlers();
  const int64_t log_every = tc.at("log_every").get<int64_t>(), sample_every = tc.at("sample_every").get<int64_t>();
  const int64_t ckpt_every = tc.at("checkpoint_every").get<int64_t>();
  ProgressLog log(step + 1, total_steps, task.item_name());
  std::string last_checkpoint = run.resume_from;
  while (step < total_steps) {
    if (stop_requested()) {
      last_checkpoint = save(step);
      log.message("stopped by signal at step " + std::to_string(step) + "; saved " + last_checkpoint);
      return 130;
    }
    ++step;
    arena.zero_grad();
    double loss = 0;
    for (int64_t done = 0; done < batch; done += micro) {  // gradient accumulation over micro-batches
      const int64_t b = std::min(micro, batch - done);
      const double weight = static_cast<double>(b) / static_cast<double>(batch);
      loss += weight * task.accumulate_gradients(b, weight);
    }
    if (!std::isfinite(loss) || !all_finite(arena.grads())) {
      log.message("error: step " + std::to_string(step) + ": the " + (std::isfinite(loss) ? "gradient" : "loss") +
                  " is not finite (NaN or Inf); stopping without saving. The last good checkpoint is " +
                  (last_checkpoint.empty() ? std::string("none (no checkpoint was written yet)") : last_checkpoint));
      return 3;
    }
    const double grad_norm = nn::clip_grad_norm(arena, tc.at("grad_clip").get<double>());
    const double lr = schedule.at(step);
    adam.step(lr);
    ema.update(step);
    if (step % log_every == 0 || step == total_steps) log.step(step, loss, grad_norm, lr, batch * task.items_per_example());
    if (sample_every > 0 && (step % sample_every == 0 || step == total_steps)) {
      ema.swap();
      const std::string written = task.write_samples(fs::path(o.out_dir) / "samples", step);
      ema.swap();
      log.message("wrote EMA samples " + written);
    }
    if ((ckpt_every > 0 && step % ckpt_every == 0) || step == total_steps) last_checkpoint = save(step);
  }
  log.message("done: " + std::to_string(step) + " steps; checkpoint " + last_checkpoint);
  return 0;
}

}  // namespace diffuse
