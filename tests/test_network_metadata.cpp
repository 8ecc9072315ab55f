// The network facts every checkpoint records (apps/network_metadata.hpp) for the three families: each
// value equals the one the built layers use, and the behaviour it describes is the code's (the step the
// network is called with, the GELU form, the timestep embedding's period, the mask's -inf logit, the
// character map).
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include "apps/d3pm_choices.hpp"
#include "apps/network_metadata.hpp"
#include "data/text8.hpp"
#include "diffusion/d3pm_diffusion.hpp"
#include "nn/checkpoint.hpp"
#include "nn/transformer_block.hpp"
#include "nn/unet.hpp"
#include "nn/unet_blocks.hpp"
#include "tiny_model.hpp"

using namespace diffuse;
using json = nlohmann::json;

namespace {
json ddpm_config() { return {{"kind", "ddpm"}, {"model", json::object()}, {"diffusion", {{"beta_schedule", "linear"}}}}; }
json text_config(const std::string& kind = "absorbing", const std::string& schedule = "auto") {
  return {{"kind", "d3pm-text"}, {"model", json::object()}, {"diffusion", {{"kind", kind}, {"schedule", schedule}}}};
}
json image_config(const std::string& kind, const std::string& output = "logistic") {
  return {{"kind", "d3pm-image"}, {"model", {{"output", output}}}, {"diffusion", {{"kind", kind}, {"schedule", "auto"}}}};
}
double largest_difference(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.contiguous().to_vector(), y = b.contiguous().to_vector();
  REQUIRE(x.size() == y.size());
  double d = 0;
  for (size_t i = 0; i < x.size(); ++i) d = std::max(d, std::abs(x[i] - y[i]));
  return d;
}
json field(const std::map<std::string, std::string>& meta, const std::string& key) {
  REQUIRE(meta.count(key) == 1);
  return json::parse(meta.at(key));
}

// The U-Net facts, checked against a built ResBlock, attention block and downsampling conv.
void check_unet_architecture(const json& a) {
  CHECK(a.at("network") == "unet");
  CHECK(a.at("group_norm_eps").get<double>() == 1e-6);
  Philox rng(0);
  const nn::ResBlock block(8, 16, 32, 4, 0.0, rng);
  CHECK(block.norm1->eps == a.at("group_norm_eps").get<double>());
  CHECK(block.norm2->eps == a.at("group_norm_eps").get<double>());
  const nn::SpatialSelfAttention attn(8, 4, rng);
  CHECK(attn.norm->eps == a.at("group_norm_eps").get<double>());
  const nn::Downsample down(8, rng);
  CHECK(a.at("downsample").at("padding") == json::array({1, 1, 1, 1}));
  CHECK(down.conv->padding == a.at("downsample").at("padding")[0].get<int64_t>());
  CHECK(down.conv->stride == a.at("downsample").at("stride").get<int64_t>());
  CHECK(down.conv->weight.size(3) == a.at("downsample").at("kernel").get<int64_t>());
  CHECK(a.at("attention").at("heads") == 1);
}

// Both networks: the step input and the embedding's period.
void check_timestep(const json& a) {
  const json& t = a.at("timestep");
  CHECK(t.at("input") == "t - 1 (0-based step)");
  CHECK(diffusion::D3pm::model_step(diffusion::D3pm::t_tensor(2, 7)).data<int32_t>()[0] == 6);
  const double period = t.at("max_period").get<double>();
  CHECK(period == 10000.0);
  // dim 8: half 4, f_1 = period^(-1/3); emb[1] = sin(s f_1), emb[4 + 1] = cos(s f_1) at s = 5.
  const Tensor emb = nn::timestep_embedding(Tensor::from_vector(std::vector<int32_t>{5}, {1}), 8);
  CHECK(emb.data<float>()[1] == doctest::Approx(std::sin(5 * std::pow(period, -1.0 / 3))).epsilon(1e-6));
  CHECK(emb.data<float>()[5] == doctest::Approx(std::cos(5 * std::pow(period, -1.0 / 3))).epsilon(1e-6));
}
}  // namespace

TEST_CASE("DDPM: the U-Net's eps, padding and timestep input, and the beta schedule") {
  const auto meta = ddpm_network_metadata(ddpm_config());
  const json a = field(meta, "architecture");
  check_unet_architecture(a);
  check_timestep(a);
  CHECK(a.at("output").get<std::string>().find("eps_theta") != std::string::npos);
  CHECK(meta.at("schedule_resolved") == "linear");
  CHECK(meta.count("tokens") == 0);  // continuous: no token ids
}

TEST_CASE("DDPM, class-conditional: the classes' entry names the null class and the embedding the U-Net holds") {
  CHECK(field(ddpm_network_metadata(ddpm_config()), "architecture").count("classes") == 0);  // unconditional: none
  json config = ddpm_config();
  config["model"]["num_classes"] = 10;
  const json c = field(ddpm_network_metadata(config), "architecture").at("classes");
  CHECK(c.at("num_classes") == 10);
  CHECK(c.at("null_class") == 10);
  // "class_emb.weight [num_classes + 1, 4 model.ch]": the parameter of that name and shape.
  nn::UNetConfig u;
  u.resolution = 8;
  u.ch = 16;
  u.ch_mult = {1, 2};
  u.num_res_blocks = 1;
  u.attn_resolutions = {};
  u.groups = 4;
  u.num_classes = 10;
  Philox rng(1);
  const nn::UNet net(u, rng);
  bool found = false;
  for (const auto& [name, p] : net.named_parameters())
    if (name == "class_emb.weight") found = p.shape() == Shape{11, 64};
  CHECK(found);
  CHECK(c.at("embedding").get<std::string>().rfind("class_emb.weight [num_classes + 1, 4 model.ch]", 0) == 0);
}

TEST_CASE("D3PM text: layer-norm eps, erf GELU, the character map, the mask id and its -inf logit") {
  const auto meta = d3pm_text_network_metadata(text_config());
  const json a = field(meta, "architecture");
  CHECK(a.at("network") == "transformer");
  check_timestep(a);
  CHECK(a.at("layer_norm_eps").get<double>() == 1e-5);
  Philox rng(1);
  const nn::TransformerBlock block(8, 2, 16, 0.0, rng);
  CHECK(block.ln1->eps == a.at("layer_norm_eps").get<double>());
  CHECK(block.ln2->eps == a.at("layer_norm_eps").get<double>());
  // "erf": the block's MLP is fc2(gelu_erf(fc1(x))), which the tanh form is not.
  CHECK(a.at("gelu") == "erf");
  Philox xr(2);
  Tensor x = Tensor::empty({3, 8});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>(3 * xr.uniform() - 1.5);
  const Tensor y = block.mlp->forward(x);
  CHECK(largest_difference(y, block.mlp->fc2->forward(gelu(block.mlp->fc1->forward(x), GeluForm::Erf))) == 0);
  CHECK(largest_difference(y, block.mlp->fc2->forward(gelu(block.mlp->fc1->forward(x), GeluForm::Tanh))) > 0);

  const json tokens = field(meta, "tokens");
  const std::string chars = tokens.at("id_to_char").get<std::string>();
  CHECK(chars == "abcdefghijklmnopqrstuvwxyz ");
  for (size_t id = 0; id < chars.size(); ++id) CHECK(data::text8_id(chars[id]) == static_cast<int32_t>(id));
  CHECK(tokens.at("mask_id") == 27);
  CHECK(tokens.at("num_states") == 28);
  CHECK(tokens.at("mask_is_data") == false);
  CHECK(tokens.at("mask_logit").get<std::string>().rfind("-inf", 0) == 0);
  // The diffusion the text commands build forces exactly that id's logit to -inf.
  diffusion::D3pmConfig c;
  c.states = d3pm_text_states();
  c.timesteps = 10;
  const diffusion::D3pm d3pm(c);
  const Tensor logp = d3pm.x0_log_probs(Tensor::zeros({1, 1, 28}));
  for (int64_t k = 0; k < 28; ++k) {
    CAPTURE(k);
    if (k == tokens.at("mask_id").get<int64_t>())
      CHECK(logp.data<float>()[k] == -std::numeric_limits<float>::infinity());
    else
      CHECK(std::isfinite(logp.data<float>()[k]));
  }

  CHECK(meta.at("schedule_resolved") == "jsd");  // "auto" for absorbing
  CHECK(d3pm_text_network_metadata(text_config("uniform")).at("schedule_resolved") == "cosine");
  CHECK(d3pm_text_network_metadata(text_config("nn")).at("schedule_resolved") == "mi");
  CHECK(d3pm_text_network_metadata(text_config("mask-replace")).at("schedule_resolved") == "vq");
  CHECK(d3pm_text_network_metadata(text_config("absorbing", "spindle")).at("schedule_resolved") == "spindle");
}

TEST_CASE("D3PM images: the U-Net's facts, the pixel ids, the mask by kind, the schedule \"auto\" gave") {
  const auto gaussian = d3pm_image_network_metadata(image_config("gaussian"));
  const json a = field(gaussian, "architecture");
  check_unet_architecture(a);
  check_timestep(a);
  CHECK(a.at("output").get<std::string>().rfind("logistic: ", 0) == 0);
  CHECK(field(d3pm_image_network_metadata(image_config("gaussian", "logits")), "architecture").at("output").get<std::string>().rfind(
            "logits: ", 0) == 0);
  CHECK(gaussian.at("schedule_resolved") == "linear");
  const json none = field(gaussian, "tokens");
  CHECK(none.at("num_states") == 256);
  CHECK(none.at("mask_id").is_null());
  CHECK(none.at("mask_logit").get<std::string>().rfind("none", 0) == 0);

  const auto absorbing = d3pm_image_network_metadata(image_config("absorbing"));
  const json mask = field(absorbing, "tokens");
  CHECK(mask.at("mask_id") == 128);  // mid-gray, a data value: its logit is not forced
  CHECK(mask.at("mask_is_data") == true);
  CHECK(mask.at("mask_logit").get<std::string>().rfind("not forced", 0) == 0);
  CHECK(absorbing.at("schedule_resolved") == "jsd");
}

TEST_CASE("the facts travel in a checkpoint's metadata, readable without the configuration") {
  testing::TinyRun run(1);
  const auto path = std::filesystem::temp_directory_path() / ("diffuse_test_network_metadata_" + std::to_string(::getpid()) + ".safetensors");
  std::map<std::string, std::string> meta = {{"step", "1"}};
  meta.merge(d3pm_text_network_metadata(text_config()));
  nn::save_checkpoint(path.string(), run.arena, nullptr, nullptr, meta);
  const auto read = nn::read_checkpoint_metadata(path.string());
  std::filesystem::remove(path);
  CHECK(field(read, "architecture").at("gelu") == "erf");
  CHECK(field(read, "tokens").at("mask_id") == 27);
  CHECK(read.at("schedule_resolved") == "jsd");
}
