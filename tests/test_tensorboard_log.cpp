// TensorBoard event files (apps/tensorboard_log.hpp): the CRC-32C against its standard check values, the
// record framing read back byte by byte by an independent reader (tests/tensorboard_reader.hpp) that
// catches a flipped byte anywhere, the events' tags, steps and values, and short runs of build/diffuse
// (a text family, an image family, and a resume whose SessionLog START hides the steps it logs again).
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apps/tensorboard_log.hpp"
#include "data/image_io.hpp"
#include "data_testing.hpp"
#include "tensor/random.hpp"
#include "tensorboard_reader.hpp"

using namespace diffuse;
using diffuse::testing::TempDir;
using diffuse::testing::file_bytes;
using diffuse::testing::parse_event_records;
using diffuse::testing::read_event_file;

namespace {
MetricsRecord record(int64_t step) {
  return {.step = step, .wall_time = 1764900000.25 + static_cast<double>(step), .lr = 2e-4, .loss = 3.0 / static_cast<double>(step),
          .loss_parts = {}, .grad_norm = 1.7, .clipped = step % 2 == 0, .ms_per_step = 41.0, .items_per_second = 3121.9, .ema_decay = 0.99};
}

const std::vector<std::string> kScalarTags = {"train/loss", "train/lr", "train/grad_norm", "train/clipped",
                                              "train/ms_per_step", "train/items_per_second", "train/ema_decay"};

std::vector<std::string> tags_of(const tensorboard::Event& e) {
  std::vector<std::string> tags;
  for (const auto& v : e.summary().value()) tags.push_back(v.tag());
  return tags;
}

// A 3-channel 5 x 4 PNG (one image, no padding), its path.
std::string write_test_png(const TempDir& dir) {
  data::U8Array image{{1, 3, 4, 5}, std::vector<uint8_t>(60)};
  for (size_t i = 0; i < image.bytes.size(); ++i) image.bytes[i] = static_cast<uint8_t>(i * 7);
  const std::string path = dir.file("grid.png");
  data::write_png_grid(path, image, 1, 0);
  return path;
}

// A file of the first three events and the scalars, image and text of step 10.
std::filesystem::path write_sample_file(const TempDir& dir) {
  const std::string png = write_test_png(dir);
  diffuse::testing::write_text(dir.file("text.txt"), "the quick brown\nfox jumps over\n");
  const auto run = dir.path() / "run";
  std::filesystem::create_directories(run);
  TensorBoardLog log(run, 1);
  log.write_scalars(record(10));
  log.write_samples(10, png);
  log.write_samples(10, dir.file("text.txt"));
  return log.path();
}
}  // namespace

TEST_CASE("CRC-32C: the standard check value and RFC 3720's test vectors, and the masked form") {
  CHECK(crc32c("123456789") == 0xE3069283u);
  CHECK(crc32c("") == 0u);
  const std::string zeros(32, '\0'), ones(32, '\xff');
  std::string ascending, descending;
  for (int i = 0; i < 32; ++i) ascending.push_back(static_cast<char>(i)), descending.push_back(static_cast<char>(31 - i));
  CHECK(crc32c(zeros) == 0x8A9136AAu);  // RFC 3720 B.4
  CHECK(crc32c(ones) == 0x62A8AB43u);
  CHECK(crc32c(ascending) == 0x46DD794Eu);
  CHECK(crc32c(descending) == 0x113FDB5Cu);
  const uint32_t c = 0xE3069283u;
  CHECK(masked_crc32c("123456789") == ((c >> 15) | (c << 17)) + 0xa282ead8u);
  // The library and the tests' bit-at-a-time reference agree on random bytes of every length up to 300.
  Philox rng(7);
  std::string bytes;
  for (int n = 0; n <= 300; ++n) {
    CHECK(crc32c(bytes) == diffuse::testing::reference_crc32c(bytes));
    bytes.push_back(static_cast<char>(rng.integer(0, 256)));
  }
}

TEST_CASE("tfrecord: length, its masked CRC, the payload, its masked CRC, little-endian") {
  const std::string r = tfrecord("abc");
  REQUIRE(r.size() == 8 + 4 + 3 + 4);
  CHECK(r.substr(0, 8) == std::string("\x03\0\0\0\0\0\0\0", 8));
  CHECK(diffuse::testing::little_endian(r, 8, 4) == masked_crc32c(r.substr(0, 8)));
  CHECK(r.substr(12, 3) == "abc");
  CHECK(diffuse::testing::little_endian(r, 15, 4) == masked_crc32c("abc"));
  CHECK(tfrecord("").size() == 16);
}

TEST_CASE("event file name: events.out.tfevents.<10-digit seconds>.<hostname>") {
  CHECK(event_file_name(1764900000, "node7") == "events.out.tfevents.1764900000.node7");
  CHECK(event_file_name(42, "h") == "events.out.tfevents.0000000042.h");
}

TEST_CASE("TensorBoardLog: file_version, SessionLog START, scalars, an image and text, read back byte by byte") {
  TempDir dir("tensorboard");
  const auto path = write_sample_file(dir);
  CHECK(path.filename().string().rfind("events.out.tfevents.", 0) == 0);
  const auto events = read_event_file(path);
  REQUIRE(events.size() == 5);

  CHECK(events[0].file_version() == "brain.Event:2");
  CHECK(events[0].step() == 0);
  CHECK(events[0].wall_time() > 1.6e9);
  CHECK(events[1].has_session_log());
  CHECK(events[1].session_log().status() == tensorboard::SessionLog::START);
  CHECK(events[1].step() == 1);

  const tensorboard::Event& scalars = events[2];
  CHECK(scalars.step() == 10);
  CHECK(scalars.wall_time() == record(10).wall_time);
  REQUIRE(tags_of(scalars) == kScalarTags);
  const MetricsRecord r = record(10);
  const std::vector<double> want = {r.loss, r.lr, r.grad_norm, 1.0, r.ms_per_step, r.items_per_second, r.ema_decay};
  for (size_t i = 0; i < want.size(); ++i) CHECK(scalars.summary().value(static_cast<int>(i)).simple_value() == static_cast<float>(want[i]));

  const auto& image = events[3].summary().value(0);
  CHECK(events[3].step() == 10);
  CHECK(image.tag() == "samples");
  REQUIRE(image.has_image());
  CHECK(image.image().width() == 5);
  CHECK(image.image().height() == 4);
  CHECK(image.image().colorspace() == 3);
  CHECK(image.image().encoded_image_string() == file_bytes(dir.file("grid.png")));

  const auto& text = events[4].summary().value(0);
  CHECK(events[4].step() == 10);
  CHECK(text.tag() == "samples");
  CHECK(text.metadata().plugin_data().plugin_name() == "text");
  REQUIRE(text.has_tensor());
  CHECK(text.tensor().dtype() == tensorboard::DT_STRING);
  REQUIRE(text.tensor().tensor_shape().dim_size() == 1);
  CHECK(text.tensor().tensor_shape().dim(0).size() == 2);
  REQUIRE(text.tensor().string_val_size() == 2);
  CHECK(text.tensor().string_val(0) == "the quick brown");
  CHECK(text.tensor().string_val(1) == "fox jumps over");
}

TEST_CASE("TensorBoardLog: each event is flushed as it is written") {
  TempDir dir("tensorboard");
  TensorBoardLog log(dir.path(), 1);
  CHECK(read_event_file(log.path()).size() == 2);
  log.write_scalars(record(1));
  CHECK(read_event_file(log.path()).size() == 3);  // readable while the log is still open
  log.write_scalars(record(2));
  const auto events = read_event_file(log.path());
  REQUIRE(events.size() == 4);
  CHECK(events[3].step() == 2);
}

TEST_CASE("TensorBoardLog: an evaluation is one event, eval/<figure> and eval/<figure>_stderr at its step") {
  TempDir dir("tensorboard");
  TensorBoardLog log(dir.path(), 1);
  log.write_evaluation({.step = 500, .split = "test", .items = 64, .item_noun = "images", .figure = "bits_per_dim", .value = 3.75,
                        .standard_error = 0.125, .method = "estimate"});
  const auto events = read_event_file(log.path());
  REQUIRE(events.size() == 3);
  CHECK(events[2].step() == 500);
  REQUIRE(tags_of(events[2]) == std::vector<std::string>{"eval/bits_per_dim", "eval/bits_per_dim_stderr"});
  CHECK(events[2].summary().value(0).simple_value() == 3.75f);
  CHECK(events[2].summary().value(1).simple_value() == 0.125f);
}

TEST_CASE("the reader catches a flipped byte anywhere: in a length, a length CRC, a payload, a payload CRC") {
  TempDir dir("tensorboard");
  const std::string bytes = file_bytes(write_sample_file(dir));
  REQUIRE(parse_event_records(bytes).size() == 5);
  auto error_with_flip = [&](size_t at) {
    std::string b = bytes;
    b[at] = static_cast<char>(b[at] ^ 0x10);
    try {
      parse_event_records(b);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  // Every byte of the file, one at a time.
  for (size_t at = 0; at < bytes.size(); ++at) {
    INFO("flipped byte " << at);
    CHECK_FALSE(error_with_flip(at).empty());
  }
  // Each field of the second record (the SessionLog START), by name.
  const size_t second = 12 + diffuse::testing::little_endian(bytes, 0, 8) + 4;
  const size_t length = diffuse::testing::little_endian(bytes, second, 8);
  const std::string where = "record at byte " + std::to_string(second) + ": ";
  CHECK(error_with_flip(second) == where + "length CRC mismatch");
  CHECK(error_with_flip(second + 8) == where + "length CRC mismatch");
  CHECK(error_with_flip(second + 12) == where + "payload CRC mismatch");
  CHECK(error_with_flip(second + 12 + length - 1) == where + "payload CRC mismatch");
  CHECK(error_with_flip(second + 12 + length + 3) == where + "payload CRC mismatch");
  // A file cut short.
  CHECK_THROWS_WITH(parse_event_records(bytes.substr(0, bytes.size() - 1)), doctest::Contains("truncated"));
  CHECK_THROWS_WITH(parse_event_records(bytes.substr(0, 5)), doctest::Contains("truncated in its header"));
}

TEST_CASE("TensorBoardLog: a second file in the same folder sorts after the first, even within the same second") {
  TempDir dir("tensorboard");
  std::filesystem::path first, second;
  { TensorBoardLog log(dir.path(), 1); first = log.path(); }
  { TensorBoardLog log(dir.path(), 11); second = log.path(); }
  CHECK(first != second);
  CHECK(first.filename().string() < second.filename().string());
  CHECK(diffuse::testing::event_files(dir.path()) == std::vector<std::filesystem::path>{first, second});
  CHECK(read_event_file(first).size() == 2);  // the earlier file is left as it was
}

TEST_CASE("TensorBoardLog: errors name the file") {
  TempDir dir("tensorboard");
  const auto missing = dir.path() / "no-such-dir";
  CHECK_THROWS_WITH(TensorBoardLog(missing, 1), diffuse::testing::contains(missing.string()));
  TensorBoardLog log(dir.path(), 1);
  diffuse::testing::write_text(dir.file("fake.png"), "not a png at all, but long enough to look at");
  CHECK_THROWS_WITH(log.write_samples(1, dir.file("fake.png")), diffuse::testing::contains(dir.file("fake.png") + ": not a PNG"));
  CHECK_THROWS_WITH(log.write_samples(1, dir.file("s.npz")), diffuse::testing::contains(dir.file("s.npz")));
  CHECK_THROWS_WITH(log.write_samples(1, dir.file("gone.txt")), diffuse::testing::contains(dir.file("gone.txt") + ": cannot open"));
  CHECK(read_event_file(log.path()).size() == 2);  // nothing half-written
}

// ---- build/diffuse end to end --------------------------------------------------------------------------
namespace {
// Runs build/diffuse with `args`, its output in `log`; returns its exit status.
int run_diffuse(const std::string& args, const std::string& log) {
  const std::string command = std::string(DIFFUSE_BINARY) + " " + args + " > " + log + " 2>&1";
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::vector<int64_t> steps_with_tag(const std::vector<tensorboard::Event>& events, const std::string& tag) {
  std::vector<int64_t> steps;
  for (const auto& e : events)
    for (const auto& v : e.summary().value())
      if (v.tag() == tag) steps.push_back(e.step());
  return steps;
}

const tensorboard::Summary::Value* value_at(const std::vector<tensorboard::Event>& events, const std::string& tag, int64_t step) {
  for (const auto& e : events)
    if (e.step() == step)
      for (const auto& v : e.summary().value())
        if (v.tag() == tag) return &v;
  return nullptr;
}
}  // namespace

TEST_CASE("diffuse train (D3PM text): scalars as metrics.jsonl logs them, text samples, and a resume's START") {
  TempDir dir("tensorboard_cli");
  std::string corpus;
  while (corpus.size() < 200000) corpus += "the quick brown fox jumps over the lazy dog while five boxing wizards jump quickly ";
  diffuse::testing::write_text(dir.file("corpus.txt"), corpus);
  const std::string run = dir.file("run");
  const std::string common = "--data " + dir.file("corpus.txt") + " --out " + run + " --threads 1 --steps 20";
  REQUIRE(run_diffuse("train --preset d3pm-text8-tiny --seed 3 " + common + " --set train.log_every=5 --set train.checkpoint_every=10"
                      " --set train.sample_every=10 --set train.keep_checkpoints=50", dir.file("first.log")) == 0);
  auto files = diffuse::testing::event_files(run);
  REQUIRE(files.size() == 1);
  const auto events = read_event_file(files[0]);
  REQUIRE(events.size() >= 2);
  CHECK(events[0].file_version() == "brain.Event:2");
  CHECK(events[1].session_log().status() == tensorboard::SessionLog::START);
  CHECK(events[1].step() == 1);
  for (const auto& tag : kScalarTags) CHECK(steps_with_tag(events, tag) == std::vector<int64_t>{5, 10, 15, 20});
  CHECK(steps_with_tag(events, "samples") == std::vector<int64_t>{10, 20});

  // Every scalar is metrics.jsonl's value, as a float.
  std::ifstream metrics(std::filesystem::path(run) / "metrics.jsonl");
  int lines = 0;
  for (std::string line; std::getline(metrics, line); ++lines) {
    const auto j = nlohmann::json::parse(line);
    const int64_t step = j.at("step").get<int64_t>();
    for (const char* key : {"loss", "lr", "grad_norm", "ms_per_step", "items_per_second", "ema_decay"}) {
      const auto* v = value_at(events, std::string("train/") + key, step);
      REQUIRE(v != nullptr);
      CHECK(v->simple_value() == static_cast<float>(j.at(key).get<double>()));
    }
    CHECK(value_at(events, "train/clipped", step)->simple_value() == (j.at("clipped").get<bool>() ? 1.0f : 0.0f));
  }
  CHECK(lines == 4);

  // The text samples are the .txt the run wrote, a row per line.
  const auto* text = value_at(events, "samples", 20);
  REQUIRE(text != nullptr);
  CHECK(text->metadata().plugin_data().plugin_name() == "text");
  std::ifstream samples(std::filesystem::path(run) / "samples" / "step-20.txt");
  std::vector<std::string> rows;
  for (std::string line; std::getline(samples, line);) rows.push_back(line);
  REQUIRE(!rows.empty());
  REQUIRE(text->tensor().string_val_size() == static_cast<int>(rows.size()));
  for (size_t i = 0; i < rows.size(); ++i) CHECK(text->tensor().string_val(static_cast<int>(i)) == rows[i]);

  // As after a kill past step 10: the last checkpoint is step 10's, the event file holds steps to 20. The
  // resume writes a second file, START at 11, and logs 15 and 20 again; TensorBoard shows each step once.
  std::filesystem::remove(std::filesystem::path(run) / "ckpt-000000020.safetensors");
  REQUIRE(run_diffuse("train --resume " + common, dir.file("resumed.log")) == 0);
  files = diffuse::testing::event_files(run);
  REQUIRE(files.size() == 2);
  const auto resumed = read_event_file(files[1]);
  REQUIRE(resumed.size() >= 2);
  CHECK(resumed[0].file_version() == "brain.Event:2");
  CHECK(resumed[1].session_log().status() == tensorboard::SessionLog::START);
  CHECK(resumed[1].step() == 11);
  CHECK(steps_with_tag(resumed, "train/loss") == std::vector<int64_t>{15, 20});
  CHECK(steps_with_tag(resumed, "samples") == std::vector<int64_t>{20});
  const auto view = diffuse::testing::tensorboard_view(run);
  for (const auto& tag : kScalarTags) CHECK(view.at(tag) == std::vector<int64_t>{5, 10, 15, 20});
  CHECK(view.at("samples") == std::vector<int64_t>{10, 20});
}

TEST_CASE("diffuse train (DDPM on images): the sample grid as an image, the PNG's bytes") {
  TempDir dir("tensorboard_cli");
  const auto cifar = dir.path() / "cifar";
  std::filesystem::create_directories(cifar);
  Philox rng(11);
  for (const char* name : {"data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"}) {
    std::vector<uint8_t> bytes;
    for (uint8_t label = 0; label < 4; ++label) {
      bytes.push_back(label);
      for (int i = 0; i < 3072; ++i) bytes.push_back(static_cast<uint8_t>(rng.integer(0, 256)));
    }
    diffuse::testing::write_bytes((cifar / (std::string(name) + ".bin")).string(), bytes);
  }
  const std::string run = dir.file("run");
  REQUIRE(run_diffuse("train --preset ddpm-cifar10-tiny --data " + cifar.string() + " --out " + run +
                      " --steps 2 --threads 1 --set diffusion.timesteps=20 --set train.log_every=1"
                      " --set train.sample_every=2 --set train.sample_count=4", dir.file("ddpm.log")) == 0);
  const auto files = diffuse::testing::event_files(run);
  REQUIRE(files.size() == 1);
  const auto events = read_event_file(files[0]);
  CHECK(steps_with_tag(events, "train/loss") == std::vector<int64_t>{1, 2});
  CHECK(steps_with_tag(events, "samples") == std::vector<int64_t>{2});
  const auto* image = value_at(events, "samples", 2);
  REQUIRE(image != nullptr);
  REQUIRE(image->has_image());
  const std::string png = file_bytes(std::filesystem::path(run) / "samples" / "step-2.png");
  CHECK(image->image().encoded_image_string() == png);
  const PngInfo info = png_info(png, "step-2.png");
  CHECK(image->image().width() == info.width);
  CHECK(image->image().height() == info.height);
  CHECK(image->image().colorspace() == 3);
  CHECK(info.width >= 512);  // the grid is magnified to at least 512 pixels wide
}
