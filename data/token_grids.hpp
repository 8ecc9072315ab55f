// Token-grid files: a dataset encoded once by a VQ-VAE (`diffuse tokenize`), each image a grid of codebook
// indices, for the token models that train on them (docs/math.md §12.5). The header names the VQ-VAE that made
// them by the hash of its weights, so that a file made by another VQ-VAE, or of another grid, is refused.
//
// Layout (little-endian):
//   text header, one "key value" per line, ending with the line "end":
//     diffuse-tokens 1
//     vqvae_hash <16 hex digits>      (apps/vqvae_model.hpp vqvae_hash: FNV-1a of the weights that encoded)
//     vqvae_checkpoint <path>
//     codebook_size <K>
//     grid <H> <W>
//     count <N>
//     dataset <name>
//     split <train|test>
//     end
//   N * H * W uint16 codes, image by image, row-major; then N int32 labels (-1: none).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace diffuse::data {

inline constexpr const char* kTokenGridMagic = "diffuse-tokens";
inline constexpr int kTokenGridVersion = 1;

struct TokenGridHeader {
  std::string vqvae_hash, vqvae_checkpoint;
  int64_t codebook_size = 0, height = 0, width = 0, count = 0;
  std::string dataset, split;
};

struct TokenGrids {
  TokenGridHeader header;
  std::vector<uint16_t> codes;  // [count, height, width]
  std::vector<int32_t> labels;  // [count]
};

// Writes atomically; throws std::invalid_argument when the sizes disagree with the header or a code is >= K.
void write_token_grids(const std::string& path, const TokenGrids& grids);
// Reads and checks the magic, version, header fields, size and code range; errors name the file.
TokenGrids read_token_grids(const std::string& path);

// Throws std::invalid_argument unless the file at `path` was made by the VQ-VAE of hash `hash` (named `checkpoint`)
// with a height x width grid of codebook_size codes, naming both VQ-VAEs or both grids.
void require_token_grids_of(const TokenGridHeader& header, const std::string& path, const std::string& hash,
                            const std::string& checkpoint, int64_t codebook_size, int64_t height, int64_t width);

}  // namespace diffuse::data
