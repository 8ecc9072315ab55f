#include "apps/sample_journal.hpp"

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "apps/command_options.hpp"
#include "apps/image_data.hpp"
#include "apps/run_support.hpp"
#include "data/npz_reader.hpp"

namespace diffuse {

namespace fs = std::filesystem;
using json = nlohmann::json;

Philox sample_chunk_stream(uint64_t seed, int64_t chunk, int64_t chunks) {
  return chunks == 1 ? Philox(seed, kSamples) : Philox(seed, kSamples + (static_cast<uint64_t>(chunk + 1) << 32));
}

SampleJournal::SampleJournal(const std::string& dir, const json& settings) : dir_(dir) {
  if (dir_.empty()) return;
  fs::create_directories(dir_);
  const fs::path path = fs::path(dir_) / "settings.json";
  if (!fs::exists(path)) {
    write_text_atomically(path, settings.dump(2) + "\n");
    return;
  }
  json found;
  try {
    std::ifstream in(path);
    found = json::parse(in);
  } catch (const json::exception& e) {
    throw std::invalid_argument("--journal " + dir_ + ": " + path.string() + " is not a journal's settings (" + e.what() + ")");
  }
  for (const auto& [key, value] : settings.items())
    if (!found.contains(key) || found.at(key) != value)
      throw std::invalid_argument("--journal " + dir_ + ": written for other settings: " + key + " was " +
                                  (found.contains(key) ? found.at(key).dump() : std::string("absent")) + ", now " + value.dump() +
                                  "; give another directory, or remove this one to start again");
}

std::string SampleJournal::chunk_path(int64_t chunk) const { return (fs::path(dir_) / ("chunk-" + std::to_string(chunk) + ".npz")).string(); }

std::optional<Tensor> SampleJournal::finished(int64_t chunk, int64_t n, const Tensor& labels) const {
  if (dir_.empty() || !fs::exists(chunk_path(chunk))) return std::nullopt;
  const data::SampleArchive a = data::read_sample_npz(chunk_path(chunk));
  const int64_t found = a.images.shape.empty() ? 0 : a.images.shape[0];
  bool same_labels = labels.defined() ? static_cast<int64_t>(a.labels.size()) == n : a.labels.empty();
  for (int64_t i = 0; same_labels && labels.defined() && i < n; ++i)
    same_labels = a.labels[static_cast<size_t>(i)] == static_cast<int64_t>(labels.data<int32_t>()[i]);
  if (found != n || !same_labels)
    throw std::invalid_argument("--journal " + dir_ + ": " + chunk_path(chunk) + " holds " + std::to_string(found) +
                                " images" + (same_labels ? "" : " of other classes") + ", not the " + std::to_string(n) +
                                " of chunk " + std::to_string(chunk));
  std::vector<float> x(a.images.bytes.size());
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(a.images.bytes[i]) / 127.5f - 1.0f;
  return Tensor::from_vector(x, a.images.shape);
}

void SampleJournal::record(int64_t chunk, const Tensor& images, const Tensor& labels) const {
  if (dir_.empty()) return;
  const std::string path = chunk_path(chunk), partial = path + ".partial.npz";
  write_image_npz(partial, images, labels);
  fs::rename(partial, path);
}

}  // namespace diffuse
