#include "apps/sample_journal.hpp"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "apps/command_options.hpp"
#include "apps/image_data.hpp"
#include "apps/run_support.hpp"
#include "data/npz_reader.hpp"
#include "tensor/ops.hpp"

namespace diffuse {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {
json with_size(json settings, int64_t n, int64_t batch) {
  settings["n"] = n;
  settings["batch"] = batch;
  return settings;
}
}  // namespace

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

SampleChunks::SampleChunks(int64_t n, int64_t batch, Tensor labels, const std::string& journal_dir, json settings)
    : n_(n),
      batch_(batch > 0 ? std::min(batch, n) : n),
      chunks_((n + batch_ - 1) / batch_),
      labels_(std::move(labels)),
      journal_(journal_dir, with_size(std::move(settings), n_, batch_)) {
  for (int64_t k = 0; k < chunks_; ++k) found_.push_back(journal_.finished(k, size_of(k), labels_of(k)));
}

Tensor SampleChunks::labels_of(int64_t k) const {
  return labels_.defined() ? labels_.slice(0, k * batch_, k * batch_ + size_of(k)) : Tensor();
}

int64_t SampleChunks::to_draw() const {
  int64_t missing = 0;
  for (const auto& f : found_) missing += f ? 0 : 1;
  return missing;
}

std::string SampleChunks::summary() const {
  if (chunks_ == 1) return "";
  return "; " + std::to_string(chunks_) + " chunks of up to " + std::to_string(batch_) +
         (journal_.enabled() ? ", " + std::to_string(chunks_ - to_draw()) + " of them found in " + journal_.dir() : std::string());
}

SampleChunks::Drawn SampleChunks::run(uint64_t seed, const std::function<Tensor(Chunk&)>& draw) const {
  std::vector<Tensor> images;
  Drawn out;
  const auto started = std::chrono::steady_clock::now();
  for (int64_t k = 0; k < chunks_; ++k) {
    if (found_[static_cast<size_t>(k)]) {
      images.push_back(*found_[static_cast<size_t>(k)]);
      continue;
    }
    Chunk chunk{.index = k, .n = size_of(k), .labels = labels_of(k), .rng = sample_chunk_stream(seed, k, chunks_)};
    Tensor x = draw(chunk);
    journal_.record(k, x, chunk.labels);
    images.push_back(std::move(x));
    out.drawn += chunk.n;
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  out.images = chunks_ == 1 ? images[0] : concat(images, 0);
  return out;
}

}  // namespace diffuse
