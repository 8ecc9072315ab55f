// libFuzzer target: arbitrary bytes as a checkpoint file. The loader must refuse anything malformed with
// an exception (a message naming the file and the problem), never crash, hang or read out of bounds
// (AddressSanitizer watches). Build and run: docs/fuzzing.md.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>

#include "nn/checkpoint.hpp"
#include "nn/layers.hpp"
#include "nn/optim.hpp"

namespace {
struct Model : diffuse::nn::Module {
  explicit Model(diffuse::Philox& rng)
      : fc(register_module("fc", std::make_shared<diffuse::nn::Linear>(3, 2, diffuse::nn::Init::Normal002, rng))) {}
  std::shared_ptr<diffuse::nn::Linear> fc;
};

std::string scratch_file() {
  char name[] = "/tmp/fuzz-checkpoint-XXXXXX";
  const int fd = mkstemp(name);
  if (fd >= 0) close(fd);
  return name;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = scratch_file();
  static diffuse::Philox rng(1);
  static Model model(rng);
  static diffuse::nn::ParameterArena arena(model);
  static diffuse::nn::Adam adam(arena, {});
  static diffuse::nn::Ema ema(arena, 0.9);
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    diffuse::nn::read_checkpoint_metadata(path);
  } catch (const std::exception&) {
  }
  try {
    diffuse::nn::load_checkpoint(path, arena, &adam, &ema);
  } catch (const std::exception&) {
  }
  return 0;
}
