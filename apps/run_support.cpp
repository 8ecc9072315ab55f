#include "apps/run_support.hpp"

#include "apps/process_group.hpp"

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <stdexcept>

#include "nn/checkpoint.hpp"
#include "nn/optim.hpp"

namespace diffuse {

namespace {
volatile std::sig_atomic_t g_stop = 0;
void on_stop_signal(int) { g_stop = 1; }
}  // namespace

void install_stop_handlers() {
  struct sigaction sa = {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool stop_requested() { return g_stop != 0; }

void require_data_path(const nlohmann::json& config, const std::string& data_path) {
  if (!data_path.empty()) return;
  const std::string dataset = config.at("data").at("dataset").get<std::string>();
  if (dataset != "fashion-mnist")
    throw std::invalid_argument("--data is required for dataset '" + dataset +
                                "' (only fashion-mnist has a default, /usr/share/datasets/fashion-mnist)");
}

nlohmann::json checkpoint_config(const std::string& path) {
  const auto meta = nn::read_checkpoint_metadata(path);
  const auto it = meta.find("config");
  if (it == meta.end()) throw std::runtime_error(path + ": the checkpoint records no configuration");
  try {
    return nlohmann::json::parse(it->second);
  } catch (const nlohmann::json::exception&) {
    throw std::runtime_error(path + ": the recorded configuration is not valid JSON");
  }
}

void load_inference_weights(const std::string& path, nn::ParameterArena& arena, bool use_ema) {
  if (!use_ema) {
    nn::load_checkpoint(path, arena, nullptr, nullptr);
    return;
  }
  nn::Ema ema(arena, 0.0);
  try {
    nn::load_checkpoint(path, arena, nullptr, &ema);
  } catch (const std::runtime_error& e) {
    if (std::string(e.what()).find("'ema/") == std::string::npos) throw;
    nn::load_checkpoint(path, arena, nullptr, nullptr);
    std::fprintf(stderr, "note: %s holds no EMA weights; using the raw weights\n", path.c_str());
    return;
  }
  ema.swap();
}

void write_text_atomically(const std::filesystem::path& path, const std::string& text) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp);
    out << text;
    if (!out) throw std::runtime_error(path.string() + ": cannot write");
  }
  std::filesystem::rename(tmp, path);
}

bool all_finite(const Tensor& t) {
  const Tensor c = t.contiguous();
  const float* v = c.data<float>();
  const int64_t n = c.numel();
  bool ok = true;
#pragma omp parallel for reduction(&& : ok)
  for (int64_t i = 0; i < n; ++i) ok = ok && std::isfinite(v[i]);
  return ok;
}

std::string philox_state(const Philox& g) {
  return std::to_string(g.seed()) + " " + std::to_string(g.stream()) + " " + std::to_string(g.counter());
}

Philox philox_from_state(const std::string& s, const std::string& what) {
  unsigned long long seed, stream, counter;
  char extra;
  if (std::sscanf(s.c_str(), "%llu %llu %llu %c", &seed, &stream, &counter, &extra) != 3)
    throw std::runtime_error(what + ": invalid random-generator state '" + s + "'");
  return Philox(seed, stream, counter);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::unique_ptr<Progress> evaluation_progress(const std::string& what, int64_t total, bool quiet) {
  return std::make_unique<Progress>(what, total, "network evaluations",
                                    Progress::Options{.quiet = quiet, .report = ProcessGroup::world().is_root()});
}

ProgressLog::ProgressLog(int64_t first_step, int64_t last_step, const std::string& item_name)
    : first_(first_step), last_(last_step), item_(item_name), tty_(::isatty(STDOUT_FILENO) != 0),
      start_(std::chrono::steady_clock::now()), last_time_(start_), last_step_logged_(first_step - 1) {}

ProgressLog::Rates ProgressLog::step(int64_t step, double loss, double grad_norm, double lr, int64_t items_per_step) {
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_time_).count();
  const int64_t steps = std::max<int64_t>(1, step - last_step_logged_);
  const double ms_per_step = 1000.0 * since / static_cast<double>(steps);
  const double per_second = since > 0 ? static_cast<double>(items_per_step * steps) / since : 0.0;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double eta = elapsed / static_cast<double>(std::max<int64_t>(1, step - first_ + 1)) * static_cast<double>(last_ - step);
  char line[256];
  std::snprintf(line, sizeof(line), "step %lld/%lld  loss %.5f  grad %.3f  lr %.2e  %.0f ms/step  %.1f %s/s  ETA %02d:%02d:%02d",
                static_cast<long long>(step), static_cast<long long>(last_), loss, grad_norm, lr, ms_per_step, per_second,
                item_.c_str(), static_cast<int>(eta / 3600), static_cast<int>(eta / 60) % 60, static_cast<int>(eta) % 60);
  if (tty_) {
    const int width = 24;
    const int filled = static_cast<int>(width * static_cast<double>(step) / static_cast<double>(std::max<int64_t>(last_, 1)));
    std::printf("\r[%s%s] %s\033[K", std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(), line);
    bar_open_ = true;
  } else {
    std::printf("%s\n", line);
  }
  std::fflush(stdout);
  last_time_ = now;
  last_step_logged_ = step;
  return {ms_per_step, per_second};
}

void ProgressLog::message(const std::string& text) {
  if (bar_open_) std::printf("\n");
  bar_open_ = false;
  std::printf("%s\n", text.c_str());
  std::fflush(stdout);
}

}  // namespace diffuse
