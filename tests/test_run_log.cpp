// metrics.jsonl (apps/run_log.hpp): one flushed JSON line per logged step; reopening for a resume from
// step S keeps the lines of steps <= S that an uninterrupted run writes, and drops a line cut by a kill.
#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "apps/run_log.hpp"
#include "data_testing.hpp"

using namespace diffuse;
using diffuse::testing::TempDir;

namespace {
MetricsRecord record(int64_t step) {
  return {.step = step, .wall_time = unix_time_now(), .lr = 1e-4 * static_cast<double>(step), .loss = 3.0 / static_cast<double>(step),
          .loss_parts = {}, .grad_norm = 0.5 * static_cast<double>(step), .clipped = step > 2, .ms_per_step = 12.5, .items_per_second = 640.0,
          .ema_decay = 0.99};
}

std::vector<std::string> lines_of(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<int64_t> steps_of(const std::filesystem::path& path) {
  std::vector<int64_t> steps;
  for (const auto& line : lines_of(path)) steps.push_back(nlohmann::json::parse(line).at("step").get<int64_t>());
  return steps;
}

std::string contents(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}
}  // namespace

TEST_CASE("MetricsLog writes one flushed JSON object per step, its fields in order") {
  TempDir dir("run_log");
  const auto path = dir.path() / "metrics.jsonl";
  MetricsLog log(path, 0, 1, 10);
  log.write(record(1));
  // Flushed as written: readable while the log is still open.
  REQUIRE(lines_of(path).size() == 1);
  log.write(record(2));
  log.write(record(3));
  const auto lines = lines_of(path);
  REQUIRE(lines.size() == 3);
  const auto j = nlohmann::json::parse(lines[2]);
  CHECK(j.at("step").get<int64_t>() == 3);
  CHECK(j.at("lr").get<double>() == record(3).lr);
  CHECK(j.at("loss").get<double>() == record(3).loss);  // round-trips exactly
  CHECK(j.at("grad_norm").get<double>() == 1.5);
  CHECK(j.at("clipped").get<bool>());
  CHECK_FALSE(nlohmann::json::parse(lines[0]).at("clipped").get<bool>());
  CHECK(j.at("ms_per_step").get<double>() == 12.5);
  CHECK(j.at("items_per_second").get<double>() == 640.0);
  CHECK(j.at("ema_decay").get<double>() == 0.99);
  CHECK(j.at("wall_time").get<double>() > 1.6e9);
  CHECK(lines[2].rfind("{\"step\":3,\"wall_time\":", 0) == 0);
  CHECK(lines[2].find("\"ema_decay\":0.99}") != std::string::npos);
}

TEST_CASE("MetricsLog: a new run (step 0) starts the file afresh") {
  TempDir dir("run_log");
  const auto path = dir.path() / "metrics.jsonl";
  { MetricsLog log(path, 0, 1, 10); log.write(record(1)); log.write(record(2)); }
  MetricsLog log(path, 0, 1, 10);
  CHECK(lines_of(path).empty());
}

TEST_CASE("MetricsLog: reopening at step S keeps the lines of steps <= S, byte for byte, and appends after them") {
  TempDir dir("run_log");
  const auto path = dir.path() / "metrics.jsonl";
  {
    MetricsLog log(path, 0, 10, 100);
    for (int64_t s = 10; s <= 50; s += 10) log.write(record(s));
  }
  const auto before = lines_of(path);
  {
    MetricsLog log(path, 30, 10, 100);  // resumed from the checkpoint of step 30
    CHECK(steps_of(path) == std::vector<int64_t>{10, 20, 30});
    log.write(record(40));
  }
  const auto after = lines_of(path);
  REQUIRE(after.size() == 4);
  for (int i = 0; i < 3; ++i) CHECK(after[i] == before[i]);
  CHECK(steps_of(path) == std::vector<int64_t>{10, 20, 30, 40});
  // Resumed between log steps (a stop by signal at 35): the lines up to 30.
  { MetricsLog log(path, 35, 10, 100); }
  CHECK(steps_of(path) == std::vector<int64_t>{10, 20, 30});
  // No temporary file is left beside it.
  CHECK(diffuse::testing::list_dir(dir.path()) == std::vector<std::string>{"metrics.jsonl"});
}

TEST_CASE("MetricsLog: an earlier segment's last step, off the log_every grid, is dropped unless it is the run's last") {
  TempDir dir("run_log");
  const auto path = dir.path() / "metrics.jsonl";
  {
    MetricsLog log(path, 0, 10, 25);  // a run to step 25 logs 10, 20 and its last step, 25
    for (int64_t s : {10, 20, 25}) log.write(record(s));
  }
  { MetricsLog log(path, 25, 10, 25); }  // resumed with nothing left to do: the file stands
  CHECK(steps_of(path) == std::vector<int64_t>{10, 20, 25});
  { MetricsLog log(path, 25, 10, 100); }  // continued to 100: an uninterrupted run has no line at 25
  CHECK(steps_of(path) == std::vector<int64_t>{10, 20});
}

TEST_CASE("MetricsLog: a cut or malformed last line (a kill mid-write) is dropped on reopening") {
  TempDir dir("run_log");
  const auto path = dir.path() / "metrics.jsonl";
  {
    MetricsLog log(path, 0, 1, 100);
    for (int64_t s = 1; s <= 4; ++s) log.write(record(s));
  }
  const auto lines = lines_of(path);
  const std::string cut = lines[0] + "\n" + lines[1] + "\n" + lines[2] + "\n" + lines[3].substr(0, lines[3].size() / 2);
  diffuse::testing::write_text(path.string(), cut);
  {
    MetricsLog log(path, 100, 1, 100);
    CHECK(contents(path) == lines[0] + "\n" + lines[1] + "\n" + lines[2] + "\n");
    log.write(record(4));
  }
  CHECK(steps_of(path) == std::vector<int64_t>{1, 2, 3, 4});
  // Cut just before the closing brace, and garbage: dropped as well.
  diffuse::testing::write_text(path.string(), lines[0] + "\n" + lines[1].substr(0, lines[1].size() - 1) + "\n\x01{oops\n");
  { MetricsLog log(path, 100, 1, 100); }
  CHECK(contents(path) == lines[0] + "\n");
}

namespace {
EvaluationRecord evaluation(int64_t step) {
  return {.step = step, .split = "valid", .items = 64, .item_noun = "chunks", .figure = "bits_per_char", .value = 2.71,
          .standard_error = 0.03, .method = "estimate"};
}
bool is_evaluation(const std::string& line) { return nlohmann::json::parse(line).contains("evaluation"); }
}  // namespace

TEST_CASE("MetricsLog: an evaluation is an object of its own, its figure named") {
  TempDir dir("run_log");
  const auto path = dir.path() / "metrics.jsonl";
  MetricsLog log(path, 0, 10, 100);
  log.write(record(10));
  CHECK_FALSE(log.has_evaluation(10));
  log.write(evaluation(10));
  CHECK(log.has_evaluation(10));
  const auto lines = lines_of(path);
  REQUIRE(lines.size() == 2);
  CHECK(lines[1] == R"({"step":10,"evaluation":{"split":"valid","items":64,"bits_per_char":2.71,"stderr":0.03,"method":"estimate"}})");
  EvaluationRecord images = evaluation(20);
  images.figure = "bits_per_dim";
  CHECK(MetricsLog::format(images).find(R"("bits_per_dim":2.71,"stderr":0.03)") != std::string::npos);
}

TEST_CASE("MetricsLog: reopening at step S keeps the evaluations of steps <= S, on or off the log_every grid, and drops later ones") {
  TempDir dir("run_log");
  const auto path = dir.path() / "metrics.jsonl";
  {
    MetricsLog log(path, 0, 10, 100);  // logs every 10 steps, evaluates every 15
    for (int64_t s = 10; s <= 50; s += 5) {
      if (s % 10 == 0) log.write(record(s));
      if (s % 15 == 0) log.write(evaluation(s));
    }
  }
  const auto before = lines_of(path);  // 10, 15e, 20, 30, 30e, 40, 45e, 50
  REQUIRE(before.size() == 8);
  {
    MetricsLog log(path, 30, 10, 100);
    CHECK(steps_of(path) == std::vector<int64_t>{10, 15, 20, 30, 30});
    const auto kept = lines_of(path);
    for (size_t i = 0; i < kept.size(); ++i) CHECK(kept[i] == before[i]);  // byte for byte, in order
    CHECK(is_evaluation(kept[1]));
    CHECK(is_evaluation(kept[4]));
    CHECK(log.has_evaluation(15));
    CHECK(log.has_evaluation(30));
    CHECK_FALSE(log.has_evaluation(45));
  }
  // Resumed from step 29 (a stop by signal): the evaluation of 30 is an uninterrupted run's later line.
  {
    MetricsLog log(path, 29, 10, 100);
    CHECK(steps_of(path) == std::vector<int64_t>{10, 15, 20});
    CHECK_FALSE(log.has_evaluation(30));
  }
  // A resume from S whose evaluation was cut mid-write: the line is dropped, and the log says S lacks it.
  {
    MetricsLog log(path, 100, 10, 100);
    log.write(record(30));
    log.write(evaluation(30));
  }
  const auto lines = lines_of(path);
  diffuse::testing::write_text(path.string(), lines[0] + "\n" + lines[1] + "\n" + lines[2] + "\n" + lines[3] + "\n" +
                                                  lines[4].substr(0, lines[4].size() - 3));
  MetricsLog log(path, 30, 10, 100);
  CHECK(steps_of(path) == std::vector<int64_t>{10, 15, 20, 30});
  CHECK_FALSE(log.has_evaluation(30));
}
