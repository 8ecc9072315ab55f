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
  if (c.in_states != data::kText8VocabWithMask)
    throw std::invalid_argument("model.in_states: the autoregressive model reads the 27 characters and a start id: must be 28");
  if (c.out_states != data::kText8Vocab) throw std::invalid_argument("model.out_states: the 27 characters: must be 27");
  return c;
}

ArTextModel::ArTextModel(const nlohmann::json& config, uint64_t seed)
    : config(config), init_rng(seed, kInit), net(ar_network_config(config), init_rng), arena(net) {}

diffusion::NextTokenModel ArTextModel::next_token_model(Philox& dropout_rng) const {
  return [this, &dropout_rng](const Tensor& inputs) { return net.forward(inputs, Tensor(), dropout_rng); };
}

Tensor ArTextModel::nll(const Tensor& x) const {
  NoGradGuard no_grad;
  Philox unused(0);
  return diffusion::sequence_nll(next_token_model(unused)(diffusion::shifted_inputs(x, kBos)), x);
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
  return diffusion::autoregressive_sample(checked, n, seq_len(), data::kText8Vocab, kBos, rng, options, evaluations);
}

}  // namespace diffuse
