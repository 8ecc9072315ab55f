#include "apps/d3pm_choices.hpp"

#include "data/text8.hpp"
#include "diffusion/d3pm_image_model.hpp"
#include "diffusion/d3pm_process.hpp"

namespace diffuse {

diffusion::D3pmStates d3pm_text_states() {
  diffusion::D3pmStates s;
  s.num_states = data::kText8VocabWithMask;
  s.mask = data::kText8Mask;
  s.mask_is_data = false;
  return s;
}

diffusion::D3pmStates d3pm_image_states(const nlohmann::json& d) {
  diffusion::D3pmStates s;
  s.num_states = diffusion::kPixelValues;
  const bool absorbing = diffusion::parse_d3pm_kind(d.at("kind").get<std::string>()) == diffusion::D3pmKind::Absorbing;
  s.mask = absorbing ? diffusion::kPixelValues / 2 : -1;
  s.mask_is_data = absorbing;
  return s;
}

std::string d3pm_resolved_schedule(const std::string& kind_name, const std::string& schedule) {
  const diffusion::D3pmKind kind = diffusion::parse_d3pm_kind(kind_name);
  if (schedule != "auto") return schedule;
  switch (kind) {
    case diffusion::D3pmKind::Absorbing: return "jsd";
    case diffusion::D3pmKind::Uniform: return "cosine";
    case diffusion::D3pmKind::NearestNeighbor: return "mi";
    case diffusion::D3pmKind::Gaussian: return "linear";
    case diffusion::D3pmKind::MaskReplace: return "vq";
  }
  return "vq";
}

}  // namespace diffuse
