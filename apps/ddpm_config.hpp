// The DDPM family's "diffusion" section, read: what ddpm_commands.cpp builds its GaussianDiffusion from, and
// what a noise-aware image classifier (apps/image_classifier.hpp) copies from the DDPM run it guides, so that it
// learns on the x_t that run's sampler visits.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "diffusion/gaussian_diffusion.hpp"

namespace diffuse {

// The section's schedule (timesteps, beta_schedule, beta_start, beta_end), variance, loss and clip_denoised.
diffusion::DiffusionConfig diffusion_config(const nlohmann::json& d);

// Whether two sections give the same forward process q(x_t | x0): the same T and the same betas (the schedule's
// kind and ends). The variance, the loss and clipping belong to the reverse process and do not matter.
bool same_forward_process(const nlohmann::json& a, const nlohmann::json& b);
// "T = 1000, linear betas 0.0001 .. 0.02", for messages.
std::string forward_process_summary(const nlohmann::json& d);

}  // namespace diffuse
