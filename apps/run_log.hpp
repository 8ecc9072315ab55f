// metrics.jsonl, a training run's machine-readable log: one JSON object per logged step (the steps whose
// log line is printed), appended and flushed as it is written, so that a killed run loses no line it
// printed. Process 0 alone writes it.
//
//   {"step":100,"wall_time":1764900000.25,"lr":0.0002,"loss":3.21,"loss_parts":{"L_vb":3.1,"CE":11.0},"grad_norm":1.7,"clipped":true,
//    "ms_per_step":41.0,"items_per_second":3121.9,"ema_decay":0.9}
//
// A periodic evaluation (train.eval_every; TrainingTask::evaluate) adds an object of its own after its
// step's line, the held-out figure with its standard error:
//
//   {"step":1000,"evaluation":{"split":"valid","items":64,"bits_per_char":2.71,"stderr":0.03,"method":"estimate"}}
//
// Resuming from the checkpoint of step S first rewrites the file (atomically) keeping only the lines an
// uninterrupted run would hold by then (the evaluations of steps <= S among them), so that the finished
// file equals an uninterrupted run's apart from wall_time, ms_per_step and items_per_second. A malformed or
// cut line (a kill mid-write) is dropped.
#pragma once
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace diffuse {

struct MetricsRecord {
  int64_t step = 0;
  double wall_time = 0;         // seconds since the Unix epoch
  double lr = 0;
  double loss = 0;
  std::vector<std::pair<std::string, double>> loss_parts;  // the loss's named parts ("L_vb", "CE", ...)
  double grad_norm = 0;         // before clipping
  bool clipped = false;         // grad_norm > train.grad_clip
  double ms_per_step = 0;       // as the log line prints them
  double items_per_second = 0;
  double ema_decay = 0;         // the EMA decay applied at this step
};

// A periodic evaluation's result: the figure (bits_per_char of valid chunks, bits_per_dim of test images)
// of the first `items` held-out items, with its standard error and how it was computed.
struct EvaluationRecord {
  int64_t step = 0;
  std::string split;          // "valid", "test"
  int64_t items = 0;
  std::string item_noun;      // what the log line calls the items: "chunks", "images" (not in the JSON)
  std::string figure;         // "bits_per_char", "bits_per_dim"
  double value = 0;
  double standard_error = 0;  // "stderr" in the JSON
  std::string method;         // "estimate" (the bound at one random t per item), "exact"
};

// Seconds since the Unix epoch, now.
double unix_time_now();

class MetricsLog {
 public:
  // Opens `file` for appending, after rewriting it to keep only the lines of steps <= resume_step that a
  // run logging every log_every steps and at last_step writes, and the evaluations of steps <= resume_step
  // (resume_step 0, a new run: none at all).
  MetricsLog(const std::filesystem::path& file, int64_t resume_step, int64_t log_every, int64_t last_step);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;

  void write(const MetricsRecord& record);  // one line, flushed
  void write(const EvaluationRecord& record);
  // Whether the file holds the evaluation of `step` (kept on reopening, or written since).
  bool has_evaluation(int64_t step) const { return evaluated_.count(step) > 0; }
  const std::filesystem::path& path() const { return path_; }

  static std::string format(const MetricsRecord& record);  // the line, without its newline
  static std::string format(const EvaluationRecord& record);

 private:
  void append(const std::string& line);

  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
  std::set<int64_t> evaluated_;  // the steps of the evaluation lines
};

}  // namespace diffuse
