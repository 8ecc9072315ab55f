// The VQ-Diffusion token model (apps/vq_diffusion_model.hpp).
#include "apps/vq_diffusion_model.hpp"

#include <stdexcept>

#include "apps/command_options.hpp"
#include "apps/d3pm_config.hpp"
#include "apps/run_support.hpp"
#include "tensor/autograd.hpp"
#include "tensor/ops.hpp"

namespace diffuse {

using json = nlohmann::json;

diffusion::D3pmStates token_states(int64_t codes) {
  diffusion::D3pmStates s;
  s.num_states = codes + 1;
  s.mask = codes;
  s.mask_is_data = false;
  return s;
}

namespace {
nn::TransformerConfig token_network(const json& model) {
  const nn::TransformerConfig c = nn::TransformerConfig::from_json(model);
  if (c.out_states != c.in_states)
    throw std::invalid_argument("model.out_states: the x0 logits cover the K codes and the mask, like model.in_states (" +
                                std::to_string(c.in_states) + "), got " + std::to_string(c.out_states));
  if (c.grid_rows < 1) throw std::invalid_argument("model.grid_rows, model.grid_cols: the token grid's size is required (2-D positions)");
  if (c.causal || c.pooled || c.input_dim != 0 || !c.time_embedding)
    throw std::invalid_argument("model: the token model reads token ids and t, bidirectionally, unpooled (causal, pooled false, input_dim 0, "
                                "time_embedding true)");
  return c;
}
}  // namespace

VqDiffusionModel::VqDiffusionModel(const json& config, uint64_t seed)
    : config(config),
      init_rng(seed, kInit),
      net(token_network(config.at("model")), init_rng),
      arena(net),
      d3pm(d3pm_config_from_json(config.at("diffusion"), token_states(net.config().in_states - 1))) {
  if (d3pm.config().kind != diffusion::D3pmKind::MaskReplace)
    throw std::invalid_argument("diffusion.kind: VQ-Diffusion's transition is mask-replace, got '" +
                                config.at("diffusion").at("kind").get<std::string>() + "'");
}

diffusion::ConditionalX0Model VqDiffusionModel::conditional(Philox& dropout_rng) const {
  return [this, &dropout_rng](const Tensor& x_t, const Tensor& step, const Tensor& labels) {
    return net.forward(x_t, step, dropout_rng, classes() > 0 ? labels : Tensor());
  };
}

diffusion::X0Model VqDiffusionModel::x0_model(Philox& dropout_rng, const Tensor& labels) const {
  return [this, &dropout_rng, labels](const Tensor& x_t, const Tensor& step) {
    return net.forward(x_t, step, dropout_rng, classes() > 0 ? labels : Tensor());
  };
}

TokenRows read_token_rows(const std::string& path, const VqDiffusionModel& m) {
  const data::TokenGrids g = data::read_token_grids(path);
  const data::TokenGridHeader& h = g.header;
  if (h.height != m.rows() || h.width != m.cols() || h.codebook_size != m.codes())
    throw std::invalid_argument(path + ": grids of " + std::to_string(h.height) + " x " + std::to_string(h.width) + " over " +
                                std::to_string(h.codebook_size) + " codes, but the token model reads " + std::to_string(m.rows()) + " x " +
                                std::to_string(m.cols()) + " over " + std::to_string(m.codes()) +
                                " (model.grid_rows, model.grid_cols, model.in_states - 1)");
  TokenRows out;
  out.header = h;
  std::vector<int32_t> ids(g.codes.begin(), g.codes.end());
  out.rows = Tensor::from_vector(ids, {h.count, h.height * h.width});
  out.labels = Tensor::from_vector(g.labels, {h.count});
  if (m.classes() > 0)
    for (int64_t i = 0; i < h.count; ++i)
      if (g.labels[static_cast<size_t>(i)] < 0 || g.labels[static_cast<size_t>(i)] >= m.classes())
        throw std::invalid_argument(path + ": grid " + std::to_string(i) + " has label " + std::to_string(g.labels[static_cast<size_t>(i)]) +
                                    ", outside the model's classes 0.." + std::to_string(m.classes() - 1));
  return out;
}

void bind_vqvae(json& config, const data::TokenGridHeader& tokens, const std::string& tokens_path) {
  json& v = config["vqvae"];
  const std::string checkpoint = v.value("checkpoint", std::string()).empty() ? tokens.vqvae_checkpoint : v.at("checkpoint").get<std::string>();
  const json vq_config = checkpoint_config(checkpoint);
  if (vq_config.value("kind", "") != "vqvae")
    throw std::invalid_argument("vqvae.checkpoint: " + checkpoint + " is a " + vq_config.value("kind", std::string("?")) + " checkpoint, not vqvae");
  const auto vq = load_model_for_inference<VqVaeModel>(checkpoint, /*use_ema=*/true);
  const nn::TransformerConfig net = nn::TransformerConfig::from_json(config.at("model"));
  data::require_token_grids_of(tokens, tokens_path, vqvae_hash(*vq), checkpoint, vq->codebook_size(), vq->grid(), vq->grid());
  if (vq->codebook_size() != net.in_states - 1 || vq->grid() != net.grid_rows || vq->grid() != net.grid_cols)
    throw std::invalid_argument("vqvae.checkpoint: " + checkpoint + " has " + std::to_string(vq->codebook_size()) + " codes on a " +
                                std::to_string(vq->grid()) + " x " + std::to_string(vq->grid()) + " grid, but model.in_states - 1 = " +
                                std::to_string(net.in_states - 1) + " and the grid is " + std::to_string(net.grid_rows) + " x " +
                                std::to_string(net.grid_cols) + " (--set model.in_states=..., model.out_states=..., model.grid_rows=...)");
  v["checkpoint"] = checkpoint;
  v["hash"] = vqvae_hash(*vq);
  v["dataset"] = vq_config.at("data").at("dataset");
}

std::unique_ptr<VqVaeModel> load_bound_vqvae(const json& config, const std::string& where) {
  const json& v = config.at("vqvae");
  const std::string checkpoint = v.value("checkpoint", std::string()), hash = v.value("hash", std::string());
  if (checkpoint.empty() || hash.empty())
    throw std::invalid_argument(where + ": records no VQ-VAE (vqvae.checkpoint, vqvae.hash): `diffuse train` binds one from the token file");
  auto vq = load_model_for_inference<VqVaeModel>(checkpoint, /*use_ema=*/true);
  const int64_t K = config.at("model").at("in_states").get<int64_t>() - 1;
  if (vq->codebook_size() != K)
    throw std::invalid_argument(where + ": a token model over " + std::to_string(K) + " codes, but its VQ-VAE " + checkpoint + " has " +
                                std::to_string(vq->codebook_size()));
  if (vqvae_hash(*vq) != hash)
    throw std::invalid_argument(where + ": trained on the tokens of the VQ-VAE of hash " + hash + ", but " + checkpoint + " now has hash " +
                                vqvae_hash(*vq) + " (another VQ-VAE, or retrained)");
  return vq;
}

Tensor sample_tokens(const VqDiffusionModel& m, int64_t n, const TokenSampling& s, Philox& rng, Progress* progress) {
  NoGradGuard no_grad;
  Philox unused(0);
  if (m.classes() > 0 && (!s.labels.defined() || s.labels.size(0) != n))
    throw std::invalid_argument("sample_tokens: a class-conditional model takes a label per sample");
  diffusion::X0Model model = m.classes() > 0 ? diffusion::classifier_free_x0(m.conditional(unused), s.labels,
                                                                             static_cast<int32_t>(m.classes()), s.guidance_scale)
                                             : m.x0_model(unused, Tensor());
  if (s.truncation < 1.0) model = diffusion::truncated_x0(std::move(model), s.truncation, m.codes());
  return diffusion::d3pm_sample(with_progress(stoppable(std::move(model)), progress), m.d3pm, n, m.length(), rng, s.options).x0;
}

Tensor decode_tokens(const VqVaeModel& vqvae, const Tensor& tokens, int64_t rows, int64_t cols) {
  NoGradGuard no_grad;
  return vqvae.net.decode_codes(tokens.reshape({tokens.size(0), rows, cols}).contiguous());
}

}  // namespace diffuse
