#include "nn/checkpoint.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "nn/safetensors.hpp"

namespace diffuse::nn {

namespace {
[[noreturn]] void fail(const std::string& path, const std::string& what) { throw std::runtime_error(path + ": " + what); }

void check_format(const std::string& path, const std::map<std::string, std::string>& meta) {
  auto it = meta.find("format");
  if (it == meta.end() || it->second != kCheckpointFormat)
    fail(path, "not a diffuse checkpoint (no __metadata__ format \"" + std::string(kCheckpointFormat) + "\")");
  it = meta.find("format_version");
  if (it == meta.end() || it->second != std::to_string(kCheckpointVersion))
    fail(path, "unknown checkpoint format version '" + (it == meta.end() ? std::string("none") : it->second) +
                   "' (this build reads version " + std::to_string(kCheckpointVersion) + ")");
}
}  // namespace

void save_checkpoint(const std::string& path, const ParameterArena& arena, const Adam* adam, const Ema* ema,
                     std::map<std::string, std::string> metadata) {
  metadata["format"] = kCheckpointFormat;
  metadata["format_version"] = std::to_string(kCheckpointVersion);
  metadata["diffuse_version"] = DIFFUSE_VERSION;
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const ArenaEntry& e : arena.entries()) tensors.emplace_back(e.name, e.param);
  if (ema)
    for (const ArenaEntry& e : arena.entries()) tensors.emplace_back("ema/" + e.name, arena.view_of(ema->values(), e));
  if (adam) {
    metadata["adam_steps"] = std::to_string(adam->updates());  // the file's key for Adam's update count
    for (const ArenaEntry& e : arena.entries())
      tensors.emplace_back("adam_m/" + e.name, arena.view_of(adam->first_moment(), e));
    for (const ArenaEntry& e : arena.entries())
      tensors.emplace_back("adam_v/" + e.name, arena.view_of(adam->second_moment(), e));
  }
  write_safetensors(path, tensors, metadata);
}

std::map<std::string, std::string> load_checkpoint(const std::string& path, const ParameterArena& arena, Adam* adam,
                                                   Ema* ema) {
  const SafetensorsContents file = read_safetensors(path);
  check_format(path, file.metadata);
  // Pass 1: find and check every tensor we will copy. Nothing is changed until all are found.
  std::vector<std::pair<Tensor, Tensor>> copies;  // (destination view, source)
  auto take = [&](const std::string& name, const Tensor& dst) {
    const Tensor* src = file.find(name);
    if (!src) fail(path, "tensor '" + name + "' is missing (a checkpoint of a different model or preset?)");
    if (src->dtype() != DType::F32) fail(path, "tensor '" + name + "' is " + dtype_name(src->dtype()) + ", expected float32");
    if (src->shape() != dst.shape())
      fail(path, "tensor '" + name + "' has shape " + to_string(src->shape()) + " but the model expects " +
                     to_string(dst.shape()) + " (a checkpoint of a different model or preset?)");
    copies.emplace_back(dst, *src);
  };
  for (const ArenaEntry& e : arena.entries()) take(e.name, e.param);
  if (ema)
    for (const ArenaEntry& e : arena.entries()) take("ema/" + e.name, arena.view_of(ema->values(), e));
  int64_t adam_updates = 0;
  if (adam) {
    for (const ArenaEntry& e : arena.entries()) take("adam_m/" + e.name, arena.view_of(adam->first_moment(), e));
    for (const ArenaEntry& e : arena.entries()) take("adam_v/" + e.name, arena.view_of(adam->second_moment(), e));
    auto it = file.metadata.find("adam_steps");
    try {
      adam_updates = it == file.metadata.end() ? -1 : std::stoll(it->second);
    } catch (const std::exception&) {
      adam_updates = -1;
    }
    if (adam_updates < 0) fail(path, "metadata adam_steps is missing or invalid");
  }
  // Pass 2: every check passed; copy.
  for (auto& [dst, src] : copies) dst.copy_(src);
  if (adam) adam->set_updates(adam_updates);
  return file.metadata;
}

std::map<std::string, std::string> read_checkpoint_metadata(const std::string& path) {
  const SafetensorsContents file = read_safetensors(path);
  check_format(path, file.metadata);
  return file.metadata;
}

std::string checkpoint_path(const std::string& dir, int64_t iteration) {
  char name[64];
  std::snprintf(name, sizeof(name), "ckpt-%09lld.safetensors", static_cast<long long>(iteration));
  return (std::filesystem::path(dir) / name).string();
}

std::vector<std::string> list_checkpoints(const std::string& dir) {
  std::vector<std::string> out;
  if (!std::filesystem::is_directory(dir)) return out;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("ckpt-", 0) == 0 && name.size() == 5 + 9 + 12 && name.ends_with(".safetensors"))
      out.push_back(entry.path().string());
  }
  std::sort(out.begin(), out.end());  // zero-padded iterations sort by name
  return out;
}

void prune_checkpoints(const std::string& dir, int keep) {
  const std::vector<std::string> all = list_checkpoints(dir);
  for (size_t i = 0; i + static_cast<size_t>(std::max(keep, 1)) < all.size(); ++i) std::filesystem::remove(all[i]);
}

std::string weights_hash(const Tensor& weights) {
  const Tensor e = weights.to(DType::F32).contiguous();
  const auto* bytes = reinterpret_cast<const unsigned char*>(e.data<float>());
  uint64_t h = 14695981039346656037ull;
  for (int64_t i = 0; i < e.numel() * static_cast<int64_t>(sizeof(float)); ++i) {
    h ^= bytes[i];
    h *= 1099511628211ull;
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

}  // namespace diffuse::nn
