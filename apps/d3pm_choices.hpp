// What a D3PM configuration implies before any data is read: the states of each family (text8's 27
// characters and an extra mask; 256 pixel values, whose absorbing mask is a data value) and the schedule
// that diffusion.schedule "auto" stands for. The commands build their processes from these, and the
// checkpoint's network metadata (network_metadata.hpp) records them, so the two cannot disagree.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "diffusion/d3pm_transitions.hpp"

namespace diffuse {

// text8's states: 27 characters (ids 0..26, data::text8_char) and the mask, id 27, an extra state (the
// absorbing kind's x_T, isolated otherwise), whose logit the diffusion forces to -inf.
diffusion::D3pmStates d3pm_text_states();

// The image states of a diffusion section: 256 pixel values (id = value); the absorbing kind's mask is
// mid-gray 128 (K/2), a data value, as in the paper's image experiments; the other kinds have no mask.
diffusion::D3pmStates d3pm_image_states(const nlohmann::json& diffusion);

// The schedule a kind runs with: `schedule` itself, or for "auto" the kind's usual one: absorbing jsd
// (1/(T-t+1)), uniform cosine, nn mi, gaussian linear, mask-replace vq. `kind` is any spelling
// parse_d3pm_kind accepts; throws std::invalid_argument for an unknown kind.
std::string d3pm_resolved_schedule(const std::string& kind, const std::string& schedule);

}  // namespace diffuse
