#include "apps/tensorboard_log.hpp"

#include <unistd.h>

#include <algorithm>
#include <boost/crc.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "apps/tensorboard_event.pb.h"

namespace diffuse {

namespace fs = std::filesystem;

namespace {
constexpr std::string_view kPrefix = "events.out.tfevents.";

// CRC-32C in the Rocksoft model's terms: width 32, polynomial 0x1EDC6F41, initial value and final XOR
// 0xFFFFFFFF, input and output reflected (RFC 3720 §12.1, the CRC TensorFlow's records use).
using Crc32c = boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true>;

void append_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint32_t be32(std::string_view b, size_t at) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(b[at + i]);
  return v;
}

std::string read_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in.is_open()) throw std::runtime_error(file.string() + ": cannot open (" + std::strerror(errno) + ")");
  std::stringstream s;
  s << in.rdbuf();
  if (in.bad()) throw std::runtime_error(file.string() + ": cannot read (" + std::strerror(errno) + ")");
  return s.str();
}

std::string hostname() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

// The seconds of the latest event file in `dir` (events.out.tfevents.<seconds>.<host>), or -1.
int64_t latest_event_seconds(const fs::path& dir) {
  int64_t latest = -1;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kPrefix, 0) != 0) continue;
    const std::string rest = name.substr(kPrefix.size());
    const size_t digits = std::min(rest.find_first_not_of("0123456789"), rest.size());
    if (digits == 0 || digits > 18) continue;
    latest = std::max<int64_t>(latest, std::stoll(rest.substr(0, digits)));
  }
  return latest;
}

tensorboard::Event event_at(int64_t step) {
  tensorboard::Event event;
  event.set_wall_time(unix_time_now());
  event.set_step(step);
  return event;
}

void add_scalar(tensorboard::Summary& summary, const char* tag, double value) {
  tensorboard::Summary::Value* v = summary.add_value();
  v->set_tag(tag);
  v->set_simple_value(static_cast<float>(value));
}
}  // namespace

uint32_t crc32c(std::string_view bytes) {
  Crc32c crc;
  crc.process_bytes(bytes.data(), bytes.size());
  return crc.checksum();
}

uint32_t masked_crc32c(std::string_view bytes) {
  const uint32_t c = crc32c(bytes);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

std::string tfrecord(std::string_view payload) {
  std::string out;
  out.reserve(payload.size() + 16);
  append_le(out, payload.size(), 8);
  append_le(out, masked_crc32c(std::string_view(out.data(), 8)), 4);
  out.append(payload);
  append_le(out, masked_crc32c(payload), 4);
  return out;
}

std::string event_file_name(int64_t unix_seconds, const std::string& host) {
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%010lld", static_cast<long long>(unix_seconds));  // TensorFlow's %010lld
  return std::string(kPrefix) + seconds + "." + host;
}

PngInfo png_info(std::string_view png, const std::string& what) {
  // The signature, then the IHDR chunk: length, "IHDR", width and height (big-endian), bit depth, colour type.
  static constexpr std::string_view kSignature("\x89PNG\r\n\x1a\n", 8);
  if (png.size() < 26 || png.substr(0, 8) != kSignature || png.substr(12, 4) != "IHDR")
    throw std::runtime_error(what + ": not a PNG file (no PNG signature and IHDR header)");
  PngInfo info;
  info.width = static_cast<int32_t>(be32(png, 16));
  info.height = static_cast<int32_t>(be32(png, 20));
  switch (static_cast<unsigned char>(png[25])) {
    case 0: info.colorspace = 1; break;  // greyscale
    case 4: info.colorspace = 2; break;  // greyscale + alpha
    case 2: case 3: info.colorspace = 3; break;  // RGB, palette
    case 6: info.colorspace = 4; break;  // RGBA
    default: throw std::runtime_error(what + ": PNG with an unknown colour type " +
                                      std::to_string(static_cast<unsigned char>(png[25])));
  }
  return info;
}

TensorBoardLog::TensorBoardLog(const fs::path& dir, int64_t start_step) {
  // Later than every file already there, so that name order is the order written (see the header).
  const int64_t seconds = std::max(static_cast<int64_t>(unix_time_now()), latest_event_seconds(dir) + 1);
  path_ = dir / event_file_name(seconds, hostname());
  file_ = std::fopen(path_.c_str(), "wb");
  if (!file_) throw std::runtime_error(path_.string() + ": cannot create (" + std::strerror(errno) + ")");
  tensorboard::Event version = event_at(0);
  version.set_file_version("brain.Event:2");
  write_event(version.SerializeAsString());
  tensorboard::Event start = event_at(start_step);
  start.mutable_session_log()->set_status(tensorboard::SessionLog::START);
  write_event(start.SerializeAsString());
}

TensorBoardLog::~TensorBoardLog() {
  if (file_) std::fclose(file_);
}

void TensorBoardLog::write_event(const std::string& payload) {
  const std::string record = tfrecord(payload);
  if (std::fwrite(record.data(), 1, record.size(), file_) != record.size() || std::fflush(file_) != 0)
    throw std::runtime_error(path_.string() + ": cannot write (" + std::strerror(errno) + ")");
}

void TensorBoardLog::write_scalars(const MetricsRecord& r) {
  tensorboard::Event event = event_at(r.step);
  event.set_wall_time(r.wall_time);
  tensorboard::Summary& summary = *event.mutable_summary();
  add_scalar(summary, "train/loss", r.loss);
  for (const auto& [name, value] : r.loss_parts) add_scalar(summary, ("train/loss/" + name).c_str(), value);
  add_scalar(summary, "train/lr", r.lr);
  add_scalar(summary, "train/grad_norm", r.grad_norm);
  add_scalar(summary, "train/clipped", r.clipped ? 1.0 : 0.0);
  add_scalar(summary, "train/ms_per_step", r.ms_per_step);
  add_scalar(summary, "train/items_per_second", r.items_per_second);
  add_scalar(summary, "train/ema_decay", r.ema_decay);
  write_event(event.SerializeAsString());
}

void TensorBoardLog::write_evaluation(const EvaluationRecord& r) {
  tensorboard::Event event = event_at(r.step);
  tensorboard::Summary& summary = *event.mutable_summary();
  add_scalar(summary, ("eval/" + r.figure).c_str(), r.value);
  add_scalar(summary, ("eval/" + r.figure + "_stderr").c_str(), r.standard_error);
  write_event(event.SerializeAsString());
}

void TensorBoardLog::write_image(int64_t step, const std::string& tag, const std::string& png) {
  const PngInfo info = png_info(png, tag);
  tensorboard::Event event = event_at(step);
  tensorboard::Summary::Value* v = event.mutable_summary()->add_value();
  v->set_tag(tag);
  tensorboard::Summary::Image* image = v->mutable_image();
  image->set_height(info.height);
  image->set_width(info.width);
  image->set_colorspace(info.colorspace);
  image->set_encoded_image_string(png);
  write_event(event.SerializeAsString());
}

void TensorBoardLog::write_text(int64_t step, const std::string& tag, const std::vector<std::string>& rows) {
  tensorboard::Event event = event_at(step);
  tensorboard::Summary::Value* v = event.mutable_summary()->add_value();
  v->set_tag(tag);
  // The text plugin's metadata: its name, and empty content (TextPluginData version 0).
  v->mutable_metadata()->mutable_plugin_data()->set_plugin_name("text");
  tensorboard::TensorProto* tensor = v->mutable_tensor();
  tensor->set_dtype(tensorboard::DT_STRING);
  tensor->mutable_tensor_shape()->add_dim()->set_size(static_cast<int64_t>(rows.size()));
  for (const std::string& row : rows) tensor->add_string_val(row);
  write_event(event.SerializeAsString());
}

void TensorBoardLog::write_samples(int64_t step, const fs::path& file) {
  const std::string ext = file.extension().string();
  if (ext != ".png" && ext != ".txt")
    throw std::runtime_error(file.string() + ": samples for TensorBoard must be a .png grid or a .txt of text samples");
  const std::string bytes = read_bytes(file);
  if (ext == ".png") {
    png_info(bytes, file.string());  // the file named if it is no PNG
    write_image(step, "samples", bytes);
    return;
  }
  std::vector<std::string> rows;
  std::istringstream in(bytes);
  for (std::string line; std::getline(in, line);) rows.push_back(line);
  write_text(step, "samples", rows);
}

}  // namespace diffuse
