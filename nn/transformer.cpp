#include "nn/transformer.hpp"

#include <limits>

#include "nn/init.hpp"
#include "nn/json_field.hpp"
#include "tensor/ops.hpp"

namespace diffuse::nn {

nlohmann::json TransformerConfig::to_json() const {
  return {{"in_states", in_states}, {"out_states", out_states}, {"seq_len", seq_len}, {"width", width},
          {"layers", layers}, {"heads", heads}, {"mlp", mlp}, {"dropout", dropout},
          {"causal", causal}, {"time_embedding", time_embedding}, {"input_dim", input_dim}, {"pooled", pooled},
          {"grid_rows", grid_rows}, {"grid_cols", grid_cols}, {"classes", classes}, {"half_positions", half_positions}};
}

TransformerConfig TransformerConfig::from_json(const nlohmann::json& j) {
  TransformerConfig c;
  json_field(j, "in_states", c.in_states);
  json_field(j, "out_states", c.out_states);
  json_field(j, "seq_len", c.seq_len);
  json_field(j, "width", c.width);
  json_field(j, "layers", c.layers);
  json_field(j, "heads", c.heads);
  json_field(j, "mlp", c.mlp);
  json_field(j, "dropout", c.dropout);
  // Optional: configurations written before these options existed mean the D3PM network.
  if (j.contains("causal")) json_field(j, "causal", c.causal);
  if (j.contains("time_embedding")) json_field(j, "time_embedding", c.time_embedding);
  if (j.contains("input_dim")) json_field(j, "input_dim", c.input_dim);
  if (j.contains("pooled")) json_field(j, "pooled", c.pooled);
  if (j.contains("grid_rows")) json_field(j, "grid_rows", c.grid_rows);
  if (j.contains("grid_cols")) json_field(j, "grid_cols", c.grid_cols);
  if (j.contains("classes")) json_field(j, "classes", c.classes);
  if (j.contains("half_positions")) json_field(j, "half_positions", c.half_positions);
  c.validate();
  return c;
}

void TransformerConfig::validate() const {
  auto bad = [](const std::string& what) { throw std::invalid_argument("model." + what); };
  if (input_dim < 0) bad("input_dim must be 0 (token ids) or the dimension of the input vectors");
  if ((input_dim == 0 && in_states < 2) || out_states < 1 || (pooled && out_states < 2))
    bad("in_states must be at least 2, out_states at least 1 (2 classes when pooled)");
  if (seq_len < 1) bad("seq_len must be positive");
  if (width < 4 || width % 2 != 0) bad("width must be even and at least 4");
  if (layers < 1) bad("layers must be positive");
  if (heads < 1 || width % heads != 0) bad("heads must divide width");
  if (mlp < 1) bad("mlp must be positive");
  if (dropout < 0 || dropout >= 1) bad("dropout must be in [0, 1)");
  if (grid_rows < 0 || grid_cols < 0 || (grid_rows > 0) != (grid_cols > 0) || (grid_rows > 0 && grid_rows * grid_cols != seq_len))
    bad("grid_rows and grid_cols: both 0 (1-D positions) or both positive with grid_rows * grid_cols = seq_len, got " +
        std::to_string(grid_rows) + " x " + std::to_string(grid_cols) + " and seq_len " + std::to_string(seq_len));
  if (classes < 0 || (classes > 0 && (causal || pooled))) bad("classes: 0, or the number of classes of a bidirectional, unpooled model");
  if (half_positions && (seq_len % 2 != 0 || grid_rows > 0))
    bad("half_positions: the two halves of an even seq_len share their positions (1-D only), got seq_len " + std::to_string(seq_len) +
        (grid_rows > 0 ? " with a grid" : ""));
}

Transformer::Transformer(const TransformerConfig& config, Philox& rng) : config_(config) {
  config_.validate();
  const TransformerConfig& c = config_;
  if (c.input_dim == 0) {
    tok_emb_ = register_module("tok_emb", std::make_shared<Embedding>(c.in_states, c.width, 0.02, rng));
  } else {
    in_proj_ = register_module("in_proj", std::make_shared<ModuleList<Linear>>());
    in_proj_->push_back(std::make_shared<Linear>(c.input_dim, c.width, Init::Normal002, rng));
    in_proj_->push_back(std::make_shared<Linear>(c.width, c.width, Init::Normal002, rng));
  }
  if (c.grid_rows > 0) {
    row_emb_ = register_parameter("row_emb", normal_init({c.grid_rows, c.width}, 0.02, rng));
    col_emb_ = register_parameter("col_emb", normal_init({c.grid_cols, c.width}, 0.02, rng));
  } else if (c.half_positions) {
    pos_emb_ = register_parameter("pos_emb", normal_init({c.seq_len / 2, c.width}, 0.02, rng));
    side_emb_ = register_parameter("side_emb", normal_init({2, c.width}, 0.02, rng));
  } else {
    pos_emb_ = register_parameter("pos_emb", normal_init({c.seq_len, c.width}, 0.02, rng));
  }
  if (c.classes > 0) class_emb_ = register_module("class_emb", std::make_shared<Embedding>(c.classes + 1, c.width, 0.02, rng));
  if (c.time_embedding) {
    time_ = register_module("time", std::make_shared<ModuleList<Linear>>());
    time_->push_back(std::make_shared<Linear>(c.width, c.width, Init::Normal002, rng));
    time_->push_back(std::make_shared<Linear>(c.width, c.width, Init::Normal002, rng));
  }
  blocks_ = register_module("blocks", std::make_shared<ModuleList<TransformerBlock>>());
  for (int64_t i = 0; i < c.layers; ++i)
    blocks_->push_back(std::make_shared<TransformerBlock>(c.width, c.heads, c.mlp, c.dropout, rng));
  ln_f_ = register_module("ln_f", std::make_shared<LayerNorm>(c.width));
  head_ = register_module("head", std::make_shared<Linear>(c.width, c.out_states, Init::Normal002, rng));
}

Tensor causal_mask(int64_t length) {
  Tensor mask = Tensor::zeros({length, length});
  float* m = mask.data<float>();
  for (int64_t q = 0; q < length; ++q)
    for (int64_t k = q + 1; k < length; ++k) m[q * length + k] = -std::numeric_limits<float>::infinity();
  return mask;
}

Tensor Transformer::forward(const Tensor& x_t, const Tensor& step, Philox& rng, const Tensor& labels) const {
  const TransformerConfig& c = config_;
  const bool vectors = c.input_dim > 0;
  const bool soft_tokens = !vectors && x_t.dtype() != DType::I32;  // q [B, L, in_states]: the expected embedding
  const bool input_ok = vectors       ? (x_t.dtype() != DType::I32 && x_t.dim() == 3 && x_t.size(2) == c.input_dim)
                        : soft_tokens ? (x_t.dim() == 3 && x_t.size(2) == c.in_states)
                                      : x_t.dim() == 2;
  if (!input_ok || x_t.size(1) > c.seq_len ||
      (c.time_embedding && (!step.defined() || step.dim() != 1 || step.size(0) != x_t.size(0))))
    shape_error("transformer", "expected " +
                                   (vectors ? "float x_t [B, L <= " + std::to_string(c.seq_len) + ", " + std::to_string(c.input_dim) + "]"
                                            : "int32 x_t [B, L <= " + std::to_string(c.seq_len) + "] or float q [B, L, " +
                                                  std::to_string(c.in_states) + "]") +
                                   (c.time_embedding ? " and step [B]" : "") + ", got " + describe(x_t) +
                                   (c.time_embedding ? " and " + describe(step) : ""));
  const int64_t B = x_t.size(0), L = x_t.size(1);
  if (c.classes > 0) {
    bool ok = labels.defined() && labels.dtype() == DType::I32 && labels.dim() == 1 && labels.size(0) == B;
    for (int64_t b = 0; ok && b < B; ++b) ok = labels.data<int32_t>()[b] >= 0 && labels.data<int32_t>()[b] <= c.classes;
    if (!ok) shape_error("transformer", "a class-conditional model takes labels int32 [B] in 0.." + std::to_string(c.classes) + " (" +
                                            std::to_string(c.classes) + ": the null class)");
  } else if (labels.defined()) {
    shape_error("transformer", "labels given to a model without classes");
  }
  if (c.grid_rows > 0 && L != c.seq_len) shape_error("transformer", "a grid model reads all " + std::to_string(c.seq_len) + " positions");
  const Tensor input = vectors       ? (*in_proj_)[1]->forward(tanh((*in_proj_)[0]->forward(x_t)))
                       : soft_tokens ? matmul(x_t.reshape({B * L, c.in_states}), tok_emb_->weight).view({B, L, c.width})
                                     : tok_emb_->forward(x_t);
  // [L, C]: learned 1-D positions; row_emb[i] + col_emb[j] at n = i W + j; or side_emb[n / (L/2)] + pos_emb[n % (L/2)].
  const Tensor pos = c.grid_rows > 0      ? (row_emb_.view({c.grid_rows, 1, c.width}) + col_emb_.view({1, c.grid_cols, c.width})).reshape({L, c.width})
                     : c.half_positions ? (side_emb_.view({2, 1, c.width}) + pos_emb_.view({1, c.seq_len / 2, c.width}))
                                              .reshape({c.seq_len, c.width})
                                              .narrow(0, 0, L)
                                        : pos_emb_.narrow(0, 0, L);
  Tensor h = input + pos;
  Tensor temb;
  if (c.time_embedding) {
    temb = (*time_)[1]->forward(silu((*time_)[0]->forward(timestep_embedding(step, c.width))));  // [B, C]
    h = h + temb.view({B, 1, c.width});
  }
  // The class token: [B, 1, C] before the sequence -> [B, 1 + L, C]; dropped after the blocks.
  if (c.classes > 0) {
    Tensor token = class_emb_->forward(labels).view({B, 1, c.width});
    if (c.time_embedding) token = token + temb.view({B, 1, c.width});
    h = concat({token, h}, 1);
  }
  const Tensor mask = c.causal ? causal_mask(L) : Tensor();
  for (const auto& block : *blocks_) h = block->forward(h, rng, mask);
  if (c.classes > 0) h = h.narrow(1, 1, L);
  h = ln_f_->forward(h);
  return head_->forward(c.pooled ? mean(h, {1}) : h);
}

}  // namespace diffuse::nn
