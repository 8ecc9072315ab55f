#include "apps/ar_text_model.hpp"

#include <stdexcept>

#include "apps/progress.hpp"
#include "apps/run_support.hpp"
#include "tensor/autograd.hpp"

namespace diffuse {

nn::TransformerConfig ar_network_config(const nlohmann::json& config) {
  const nn::TransformerConfig c = nn::TransformerConfig::from_json(config.at("model"));
  if (!c.causal) throw std::invalid_argument("model.causal: the autoregressive model must be causal");
  if (c.time_embedding) throw std::invalid_argument("model.time_embedding: the autoregressive model has no time input: must be false");
  if (c.in_states != c.out_states + 1)
    throw std::invalid_argument("model.in_states: the autoregressive model reads the V data ids and a start id (id V): must be "
                                "model.out_states + 1 = " + std::to_string(c.out_states + 1));
  return c;
}

ArTextModel::ArTextModel(const nlohmann::json& config, uint64_t seed)
    : config(config), vocabulary(text_vocabulary(config, "the configuration of " + config.value("preset", std::string("the run")))),
      init_rng(seed, kInit), net(ar_network_config(config), init_rng), arena(net) {}

diffusion::NextTokenModel ArTextModel::next_token_model(Philox& dropout_rng) const {
  return [this, &dropout_rng](const Tensor& inputs) { return net.forward(inputs, Tensor(), dropout_rng); };
}

Tensor ArTextModel::nll(const Tensor& x, int64_t skip, const Tensor& given) const {
  NoGradGuard no_grad;
  Philox unused(0);
  const Tensor logits = next_token_model(unused)(diffusion::shifted_inputs(x, start_id()));
  if (given.defined() && skip != 0) throw std::invalid_argument("ArTextModel::nll: a given mask or skipped positions, not both");
  if (skip == 0) return diffusion::sequence_nll(logits, x, given);
  const int64_t scored = x.size(1) - skip;
  return diffusion::sequence_nll(logits.narrow(1, skip, scored).contiguous(), x.narrow(1, skip, scored).contiguous());
}

Tensor ArTextModel::sample(int64_t n, Philox& rng, const diffusion::AutoregressiveSampleOptions& options, int64_t* evaluations,
                           Progress* progress) const {
  Philox unused(0);
  const diffusion::NextTokenModel model = next_token_model(unused);
  const diffusion::NextTokenModel checked = [&model, progress](const Tensor& inputs) {
    if (stop_requested()) throw StopRequested();
    Tensor out = model(inputs);
    if (progress) progress->advance();
    return out;
  };
  return diffusion::autoregressive_sample(checked, n, seq_len(), vocabulary->size(), start_id(), rng, options, evaluations);
}

}  // namespace diffuse
