// The table of model families (see model_family.hpp).
#include "apps/model_family.hpp"

#include <stdexcept>

namespace diffuse {

extern const ModelFamily kDdpmFamily;       // ddpm_commands.cpp
extern const ModelFamily kD3pmTextFamily;   // d3pm_text_commands.cpp
extern const ModelFamily kD3pmImageFamily;  // d3pm_image_commands.cpp
extern const ModelFamily kMaskedTextFamily; // masked_text_commands.cpp
extern const ModelFamily kArTextFamily;     // ar_text_commands.cpp
extern const ModelFamily kDiffusionLmFamily;      // diffusion_lm_commands.cpp
extern const ModelFamily kTextClassifierFamily;   // text_classifier_commands.cpp
extern const ModelFamily kImageClassifierFamily;  // image_classifier_commands.cpp
extern const ModelFamily kVqVaeFamily;            // vqvae_commands.cpp
extern const ModelFamily kVqDiffusionFamily;      // vq_diffusion_commands.cpp

namespace {
const ModelFamily* const kFamilies[] = {&kDdpmFamily,        &kD3pmTextFamily,    &kD3pmImageFamily,     &kMaskedTextFamily,
                                           &kArTextFamily,      &kDiffusionLmFamily, &kTextClassifierFamily,
                                           &kImageClassifierFamily, &kVqVaeFamily, &kVqDiffusionFamily};
}  // namespace

const ModelFamily& model_family(const nlohmann::json& config, const std::string& where) {
  const std::string kind = config.value("kind", "");
  std::string known;
  for (const ModelFamily* family : kFamilies) {
    if (kind == family->kind) return *family;
    known += (known.empty() ? "" : ", ") + std::string(family->kind);
  }
  throw std::invalid_argument(where + ": unknown model family '" + kind + "' (" + known + ")");
}

}  // namespace diffuse
