#include "apps/run_log.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "data/file_io.hpp"

namespace diffuse {

namespace {
// A well-formed line's step (a JSON object with an integer "step"), or -1, and whether it is an evaluation's.
struct LineKind {
  int64_t step = -1;
  bool evaluation = false;
};
LineKind line_kind(const std::string& line) {
  const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return {};
  const auto it = j.find("step");
  if (it == j.end() || !it->is_number_integer()) return {};
  return {it->get<int64_t>(), j.contains("evaluation")};
}
}  // namespace

double unix_time_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

MetricsLog::MetricsLog(const std::filesystem::path& file, int64_t resume_step, int64_t log_every, int64_t last_step)
    : path_(file) {
  std::string kept;
  if (std::filesystem::exists(path_)) {
    std::ifstream in(path_);
    std::string line;
    while (std::getline(in, line)) {  // a cut last line lacks its newline, and fails to parse: dropped
      const auto [step, evaluation] = line_kind(line);
      if (step < 1 || step > resume_step) continue;
      if (evaluation) {
        evaluated_.insert(step);
      } else if (step % std::max<int64_t>(log_every, 1) != 0 && step != last_step) {
        continue;  // another segment's last step
      }
      kept += line;
      kept += '\n';
    }
  }
  data::AtomicFile out(path_.string());
  out.write(kept.data(), kept.size());
  out.commit();
  file_ = std::fopen(path_.c_str(), "a");
  if (!file_) throw std::runtime_error(path_.string() + ": cannot open for appending (" + std::strerror(errno) + ")");
}

MetricsLog::~MetricsLog() {
  if (file_) std::fclose(file_);
}

std::string MetricsLog::format(const MetricsRecord& r) {
  nlohmann::ordered_json j;
  j["step"] = r.step;
  j["wall_time"] = r.wall_time;
  j["lr"] = r.lr;
  j["loss"] = r.loss;
  if (!r.loss_parts.empty()) {
    nlohmann::ordered_json parts = nlohmann::ordered_json::object();
    for (const auto& [name, value] : r.loss_parts) parts[name] = value;
    j["loss_parts"] = parts;
  }
  j["grad_norm"] = r.grad_norm;
  j["clipped"] = r.clipped;
  j["ms_per_step"] = r.ms_per_step;
  j["items_per_second"] = r.items_per_second;
  j["ema_decay"] = r.ema_decay;
  return j.dump();
}

std::string MetricsLog::format(const EvaluationRecord& r) {
  nlohmann::ordered_json e;
  e["split"] = r.split;
  e["items"] = r.items;
  e[r.figure] = r.value;
  e["stderr"] = r.standard_error;
  e["method"] = r.method;
  nlohmann::ordered_json j;
  j["step"] = r.step;
  j["evaluation"] = e;
  return j.dump();
}

void MetricsLog::write(const MetricsRecord& record) { append(format(record) + "\n"); }

void MetricsLog::write(const EvaluationRecord& record) {
  append(format(record) + "\n");
  evaluated_.insert(record.step);
}

void MetricsLog::append(const std::string& line) {
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0)
    throw std::runtime_error(path_.string() + ": cannot write (" + std::strerror(errno) + ")");
}

}  // namespace diffuse
