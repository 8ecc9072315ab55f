// A reader of TensorBoard event files for the tests, written apart from the writer (apps/tensorboard_log.cpp)
// so that it checks the writer rather than repeating it: it walks the file byte by byte as TensorFlow's
// RecordReader does (tensorflow/core/lib/io/record_reader.cc), with its own bit-at-a-time CRC-32C, checks
// both CRCs of every record, and parses each payload with the protoc-generated tensorboard.Event. It also
// replays how TensorBoard's loader merges a run's files (the SessionLog START purge; apps/tensorboard_log.hpp).
#pragma once
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "apps/tensorboard_event.pb.h"

namespace diffuse::testing {

// CRC-32C one bit at a time: the reflected polynomial 0x82F63B78, initial value and final XOR 0xFFFFFFFF.
inline uint32_t reference_crc32c(const std::string& bytes) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char b : bytes) {
    crc ^= b;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
  }
  return crc ^ 0xFFFFFFFFu;
}

inline uint32_t reference_masked_crc32c(const std::string& bytes) {
  const uint32_t c = reference_crc32c(bytes);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

inline uint64_t little_endian(const std::string& bytes, size_t at, int count) {
  uint64_t v = 0;
  for (int i = count - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(bytes[at + static_cast<size_t>(i)]);
  return v;
}

// The Events of a file's bytes, in order. Throws std::runtime_error saying at which byte which check failed:
// "record at byte N: length CRC mismatch" (or "payload CRC mismatch", "truncated", "not an Event").
inline std::vector<tensorboard::Event> parse_event_records(const std::string& bytes) {
  std::vector<tensorboard::Event> events;
  size_t at = 0;
  while (at < bytes.size()) {
    const std::string where = "record at byte " + std::to_string(at) + ": ";
    if (bytes.size() - at < 12) throw std::runtime_error(where + "truncated in its header");
    const uint64_t length = little_endian(bytes, at, 8);
    if (reference_masked_crc32c(bytes.substr(at, 8)) != little_endian(bytes, at + 8, 4))
      throw std::runtime_error(where + "length CRC mismatch");
    if (bytes.size() - at - 12 < length + 4) throw std::runtime_error(where + "truncated in its payload");
    const std::string payload = bytes.substr(at + 12, length);
    if (reference_masked_crc32c(payload) != little_endian(bytes, at + 12 + length, 4))
      throw std::runtime_error(where + "payload CRC mismatch");
    tensorboard::Event event;
    if (!event.ParseFromString(payload)) throw std::runtime_error(where + "payload is not an Event");
    events.push_back(std::move(event));
    at += 12 + length + 4;
  }
  return events;
}

inline std::string file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::vector<tensorboard::Event> read_event_file(const std::filesystem::path& path) {
  return parse_event_records(file_bytes(path));
}

// The event files of a run folder, in name order (the order TensorBoard reads them).
inline std::vector<std::filesystem::path> event_files(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().filename().string().rfind("events.out.tfevents.", 0) == 0) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

// What TensorBoard shows of a run: per tag, the steps of its points, after reading the files in name order
// and purging as plugin_event_accumulator.py's _CheckForRestartAndMaybePurge does (file_version 2: every
// SessionLog START after the first drops the points at steps >= its step, in every tag).
inline std::map<std::string, std::vector<int64_t>> tensorboard_view(const std::filesystem::path& dir) {
  std::map<std::string, std::vector<int64_t>> steps;
  bool seen_start = false;
  for (const auto& file : event_files(dir)) {
    for (const tensorboard::Event& e : read_event_file(file)) {
      if (e.has_session_log() && e.session_log().status() == tensorboard::SessionLog::START) {
        if (seen_start)
          for (auto& [tag, s] : steps) std::erase_if(s, [&](int64_t step) { return step >= e.step(); });
        seen_start = true;
      }
      if (e.has_summary())
        for (const auto& v : e.summary().value()) steps[v.tag()].push_back(e.step());
    }
  }
  return steps;
}

}  // namespace diffuse::testing
