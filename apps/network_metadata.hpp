// What a checkpoint records, beside the configuration, so that its metadata alone rebuilds the network in
// another framework: the facts the configuration does not state because the code fixes them. Every value
// comes from the constant or function the code itself uses (nn::kGroupNormEps, nn::kLayerNormEps,
// nn::kMlpGelu, nn::kDownsample*, nn::kTimestepMaxPeriod, data::text8_char, d3pm_choices.hpp), so the
// record cannot drift from the code. Keys (each value a string, as safetensors metadata are):
//
//   architecture       JSON: the network ("unet" or "transformer"), its norms' eps, the GELU form
//                      ("erf"), the stride-2 downsampling convs' padding ([1, 1, 1, 1]: top, bottom, left,
//                      right), the timestep input ("t - 1 (0-based step)") and embedding, how attention
//                      splits q, k, v and scales, and what the network reads and writes
//   tokens             JSON, D3PM only: the id -> character map and the mask id (text), or the pixel
//                      values (images), and whether the mask's logit is forced to -inf
//   schedule_resolved  the noise schedule the run uses: for D3PM what diffusion.schedule "auto" resolved
//                      to (absorbing: jsd), for DDPM the beta schedule
#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace diffuse {

// For a resolved configuration (a preset with its overrides, as a run records it: "kind" is "ddpm",
// "d3pm-text" or "d3pm-image"). Throws std::invalid_argument for another kind.
// Each family's: its ModelFamily::network_metadata (model_family.hpp).
std::map<std::string, std::string> ddpm_network_metadata(const nlohmann::json& config);
std::map<std::string, std::string> d3pm_text_network_metadata(const nlohmann::json& config);
std::map<std::string, std::string> d3pm_image_network_metadata(const nlohmann::json& config);
std::map<std::string, std::string> masked_text_network_metadata(const nlohmann::json& config);
std::map<std::string, std::string> ar_text_network_metadata(const nlohmann::json& config);
std::map<std::string, std::string> diffusion_lm_network_metadata(const nlohmann::json& config);
std::map<std::string, std::string> text_classifier_network_metadata(const nlohmann::json& config);
std::map<std::string, std::string> image_classifier_network_metadata(const nlohmann::json& config);

}  // namespace diffuse
