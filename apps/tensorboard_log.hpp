// TensorBoard event files: what metrics.jsonl logs (apps/run_log.hpp) as scalars, and the periodic EMA
// samples as an image (image families' grids) or as text (text families' samples), so that
// `tensorboard --logdir runs/` shows every run. Process 0 alone writes; every event is flushed as it is
// written, so a killed run loses nothing it logged.
//
// The file, events.out.tfevents.<unix seconds, 10 digits>.<hostname> in the run folder, is TensorFlow's
// record format ("TFRecord", tensorflow/core/lib/io/record_writer.cc), one record per Event:
//
//   uint64 length (little-endian) | uint32 masked_crc(length's 8 bytes) | payload | uint32 masked_crc(payload)
//   masked_crc(b) = ((c >> 15) | (c << 17)) + 0xa282ead8, c = CRC-32C(b) (Castagnoli; check value
//   crc32c("123456789") = 0xE3069283), both little-endian
//
// and each payload a serialized tensorboard.Event (apps/tensorboard_event.proto, whose comment says where
// its field numbers come from):
//
//   1. {wall_time, step 0, file_version "brain.Event:2"}, as TensorFlow's EventsWriter starts every file
//   2. {wall_time, step S, session_log {status START}}, S the first step this process trains (1, or one
//      past the step resumed from)
//   3. per logged step: {wall_time, step, summary {value {tag "train/loss", simple_value}, ... "train/lr",
//      "train/grad_norm", "train/clipped" (0 or 1), "train/ms_per_step", "train/items_per_second",
//      "train/ema_decay"}}
//   4. per evaluation (train.eval_every): {wall_time, step, summary {value {tag "eval/<figure>" (eval/bits_per_char,
//      eval/bits_per_dim), simple_value}, {tag "eval/<figure>_stderr", simple_value}}}
//   5. per sample step: {wall_time, step, summary {value {tag "samples", image {height, width, colorspace,
//      encoded_image_string: the PNG file's bytes}}}}, or for text {value {tag "samples", metadata
//      {plugin_data {plugin_name "text"}}, tensor {dtype DT_STRING, tensor_shape [n], string_val: the n
//      samples}}} (the text plugin shows a 1-D string tensor as a table, a row per sample)
//
// Resume. Each start of training (new or resumed) opens a new file and never touches the files before it;
// TensorBoard reads a run's files in name order (tensorboard/backend/event_processing/directory_loader.py
// and directory_watcher.py sort the paths), so a file's seconds are made later than every earlier file's,
// even for a resume within the same second. A resumed run's SessionLog START at S drops what the earlier
// files logged at steps >= S, the steps past the checkpoint that the resumed run logs again:
// tensorboard/backend/event_processing/plugin_event_accumulator.py (and event_accumulator.py),
// _MaybePurgeOrphanedData -> _CheckForRestartAndMaybePurge: when file_version >= 2, the first START of a
// run "does not indicate a restart", and every later one calls _Purge(event, by_tags=False), which keeps in
// every tag only the points with step < event.step. That is why a new run writes a START too. TensorBoard's
// Rust loader (--load_fast, tensorboard/data/server/reservoir.rs) needs no START: a point at step s
// preempts the tag's points at steps >= s.
#pragma once
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "apps/run_log.hpp"

namespace diffuse {

// CRC-32C (Castagnoli) of the bytes, and the masked form a record stores.
uint32_t crc32c(std::string_view bytes);
uint32_t masked_crc32c(std::string_view bytes);

// The record framing the payload: length, its masked CRC, the payload, its masked CRC.
std::string tfrecord(std::string_view payload);

// The file name for events written at `unix_seconds` on `hostname`.
std::string event_file_name(int64_t unix_seconds, const std::string& hostname);

// A PNG's size and TensorBoard colorspace (1 grey, 2 grey + alpha, 3 RGB or palette, 4 RGBA), from its
// header; throws naming `what` when the bytes are not a PNG.
struct PngInfo {
  int32_t width = 0, height = 0, colorspace = 0;
};
PngInfo png_info(std::string_view png, const std::string& what);

class TensorBoardLog {
 public:
  // Creates a new event file in `dir` (which must exist) and writes its file_version and its SessionLog
  // START at `start_step`, the first step this process trains.
  TensorBoardLog(const std::filesystem::path& dir, int64_t start_step);
  ~TensorBoardLog();
  TensorBoardLog(const TensorBoardLog&) = delete;
  TensorBoardLog& operator=(const TensorBoardLog&) = delete;

  void write_scalars(const MetricsRecord& record);  // one event, a value per train/ tag
  void write_evaluation(const EvaluationRecord& record);  // one event: eval/<figure> and eval/<figure>_stderr
  // The samples of `step`: a .png grid as an image, a .txt (a sample a line) as text. Throws naming the
  // file if it cannot be read or is neither.
  void write_samples(int64_t step, const std::filesystem::path& file);
  void write_image(int64_t step, const std::string& tag, const std::string& png);
  void write_text(int64_t step, const std::string& tag, const std::vector<std::string>& rows);

  const std::filesystem::path& path() const { return path_; }

 private:
  void write_event(const std::string& payload);  // one record, flushed

  std::filesystem::path path_;
  std::FILE* file_ = nullptr;
};

}  // namespace diffuse
