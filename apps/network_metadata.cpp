#include "apps/network_metadata.hpp"

#include <stdexcept>

#include "apps/d3pm_choices.hpp"
#include "data/text8.hpp"
#include "data/words.hpp"
#include "diffusion/beta_schedule.hpp"
#include "diffusion/d3pm_image_model.hpp"
#include "diffusion/d3pm_process.hpp"
#include "diffusion/d3pm_schedules.hpp"
#include "nn/layers.hpp"
#include "nn/transformer_block.hpp"
#include "nn/unet_blocks.hpp"

namespace diffuse {

namespace {
using json = nlohmann::ordered_json;

const char* gelu_name(GeluForm form) { return form == GeluForm::Erf ? "erf" : "tanh"; }

// Both networks embed the step the same way (nn::timestep_embedding) and are called with t - 1: the
// diffusion code passes step = t - 1 (D3pm::model_step; DDPM's step tensors, beta_schedule.hpp).
json timestep(const std::string& dim, const std::string& mlp, const std::string& input = "t - 1 (0-based step)") {
  return {{"input", input},
          {"dim", dim},
          {"max_period", nn::kTimestepMaxPeriod},
          {"embedding", "half = dim / 2, f_i = exp(-ln(max_period) i / (half - 1)) for i = 0..half-1, "
                        "emb = concat(sin(s f), cos(s f)) (sines first), s = the input"},
          {"mlp", mlp}};
}

// nn/unet.hpp, nn/unet_blocks.hpp, nn/attention.hpp.
json unet_architecture(const std::string& input, const std::string& output) {
  return {
      {"version", 1},
      {"network", "unet"},
      {"layouts", "PyTorch's: Linear weight [out, in] (y = x W^T + b), Conv2d weight [out, in, k, k] "
                  "(cross-correlation), activations [B, C, H, W]"},
      {"timestep", timestep("model.ch", "temb = temb.dense.1(silu(temb.dense.0(emb))); every ResBlock adds "
                                        "temb_proj(silu(temb))[:, :, None, None]")},
      {"group_norm_eps", nn::kGroupNormEps},
      {"activation", "silu (x sigmoid(x)), after every GroupNorm but the attention block's"},
      {"resblock", "h = conv1(silu(norm1(x))) + temb_proj(silu(temb)); h = conv2(dropout(silu(norm2(h)))); "
                   "out = (nin_shortcut(x) if in != out else x) + h; 3x3 convs stride 1 pad 1, nin_shortcut 1x1"},
      {"downsample", {{"kernel", nn::kDownsampleKernel},
                      {"stride", nn::kDownsampleStride},
                      {"padding", {nn::kDownsamplePadding, nn::kDownsamplePadding, nn::kDownsamplePadding,
                                   nn::kDownsamplePadding}},
                      {"padding_order", "top, bottom, left, right: the same on every side (TF 'SAME' would pad "
                                        "bottom and right only)"}}},
      {"upsample", "nearest-neighbour 2x, then conv 3x3 stride 1 pad 1"},
      {"attention", {{"heads", 1},
                     {"norm", "GroupNorm (group_norm_eps, model.groups), no SiLU"},
                     {"q_k_v", "q, k, v, proj_out: Linear [C, C] on each pixel's channels; the H*W pixels "
                               "as a sequence in row-major order"},
                     {"scale", "1 / sqrt(C)"},
                     {"output", "x + proj_out(softmax(q k^T / sqrt(C)) v)"}}},
      {"skips", "every down-path output (conv_in, each ResBlock/attention, each downsample) is kept; the up "
                "path takes them last first, concatenating [h, skip] on channels (h first); each up level has "
                "num_res_blocks + 1 ResBlocks"},
      {"head", "conv_out(silu(norm_out(h)))"},
      {"input", input},
      {"output", output},
  };
}

// nn/transformer.hpp, nn/transformer_block.hpp, nn/attention.hpp; `model` the configuration's section
// (its options: causal, time_embedding).
json transformer_architecture(const nlohmann::json& model, const std::string& time_input) {
  const bool causal = model.value("causal", false), timed = model.value("time_embedding", true);
  json a = {
      {"version", 1},
      {"network", "transformer"},
      {"layouts", "PyTorch's: Linear weight [out, in] (y = x W^T + b), Embedding weight [ids, width]"},
  };
  if (timed) a["timestep"] = timestep("model.width", "temb = time.1(silu(time.0(emb))), nothing after time.1", time_input);
  else a["timestep"] = "none: the network reads no time (no time.* parameters)";
  const bool vectors = model.value("input_dim", 0) > 0, pooled = model.value("pooled", false);
  a["input"] = std::string(vectors ? "h = in_proj.1(tanh(in_proj.0(x_t))) (x_t: float [B, L, input_dim])"
                                     : "h = tok_emb[x_t] (x_t: int32 ids [B, L]; or q tok_emb for q: float [B, L, in_states], "
                                       "a distribution over the ids)") +
               " + pos_emb[0:L]" + (timed ? " + temb (temb added at every position, once)" : "") +
               "; learned positions, a window of L <= seq_len uses the first L rows";
  a["layer_norm_eps"] = nn::kLayerNormEps;
  a["block"] = "pre-LN: h = x + dropout(attn(ln1(x))); y = h + dropout(mlp(ln2(h))); mlp(x) = fc2(gelu(fc1(x)))";
  a["gelu"] = gelu_name(nn::kMlpGelu);
  a["attention"] = {{"mask", causal ? "causal: query n sees keys 0..n (-inf added above the diagonal)" : "none (bidirectional)"},
                    {"qkv", "one Linear [3C, C]: output columns [q | k | v], each C wide; head h takes "
                            "columns h*D..(h+1)*D-1 of each (D = C / heads)"},
                    {"scale", "1 / sqrt(D)"},
                    {"output", "heads concatenated in order, then proj"}};
  a["output"] = pooled ? "logits = head(mean over positions of ln_f(h)): [B, out_states]" : "logits = head(ln_f(h)): [B, L, out_states]";
  return a;
}

std::string mask_logit(const diffusion::D3pmStates& s) {
  if (s.has_extra_mask()) return "-inf: forced before the softmax of ptilde(x0 | x_t), whatever the network gives";
  if (s.has_mask()) return "not forced: the mask is a data value";
  return "none: no mask state";
}

json text_tokens() {
  const diffusion::D3pmStates s = d3pm_text_states();
  std::string chars;
  for (int32_t id = 0; id < data::kText8Vocab; ++id) chars += data::text8_char(id);
  return {{"id_to_char", chars},
          {"encoding", "one byte per character, id = position in id_to_char; any other byte is refused"},
          {"num_states", s.num_states},
          {"mask_id", s.mask},
          {"mask_shown_as", std::string(1, data::kText8MaskChar)},
          {"mask_is_data", s.mask_is_data},
          {"mask_logit", mask_logit(s)}};
}

// A word-level text configuration (data.dataset "verses" or "pairs", apps/text_corpus.hpp).
bool reads_words(const nlohmann::json& config) {
  const std::string dataset = config.contains("data") ? config.at("data").value("dataset", "") : "";
  return dataset == "verses" || dataset == "pairs";
}

// The word vocabulary of a text model, as apps/text_corpus.hpp records it; its size is model.`size_key`.
json word_tokens(const nlohmann::json& config, const std::string& size_key = "out_states") {
  return {{"vocabulary", "the configuration's data.vocabulary: the tokens in id order, separated by single spaces"},
          {"num_tokens", config.at("model").at(size_key)},
          {"special_ids", {{"<pad>", data::kPadId}, {"<unk>", data::kUnkId}, {"<bos>", data::kBosId}, {"<eos>", data::kEosId}}},
          {"encoding", "a verse is one row [<bos>, its tokens, <eos>, <pad>...] of model.seq_len positions (a pair: "
                       "[<bos>, source, <eos>, target, <eos>, <pad>...], the model given <bos>, the source and its <eos>); "
                       "tokens as data/words.hpp's tokenize_words (lower case; words, digits and punctuation apart; "
                       "apostrophes and hyphens inside words kept); a word outside the vocabulary is <unk>"}};
}

json image_tokens(const nlohmann::json& diffusion) {
  const diffusion::D3pmStates s = d3pm_image_states(diffusion);
  return {{"ids", "pixel value v (0..255) is id v; an image is C*H*W positions in CHW order"},
          {"num_states", s.num_states},
          {"mask_id", s.has_mask() ? json(s.mask) : json(nullptr)},
          {"mask_is_data", s.mask_is_data},
          {"mask_logit", mask_logit(s)}};
}

std::string d3pm_schedule(const nlohmann::json& diffusion) {
  const std::string name = d3pm_resolved_schedule(diffusion.at("kind").get<std::string>(),
                                                  diffusion.at("schedule").get<std::string>());
  return diffusion::d3pm_schedule_name(diffusion::parse_d3pm_schedule(name));
}
}  // namespace

namespace {
const std::string kImageInput = "v / 127.5 - 1 for byte values v (0 -> -1, 255 -> +1)";
}  // namespace

std::map<std::string, std::string> ddpm_network_metadata(const nlohmann::json& config) {
  const nlohmann::json& d = config.at("diffusion");
  json architecture = unet_architecture("x_t: images on the grid " + kImageInput,
                                        "eps_theta(x_t, t - 1), the predicted noise [B, in_channels, H, W]");
  const int64_t classes = config.at("model").value("num_classes", int64_t{0});
  if (classes > 0)
    architecture["classes"] = {
        {"num_classes", classes},
        {"null_class", classes},
        {"input", "labels int64 or int32 [B], the dataset's class ids 0..num_classes-1, or null_class for no label"},
        {"embedding", "class_emb.weight [num_classes + 1, 4 model.ch]; temb = temb.dense.1(silu(temb.dense.0(emb))) + "
                      "class_emb.weight[label], before the SiLU every ResBlock takes"},
        {"guidance", "classifier-free (Ho & Salimans eq. 6): (1 + w) eps(x_t, t, c) - w eps(x_t, t, null_class)"}};
  return {{"architecture", architecture.dump()},
          {"schedule_resolved", diffusion::beta_schedule_name(
                                    diffusion::parse_beta_schedule(d.at("beta_schedule").get<std::string>()))}};
}

std::map<std::string, std::string> d3pm_image_network_metadata(const nlohmann::json& config) {
  const nlohmann::json& d = config.at("diffusion");
  const std::string output = config.at("model").at("output").get<std::string>();
  const std::string head =
      diffusion::parse_image_output(output) == diffusion::ImageOutput::Logistic
          ? "logistic: channels 0..C-1 give loc = tanh(h + x) (x the scaled input), C..2C-1 log_scale; "
            "ptilde(x0 = k | x_t) is the mass of logistic(loc, exp(log_scale - 2)) on bin k of 256 (centre "
            "-1 + 2k/255, width 2/255), renormalised over the 256 bins"
          : "logits: channel c*256 + k is the logit of value k at image channel c";
  return {{"architecture", unet_architecture("x_t: pixel values (ids) fed as " + kImageInput, head).dump()},
          {"tokens", image_tokens(d).dump()},
          {"schedule_resolved", d3pm_schedule(d)}};
}

std::map<std::string, std::string> d3pm_text_network_metadata(const nlohmann::json& config) {
  return {{"architecture", transformer_architecture(config.at("model"), "t - 1 (0-based step)").dump()},
          {"tokens", text_tokens().dump()},
          {"schedule_resolved", d3pm_schedule(config.at("diffusion"))}};
}

std::map<std::string, std::string> masked_text_network_metadata(const nlohmann::json& config) {
  json tokens = reads_words(config) ? word_tokens(config) : text_tokens();
  if (reads_words(config)) {
    tokens["mask_id"] = tokens["num_tokens"];
    tokens["mask_shown_as"] = "[MASK]";
    tokens["mask_logit"] = "none: the network writes a logit for each of the num_tokens tokens only (SUBS)";
  } else {
    tokens["mask_logit"] = "none: the network writes 27 logits, the data characters only (SUBS)";
  }
  return {{"architecture", transformer_architecture(config.at("model"), "1000 t, t in [0, 1] (float)").dump()},
          {"tokens", tokens.dump()},
          {"schedule_resolved", config.at("diffusion").at("schedule").get<std::string>()}};
}

std::map<std::string, std::string> ar_text_network_metadata(const nlohmann::json& config) {
  json tokens;
  if (reads_words(config)) {
    tokens = word_tokens(config);
    tokens["bos_id"] = tokens["num_tokens"];
    tokens["mask_logit"] = "none: num_tokens logits; input id num_tokens starts every sequence (before the row's <bos>)";
  } else {
    tokens = text_tokens();
    tokens.erase("mask_shown_as");
    tokens.erase("mask_is_data");
    tokens.erase("mask_id");
    tokens["bos_id"] = data::kText8Mask;
    tokens["mask_logit"] = "none: 27 logits, the data characters; input id 27 starts every sequence";
  }
  tokens["input"] = "[bos, x^0, ..., x^{L-2}]; the logits at position n are those of p(x^n | x^{<n})";
  return {{"architecture", transformer_architecture(config.at("model"), "").dump()}, {"tokens", tokens.dump()}};
}

std::map<std::string, std::string> diffusion_lm_network_metadata(const nlohmann::json& config) {
  json tokens = reads_words(config) ? word_tokens(config, "in_states") : text_tokens();
  if (!reads_words(config)) {
    tokens.erase("mask_id");
    tokens.erase("mask_shown_as");
    tokens.erase("mask_is_data");
    tokens.erase("mask_logit");
  }
  tokens["embedding"] = "word_emb.weight [num_tokens, d]: x0 ~ N(EMB(w), sigma0^2), sigma0 = sqrt(1 - abar_1); rounding logits "
                        "x0 EMB^T (tied, no parameters of their own)";
  const nlohmann::json& d = config.at("diffusion");
  return {{"architecture", transformer_architecture(config.at("model"), "t - 1 (0-based step)").dump()},
          {"tokens", tokens.dump()},
          {"schedule_resolved", diffusion::beta_schedule_name(diffusion::parse_beta_schedule(d.at("beta_schedule").get<std::string>()))}};
}

std::map<std::string, std::string> text_classifier_network_metadata(const nlohmann::json& config) {
  const bool noisy = config.at("classifier").at("input") == "noisy";
  json tokens = word_tokens(config, "in_states");
  tokens["classes"] = config.at("classifier").at("target");
  return {{"architecture", transformer_architecture(config.at("model"), noisy ? "t - 1 (0-based step) of the guided Diffusion-LM" : "").dump()},
          {"tokens", tokens.dump()}};
}

// nn/unet_encoder.hpp: the U-Net's down path and middle (its facts as unet_architecture states them), pooled.
std::map<std::string, std::string> image_classifier_network_metadata(const nlohmann::json& config) {
  const bool noisy = config.at("classifier").at("input") == "noisy";
  json a = unet_architecture("x: images on the grid " + kImageInput + (noisy ? " (x_t of the diffusion section's q(x_t | x0))" : ""),
                             "logits [B, model.classes]; the penultimate features are the pooled [B, ch * ch_mult[-1]]");
  a["network"] = "unet-encoder";
  if (!noisy) a["timestep"] = "none: the network reads no time (no temb.* parameters, no temb_proj in the ResBlocks)";
  a.erase("upsample");
  a["skips"] = "none: the U-Net's down path (conv_in, levels, stride-2 convs) and middle only";
  a["head"] = "logits = head(mean over positions of silu(norm_out(h))), head a Linear [classes, C]";
  json classes = {{"ids", "the dataset's labels 0..classes-1 (Fashion-MNIST, CIFAR-10: their files' order)"},
                  {"dataset", config.at("data").at("dataset")}};
  std::map<std::string, std::string> m = {{"architecture", a.dump()}, {"tokens", classes.dump()}};
  if (noisy)
    m["schedule_resolved"] =
        diffusion::beta_schedule_name(diffusion::parse_beta_schedule(config.at("diffusion").at("beta_schedule").get<std::string>()));
  return m;
}

}  // namespace diffuse
