// The preset table's building blocks, shared by its two halves (apps/presets_images.cpp, apps/presets_text.cpp);
// apps/presets.cpp puts the halves together and answers `--preset` (apps/presets.hpp). Internal to apps/.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace diffuse::preset_table {

using json = nlohmann::json;

inline json unet(int64_t ch, json ch_mult, int64_t res_blocks, json attn, double dropout, int64_t in_ch = 3,
          int64_t resolution = 32, int64_t groups = 32) {
  return {{"in_channels", in_ch}, {"out_channels", in_ch}, {"resolution", resolution}, {"ch", ch},
          {"ch_mult", ch_mult}, {"num_res_blocks", res_blocks}, {"attn_resolutions", attn}, {"dropout", dropout},
          {"groups", groups}};
}

// base with the fields of `changes` set.
inline json with(json base, const json& changes) {
  base.update(changes);
  return base;
}

// One preset: the preset it starts from (none for a paper's), the fields it changes (merged into the base,
// section by section), and its deviations (added to the base's). A paper preset's `changes` is the whole
// configuration as the paper and its released code set it.
struct Preset {
  std::string name;
  std::string summary;
  std::string base;
  json changes;
  std::vector<std::string> deviations;
};

// The DDPM presets' diffusion section (Ho et al.'s), which a noisy image classifier starts from.
inline const json kDdpmDiffusion = {{"timesteps", 1000}, {"beta_schedule", "linear"}, {"beta_start", 1e-4}, {"beta_end", 0.02},
                                    {"loss", "simple"},  {"variance", "large"},      {"clip_denoised", true}};

// The images' presets: DDPM, class-conditional DDPM, D3PM on images, image classifiers, the VQ-VAE, VQ-Diffusion.
std::vector<Preset> image_presets();
// The text presets: D3PM on text8, masked diffusion, Diffusion-LM and its classifiers, the autoregressive
// baseline, the word families on verses, and the pair families.
std::vector<Preset> text_presets();

}  // namespace diffuse::preset_table
