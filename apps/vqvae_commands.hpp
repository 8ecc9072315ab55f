// `diffuse tokenize`: a dataset's split encoded once by a VQ-VAE checkpoint into a token-grid file
// (data/token_grids.hpp) whose header names the VQ-VAE by the hash of its weights (apps/vqvae_model.hpp).
#pragma once
#include <cstdint>
#include <string>

namespace diffuse {

struct TokenizeOptions {
  std::string checkpoint;  // a vqvae checkpoint
  std::string data_dir;    // the dataset directory (Fashion-MNIST: the Debian package's by default)
  std::string split = "train";
  int64_t items = 0;       // the first N images of the split (0: all)
  std::string out;         // the token-grid file
  int64_t batch = 0;       // images per network evaluation (0: the preset's training batch)
  bool ema = true;         // the EMA weights when the checkpoint has them
  bool quiet = false;
};

int run_vqvae_tokenize(const TokenizeOptions& options);

}  // namespace diffuse
