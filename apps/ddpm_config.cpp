#include "apps/ddpm_config.hpp"

#include <cstdio>

namespace diffuse {

diffusion::DiffusionConfig diffusion_config(const nlohmann::json& d) {
  diffusion::DiffusionConfig c;
  c.schedule.kind = diffusion::parse_beta_schedule(d.at("beta_schedule").get<std::string>());
  c.schedule.timesteps = d.at("timesteps").get<int64_t>();
  c.schedule.beta_start = d.at("beta_start").get<double>();
  c.schedule.beta_end = d.at("beta_end").get<double>();
  c.variance = diffusion::parse_variance_type(d.at("variance").get<std::string>());
  c.loss = diffusion::parse_loss_type(d.at("loss").get<std::string>());
  c.clip_denoised = d.at("clip_denoised").get<bool>();
  return c;
}

bool same_forward_process(const nlohmann::json& a, const nlohmann::json& b) {
  for (const char* key : {"timesteps", "beta_schedule", "beta_start", "beta_end"})
    if (a.at(key) != b.at(key)) return false;
  return true;
}

std::string forward_process_summary(const nlohmann::json& d) {
  char ends[64];
  std::snprintf(ends, sizeof ends, "%g .. %g", d.at("beta_start").get<double>(), d.at("beta_end").get<double>());
  return "T = " + std::to_string(d.at("timesteps").get<int64_t>()) + ", " + d.at("beta_schedule").get<std::string>() + " betas " + ends;
}

}  // namespace diffuse
