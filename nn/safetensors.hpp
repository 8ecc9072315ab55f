// safetensors, exactly as Python's `safetensors` reads it: an 8-byte little-endian header length N,
// N bytes of JSON header {"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...,
// "__metadata__": {"key": "string value", ...}}, then the raw little-endian tensor bytes; offsets are
// relative to the end of the header. Writes are atomic (temporary file, fsync, rename); reads validate
// everything before returning anything.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.hpp"

namespace diffuse::nn {

struct SafetensorsContents {
  std::map<std::string, std::string> metadata;
  std::vector<std::pair<std::string, Tensor>> tensors;  // in file order
  const Tensor* find(const std::string& name) const;
};

// Writes F32 / F64 / I32 tensors (any layout) and string metadata to `path` atomically: the data go to
// a temporary file in the same directory, which is fsynced and renamed over `path`. On any error the
// temporary is removed, the previous `path` is untouched, and the exception says so.
void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata);

// Reads and validates a whole file: header length in bounds, JSON well formed, every tensor's dtype,
// shape and offsets consistent and inside the data, no overlaps. Errors name the file, the tensor
// and the problem (std::runtime_error). A file that does not start as safetensors does (the 8-byte
// length, then '{') is first recognised and named: "<path>: not a safetensors checkpoint: it looks like
// JSON text (a config.json?)" (or an image, an archive, .npz / .npy, a pickle, plain text, an HTML page,
// a Git LFS pointer, a directory, empty, too short); one that does but is cut short is "truncated or
// corrupt", with the sizes.
SafetensorsContents read_safetensors(const std::string& path);

}  // namespace diffuse::nn
