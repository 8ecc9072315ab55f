// Checkpoints: safetensors files that hold the model's parameters under their dotted names, and for
// training also the EMA weights ("ema/<name>"), Adam's moments ("adam_m/<name>", "adam_v/<name>"),
// and in __metadata__ the format version, the project's version, and whatever the caller records
// (the complete model and diffusion configuration as JSON, the preset, the training iteration under the
// key "step", the RNG state, the data loader's position). Python reads them with
// safetensors.torch.load_file or numpy.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "nn/arena.hpp"
#include "nn/optim.hpp"

namespace diffuse::nn {

inline constexpr const char* kCheckpointFormat = "diffuse.checkpoint";
inline constexpr int kCheckpointVersion = 1;

// Writes atomically (see write_safetensors). adam and ema may be null (an inference checkpoint).
void save_checkpoint(const std::string& path, const ParameterArena& arena, const Adam* adam, const Ema* ema,
                     std::map<std::string, std::string> metadata);

// Validates the whole file against the model (format, version, every tensor present with its shape,
// and the EMA and Adam tensors when adam / ema are given) before changing anything, then loads.
// Returns the metadata. Throws std::runtime_error naming the file, the tensor and the problem.
std::map<std::string, std::string> load_checkpoint(const std::string& path, const ParameterArena& arena, Adam* adam,
                                                   Ema* ema);

// Reads only the metadata (for `info` and for rebuilding a model from a checkpoint).
std::map<std::string, std::string> read_checkpoint_metadata(const std::string& path);

// FNV-1a (64 bits) of a tensor's values as float32 bytes, 16 hexadecimal digits: how a file names the weights it
// was made with (a noisy text classifier its embedding; a token-grid file its VQ-VAE).
std::string weights_hash(const Tensor& weights);

// A run directory keeps ckpt-<iteration>.safetensors files; these find, name and prune them.
std::string checkpoint_path(const std::string& dir, int64_t iteration);
std::vector<std::string> list_checkpoints(const std::string& dir);  // oldest first
void prune_checkpoints(const std::string& dir, int keep);           // deletes all but the newest `keep`

}  // namespace diffuse::nn
