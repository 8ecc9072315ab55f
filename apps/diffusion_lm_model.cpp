#include "apps/diffusion_lm_model.hpp"

#include <stdexcept>
#include <string>

#include "apps/command_options.hpp"
#include "apps/run_support.hpp"

namespace diffuse {

using json = nlohmann::json;

namespace {

diffusion::BetaScheduleConfig schedule_config(const json& d) {
  diffusion::BetaScheduleConfig c;
  c.kind = diffusion::parse_beta_schedule(d.at("beta_schedule").get<std::string>());
  c.timesteps = d.at("timesteps").get<int64_t>();
  if (d.contains("sqrt_s")) c.sqrt_s = d.at("sqrt_s").get<double>();
  return c;
}

}  // namespace

nn::TransformerConfig diffusion_lm_network_config(const json& config) {
  const nn::TransformerConfig c = nn::TransformerConfig::from_json(config.at("model"));
  if (c.input_dim < 1 || c.out_states != c.input_dim)
    throw std::invalid_argument("model.input_dim: Diffusion-LM's network reads and writes embedding vectors: model.input_dim = "
                                "model.out_states = d, the embedding's dimension (got " + std::to_string(c.input_dim) + " and " +
                                std::to_string(c.out_states) + ")");
  if (c.causal || c.pooled || !c.time_embedding)
    throw std::invalid_argument("model: Diffusion-LM's denoiser sees the whole sequence and t: causal = false, pooled = false, "
                                "time_embedding = true");
  return c;
}

diffusion::EmbeddingDiffusion diffusion_lm_process(const json& config) {
  const json& d = config.at("diffusion");
  return diffusion::EmbeddingDiffusion(diffusion::make_schedule(schedule_config(d)),
                                       diffusion::parse_variance_type(d.at("variance").get<std::string>()));
}

DiffusionLmModel::DiffusionLmModel(const json& config, uint64_t seed)
    : config(config),
      vocabulary(text_vocabulary(config, "the configuration of " + config.value("preset", std::string("the run")), kEmbeddingRowStates)),
      init_rng(seed, kInit), net(diffusion_lm_network_config(config), init_rng), arena(net), diffusion(diffusion_lm_process(config)) {}

}  // namespace diffuse
