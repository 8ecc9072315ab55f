// What every training command shares: the stop signal (Ctrl-C / SIGTERM save a checkpoint before
// exiting), the finite-value check on loss and gradients, the per-step log line (a progress bar on a
// terminal, plain lines otherwise), and the RNG state as checkpoint metadata.
#pragma once
#include <chrono>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>

#include "apps/progress.hpp"
#include "nn/arena.hpp"
#include "tensor/random.hpp"

namespace diffuse {

// Installs SIGINT and SIGTERM handlers that only set a flag; the loop checks it between steps, a stoppable
// model before each network evaluation.
void install_stop_handlers();
bool stop_requested();

// Thrown by a stoppable model function once a stop signal has arrived.
struct StopRequested : std::runtime_error {
  StopRequested() : std::runtime_error("stopped by signal") {}
};
// model with the stop flag checked before each network evaluation, so that sampling inside a training run
// (a thousand evaluations) ends at the next one after SIGINT or SIGTERM. Without the handlers installed
// (the sample command) the flag never rises.
template <class Model>
Model stoppable(Model model) {
  return [model = std::move(model)](const Tensor& x_t, const Tensor& step) {
    if (stop_requested()) throw StopRequested();
    return model(x_t, step);
  };
}

// True when every element of t is finite (no NaN, no Inf).
bool all_finite(const Tensor& t);

// "seed stream counter" and back: a generator's whole state, for checkpoint metadata.
std::string philox_state(const Philox& g);
Philox philox_from_state(const std::string& s, const std::string& what);

// The configuration a checkpoint was trained with (its metadata's "config"); throws naming the file.
nlohmann::json checkpoint_config(const std::string& path);

// Throws unless --data was given, or the configuration's dataset has a default place (Fashion-MNIST,
// which Debian installs in /usr/share/datasets/fashion-mnist).
void require_data_path(const nlohmann::json& config, const std::string& data_path);

// Loads a checkpoint's weights into `arena` for sampling or evaluation: the EMA weights when use_ema and
// the file has them (a note on stderr when it has not), the raw weights otherwise.
void load_inference_weights(const std::string& path, nn::ParameterArena& arena, bool use_ema);

// A family's model (a struct with `arena` and `net`, constructed from (config, seed)) rebuilt from the
// configuration a checkpoint records, its weights loaded as load_inference_weights does, in eval mode.
template <class Model>
std::unique_ptr<Model> load_model_for_inference(const std::string& path, bool use_ema) {
  auto m = std::make_unique<Model>(checkpoint_config(path), 0);
  load_inference_weights(path, m->arena, use_ema);
  m->net.eval();
  return m;
}

// Writes `text` to path.tmp, then renames it over path.
void write_text_atomically(const std::filesystem::path& path, const std::string& text);

double seconds_since(std::chrono::steady_clock::time_point start);

// For long evaluations and sampling: progress over `total` network evaluations on stderr, with an ETA
// (progress.hpp), reported by process 0 of an MPI job only and not at all when quiet (--quiet).
std::unique_ptr<Progress> evaluation_progress(const std::string& what, int64_t total, bool quiet);

// model with progress->advance() after each network evaluation (progress may be null).
template <class Model>
Model with_progress(Model model, Progress* progress) {
  return [model = std::move(model), progress](const Tensor& x_t, const Tensor& step) {
    auto out = model(x_t, step);
    if (progress) progress->advance();
    return out;
  };
}

// One line per logged step: step, loss, gradient norm, lr, ms/step, items/s and ETA. On a terminal it
// redraws one progress-bar line; otherwise it prints plain lines (for logs and pipes).
class ProgressLog {
 public:
  ProgressLog(int64_t first_step, int64_t last_step, const std::string& item_name);
  // The speed a line reports, over every step since the previous line.
  struct Rates {
    double ms_per_step, items_per_second;
  };
  // items: per step (the loop's batch times the items per example). Returns the figures it printed.
  Rates step(int64_t step, double loss, double grad_norm, double lr, int64_t items_per_step);
  void message(const std::string& text);  // a line of its own, not overwritten by the bar

 private:
  int64_t first_, last_;
  std::string item_;
  bool tty_;
  bool bar_open_ = false;
  std::chrono::steady_clock::time_point start_, last_time_;
  int64_t last_step_logged_;
};

}  // namespace diffuse
