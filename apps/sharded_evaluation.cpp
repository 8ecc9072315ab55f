#include "apps/sharded_evaluation.hpp"

#include <iterator>

namespace diffuse {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::map<int64_t, json> read_journal(const std::string& dir, const json& settings) {
  std::map<int64_t, json> done;
  fs::create_directories(dir);
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("part-", 0) != 0 || !name.ends_with(".jsonl")) continue;
    std::ifstream in(entry.path());
    std::string line;
    int64_t line_number = 0;
    while (std::getline(in, line)) {
      ++line_number;
      json j;
      try {
        j = json::parse(line);
      } catch (const json::exception&) {
        if (in.peek() == EOF) break;  // a line cut short by a kill: that batch is redone
        throw std::runtime_error(entry.path().string() + ": line " + std::to_string(line_number) + " is not JSON");
      }
      if (line_number == 1) {
        if (j != settings)
          throw std::invalid_argument("--journal: " + entry.path().string() + " was written for another evaluation (" +
                                      j.dump() + "; this one is " + settings.dump() + "): remove it or choose another directory");
        continue;
      }
      if (!j.contains("batch") || !j.contains("result"))
        throw std::runtime_error(entry.path().string() + ": line " + std::to_string(line_number) + " is not a batch record");
      done[j.at("batch").get<int64_t>()] = j.at("result");
    }
  }
  return done;
}

json evaluation_settings(const EvaluateOptions& options, int64_t items, int64_t batch) {
  // No checkpoint: a training run's own weights (periodic evaluation, which keeps no journal).
  const std::string checkpoint = options.checkpoint.empty() ? "" : fs::absolute(options.checkpoint).lexically_normal().string();
  return {{"checkpoint", checkpoint}, {"split", options.split}, {"items", items},
          {"batch", batch}, {"method", options.estimate ? "estimate" : "exact"}, {"steps", options.steps}, {"seed", options.seed},
          {"ema", options.ema}};
}

JournalWriter::JournalWriter(const std::string& dir, const json& settings)
    : path_((fs::path(dir) / ("part-" + std::to_string(ProcessGroup::world().rank()) + ".jsonl")).string()),
      settings_(settings) {
  if (!fs::exists(path_)) return;
  std::string text;
  {
    std::ifstream in(path_, std::ios::binary);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  if (!text.empty() && text.back() != '\n') fs::resize_file(path_, text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1);
}

void JournalWriter::record(int64_t batch_index, const json& result) {
  const bool fresh = !fs::exists(path_) || fs::file_size(path_) == 0;
  std::ofstream out(path_, std::ios::app);
  if (fresh) out << settings_.dump() << "\n";
  out << json{{"batch", batch_index}, {"result", result}}.dump() << "\n";
  out.flush();
  if (!out) throw std::runtime_error("--journal: cannot append to " + path_ + " (disk full?)");
}

}  // namespace diffuse
