// The `vq-diffusion` family (apps/vq_diffusion_model.hpp; Gu et al. 2022; docs/math.md §12.3-§12.5): train the token
// model on a token-grid file of `diffuse tokenize` (--data), its VQ-VAE bound from the file's header; sample a row
// of grids per class with step skipping, the truncation trick and classifier-free guidance, decoded by the VQ-VAE
// into a PNG and the .npz with labels (what `evaluate --samples S.npz --classifier C` scores); evaluate the bound
// in bits per token on a token file of the test split.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>

#include "apps/d3pm_config.hpp"
#include "apps/image_data.hpp"
#include "apps/model_family.hpp"
#include "apps/process_group.hpp"
#include "apps/run_support.hpp"
#include "apps/sample_journal.hpp"
#include "apps/vq_diffusion_model.hpp"
#include "data/words.hpp"
#include "diffusion/time_importance.hpp"
#include "tensor/autograd.hpp"
#include "tensor/ops.hpp"

namespace diffuse {

namespace {
using json = nlohmann::json;
namespace fs = std::filesystem;

// train.p_uncond: the probability of dropping a label to the null class (Ho & Salimans Algorithm 1).
double p_uncond_of(const json& train) {
  if (!train.contains("p_uncond") || !train.at("p_uncond").is_number())
    throw std::invalid_argument("train.p_uncond: the probability of training with the null class is required");
  const double p = train.at("p_uncond").get<double>();
  if (!(p >= 0 && p <= 1)) throw std::invalid_argument("train.p_uncond: in [0, 1], got " + std::to_string(p));
  return p;
}

// train.t_sampling: "uniform" (t uniform on 1..T) or "importance" (by the running L_t, as VQ-Diffusion's code
// trains: diffusion/time_importance.hpp); absent in runs made before the key existed: uniform.
std::optional<diffusion::TimeImportance> t_sampling_of(const json& train, int64_t timesteps) {
  const std::string kind = train.value("t_sampling", std::string("uniform"));
  if (kind == "uniform") return std::nullopt;
  if (kind != "importance") throw std::invalid_argument("train.t_sampling: uniform or importance, got '" + kind + "'");
  if (ProcessGroup::world().distributed())
    throw std::invalid_argument("train.t_sampling: importance keeps one history of L_t, which " +
                                std::to_string(ProcessGroup::world().size()) +
                                " data-parallel processes would each update from their own rows; set train.t_sampling=uniform");
  return diffusion::TimeImportance(timesteps);
}

// The grids a sample command or a training run draws: --per-class of each --class, a row each (classes parsed by the
// names of the VQ-VAE's dataset); an unconditional model draws n in a square grid.
struct GridRequest {
  Tensor labels;
  int64_t n = 0, columns = 0;
  std::string summary;
};
GridRequest grid_request(const VqDiffusionModel& m, const std::vector<std::string>& class_specs, int64_t per_class, int64_t n) {
  GridRequest g;
  const int64_t K = m.classes();
  if (K == 0) {
    if (!class_specs.empty() || per_class != 0) throw std::invalid_argument("--class, --per-class: this token model has no classes (model.classes = 0)");
    g.n = n > 0 ? n : 64;
    g.columns = square_columns(g.n);
    return g;
  }
  if (n != 0) throw std::invalid_argument("--n: this token model is class-conditional: it draws --per-class grids of each --class, a row each");
  const std::vector<std::string> names = image_class_names(m.config.at("vqvae").value("dataset", std::string()));
  const std::vector<int32_t> classes = class_specs.empty() ? all_classes(K) : parse_classes(class_specs, K, names, "--class");
  g.columns = per_class > 0 ? per_class : 8;
  g.labels = class_rows(classes, g.columns);
  g.n = g.labels.size(0);
  for (const int32_t c : classes)
    g.summary += (g.summary.empty() ? "" : ", ") + std::to_string(c) +
                 (static_cast<int64_t>(names.size()) == K ? " " + names[static_cast<size_t>(c)] : std::string());
  return g;
}

class VqDiffusionTraining : public TrainingTask {
 public:
  VqDiffusionTraining(const json& config, const std::string& tokens_path)
      : seed_(config.at("seed").get<uint64_t>()),
        model_(config, seed_),
        data_(read_token_rows(tokens_path, model_)),
        source_(tokens_path),
        streams_(seed_),
        p_uncond_(p_uncond_of(config.at("train"))),
        sample_count_(config.at("train").at("sample_count").get<int64_t>()),
        sample_steps_(config.at("train").value("sample_steps", int64_t{0})),
        importance_(t_sampling_of(config.at("train"), model_.d3pm.timesteps())) {
    if (evaluation_schedule(config.at("train")).enabled())
      throw std::invalid_argument("train.eval_every: a vq-diffusion run does not evaluate while training (0); evaluate the bound "
                                  "afterwards with `diffuse evaluate --checkpoint C --data TEST_TOKENS`");
    auto sequences = std::make_shared<data::TokenSequences>();
    sequences->ids = data_.rows;
    sequences->vocab_size = model_.codes();
    sequences->lengths.assign(static_cast<size_t>(data_.rows.size(0)), model_.length());
    rows_ = std::make_unique<data::SequenceSampler>(sequences, seed_);
    model_.net.train();
  }

  nn::ParameterArena& arena() override { return model_.arena; }
  // The batch's grids (uniform draws of rows), their t (uniform, or by importance with each example's weight
  // 1 / (T p_t)) and x_t, and their labels each dropped to the null class with probability train.p_uncond, all
  // from the diffusion stream in that order.
  void draw_batch(int64_t b) override {
    const std::vector<int64_t> picked = rows_->peek_rows(b);
    x0_ = rows_->next(b);
    if (importance_) {
      diffusion::TimeImportance::Draw d = importance_->sample(b, streams_.diffusion);
      t_ = d.t;
      weight_ = d.weight;
    } else {
      t_ = model_.d3pm.sample_t(b, streams_.diffusion);
    }
    x_t_ = model_.d3pm.q_sample(x0_, t_, streams_.diffusion);
    if (model_.classes() > 0) {
      std::vector<int32_t> labels;
      for (const int64_t r : picked) labels.push_back(data_.labels.data<int32_t>()[r]);
      labels_ = diffusion::drop_labels(Tensor::from_vector(labels, {b}), static_cast<int32_t>(model_.classes()), p_uncond_, streams_.diffusion);
    }
  }
  // L_lambda = L_vlb + lambda CE at each grid's t (Austin et al. eq. 5; Gu et al. eq. 11 with lambda = 5e-4), each
  // grid weighted by 1 / (T p_t) under importance sampling, whose history then takes the rows' L_t.
  MicroBatchLoss accumulate_gradients(int64_t begin, int64_t end, double weight) override {
    const diffusion::X0Model model = model_.x0_model(streams_.dropout, labels_.defined() ? labels_.slice(0, begin, end) : Tensor());
    const Tensor t = t_.slice(0, begin, end);
    const diffusion::D3pmLoss loss = model_.d3pm.training_loss_at(model, x0_.slice(0, begin, end), t, x_t_.slice(0, begin, end),
                                                                  importance_ ? weight_.slice(0, begin, end) : Tensor());
    (loss.loss * weight).backward();
    if (importance_) importance_->update(t, loss.vb);
    return d3pm_loss_parts(loss, model_.d3pm.config(), model_.length());
  }
  std::vector<std::string> loss_part_names() const override { return d3pm_loss_part_names(); }
  // A row of ceil(train.sample_count / classes) grids per class (w = 0, no truncation), decoded by the VQ-VAE.
  SamplesFile write_samples(const fs::path& dir, int64_t step) override {
    if (!vqvae_) vqvae_ = load_bound_vqvae(model_.config, "the run");
    fs::create_directories(dir);
    const fs::path path = dir / ("step-" + std::to_string(step) + ".png");
    model_.net.eval();
    const int64_t K = model_.classes();
    const GridRequest g = grid_request(model_, {}, K > 0 ? std::max<int64_t>(1, (sample_count_ + K - 1) / K) : 0, K > 0 ? 0 : sample_count_);
    TokenSampling s;
    s.labels = g.labels;
    s.options.steps = sample_steps_ > 0 ? std::min(sample_steps_, model_.d3pm.timesteps()) : 0;
    Philox rng(seed_, kSamples);
    const Tensor tokens = sample_tokens(model_, g.n, s, rng);
    model_.net.train();
    write_image_grid(path.string(), decode_tokens(*vqvae_, tokens, model_.rows(), model_.cols()), g.columns);
    return {path, ""};
  }
  EvaluationRecord evaluate(int64_t) override { throw std::logic_error("vq-diffusion: no periodic evaluation (train.eval_every = 0)"); }
  std::map<std::string, std::string> state() const override {
    std::map<std::string, std::string> s = streams_.state();
    s["data.position"] = json(rows_->state().to_strings()).dump();
    if (importance_) s["t_importance"] = json{{"history", importance_->history()}, {"counts", importance_->counts()}}.dump();
    return s;
  }
  void restore(const std::map<std::string, std::string>& meta, const std::string& path) override {
    if (!meta.count("data.position")) throw std::runtime_error(path + ": the checkpoint records no data position");
    rows_->restore(data::SequenceSamplerState::from_strings(json::parse(meta.at("data.position"))));
    streams_.restore(meta, path);
    if (importance_) {
      if (!meta.count("t_importance"))
        throw std::runtime_error(path + ": train.t_sampling is importance but the checkpoint records no history of L_t");
      const json j = json::parse(meta.at("t_importance"));
      importance_ = diffusion::TimeImportance(j.at("history").get<std::vector<double>>(), j.at("counts").get<std::vector<int64_t>>());
      if (importance_->timesteps() != model_.d3pm.timesteps())
        throw std::runtime_error(path + ": its history of L_t has " + std::to_string(importance_->timesteps()) + " steps, the model T = " +
                                 std::to_string(model_.d3pm.timesteps()));
    }
  }
  std::string data_summary() const override {
    return std::to_string(data_.rows.size(0)) + " token grids of " + std::to_string(model_.rows()) + "x" + std::to_string(model_.cols()) +
           " over " + std::to_string(model_.codes()) + " codes (" + source_ + ")";
  }
  std::string item_name() const override { return "grids"; }
  int64_t items_per_example() const override { return 1; }

 private:
  uint64_t seed_;
  VqDiffusionModel model_;
  TokenRows data_;
  std::string source_;
  TrainingStreams streams_;
  double p_uncond_;
  int64_t sample_count_, sample_steps_;
  std::unique_ptr<data::SequenceSampler> rows_;
  std::unique_ptr<VqVaeModel> vqvae_;  // for the samples, loaded when first needed
  std::optional<diffusion::TimeImportance> importance_;  // train.t_sampling = importance
  Tensor x0_, t_, x_t_, labels_, weight_;                // the drawn batch (weight_: 1 / (T p_t) by importance)
};

std::optional<int64_t> vq_diffusion_parameter_count(const json& config) {
  return VqDiffusionModel(config, 0).net.parameter_count();
}

// The token file at --data binds its VQ-VAE (bind_vqvae) before the model is built.
std::unique_ptr<TrainingTask> make_vq_diffusion_training(json& config, const std::string& data_path) {
  if (data_path.empty()) throw std::invalid_argument("--data: the training split's token-grid file (`diffuse tokenize`) is required");
  bind_vqvae(config, data::read_token_grids(data_path).header, data_path);
  return std::make_unique<VqDiffusionTraining>(config, data_path);
}

std::map<std::string, std::string> vq_diffusion_network_metadata(const json& config) {
  const nn::TransformerConfig c = nn::TransformerConfig::from_json(config.at("model"));
  const json a = {
      {"network", "transformer"},
      {"input", "x_t: int32 [B, H W] codes 0..K-1 and the mask K, row-major over the H x W grid; step [B] = t - 1"},
      {"positions", "learned 2-D: row_emb[i] + col_emb[j] at n = i W + j"},
      {"class", c.classes > 0 ? "a class token class_emb[c] + the time embedding before the grid (c = " + std::to_string(c.classes) +
                                    ": the null class), dropped after the blocks"
                              : "none"},
      {"output", "logits of ptilde(x0 | x_t) [B, H W, K + 1] (the mask's forced to -inf)"},
      {"vqvae", config.contains("vqvae") ? config.at("vqvae") : json()}};
  return {{"architecture", a.dump()}};
}

// --per-class grids of each --class (default every class), a row each, decoded to --out (PNG) and the .npz beside it
// with the labels; --steps (skipping), --truncation r, --guidance-scale w, --argmax.
int run_vq_diffusion_sample(const SampleOptions& options) {
  if (options.out.empty()) throw std::invalid_argument("--out: an output PNG file is required");
  if (options.progressive) throw std::invalid_argument("--progressive: not for vq-diffusion");
  const auto m = load_model_for_inference<VqDiffusionModel>(options.checkpoint, options.ema);
  const auto vqvae = load_bound_vqvae(m->config, options.checkpoint);
  if (!(options.guidance_scale >= 0) || !std::isfinite(options.guidance_scale))
    throw std::invalid_argument("--guidance-scale: w must be finite and >= 0 (0: the conditional model alone)");
  if (m->classes() == 0 && options.guidance_scale_given) throw std::invalid_argument("--guidance-scale: this token model has no classes");
  const GridRequest g = grid_request(*m, options.classes, options.per_class, options.n);
  TokenSampling s{.labels = g.labels, .guidance_scale = options.guidance_scale, .truncation = options.truncation,
                  .options = d3pm_sample_options(options, m->d3pm.timesteps())};
  const int64_t evaluations = options.steps > 0 ? options.steps : m->d3pm.timesteps();
  const SampleChunks chunks(g.n, options.batch, g.labels, options.journal,
                            {{"checkpoint", fs::absolute(options.checkpoint).lexically_normal().string()}, {"ema", options.ema},
                             {"steps", options.steps}, {"argmax", options.argmax}, {"classes", options.classes},
                             {"per_class", options.per_class}, {"guidance_scale", options.guidance_scale},
                             {"truncation", options.truncation}, {"seed", options.seed}});
  std::printf("sampling %lld grids of %lldx%lld: %lld network evaluations%s%s, truncation r = %g, guidance w = %g%s\n",
              static_cast<long long>(g.n), static_cast<long long>(m->rows()), static_cast<long long>(m->cols()),
              static_cast<long long>(evaluations), g.summary.empty() ? "" : ("; classes " + g.summary + ", a row each").c_str(),
              options.argmax ? ", argmax" : "", options.truncation, options.guidance_scale, chunks.summary().c_str());
  const auto progress = evaluation_progress("sample", evaluations * chunks.to_draw(), options.quiet);
  const SampleChunks::Drawn drawn = chunks.run(options.seed, [&](SampleChunks::Chunk& chunk) {
    TokenSampling c = s;
    c.labels = chunk.labels;
    return decode_tokens(*vqvae, sample_tokens(*m, chunk.n, c, chunk.rng, progress.get()), m->rows(), m->cols());
  });
  progress->finish();
  const Tensor& images = drawn.images;
  write_image_grid(options.out, images, g.columns, options.scale);
  const std::string npz = fs::path(options.out).replace_extension(".npz").string();
  write_image_npz(npz, images, g.labels);
  std::printf("wrote %s and %s; sampling %lld of them took %.2f s, %.3f s per image (decoding included)\n", options.out.c_str(),
              npz.c_str(), static_cast<long long>(drawn.drawn), drawn.seconds,
              drawn.drawn > 0 ? drawn.seconds / static_cast<double>(drawn.drawn) : 0.0);
  return 0;
}

// The bound in bits per token of a token file (--data; the test split's), each grid given its label; --steps K: the
// K-step process; --estimate: one t per grid.
int run_vq_diffusion_evaluate(const EvaluateOptions& options) {
  if (options.data_dir.empty()) throw std::invalid_argument("--data: a token-grid file of `diffuse tokenize` (the test split) is required");
  if (!options.rate_distortion.empty() || !options.terms_out.empty()) throw std::invalid_argument("--rate-distortion, --terms-out: not for vq-diffusion");
  const auto m = load_model_for_inference<VqDiffusionModel>(options.checkpoint, options.ema);
  const TokenRows data = read_token_rows(options.data_dir, *m);
  const std::string hash = m->config.at("vqvae").at("hash").get<std::string>();
  data::require_token_grids_of(data.header, options.data_dir, hash, m->config.at("vqvae").at("checkpoint").get<std::string>(), m->codes(),
                               m->rows(), m->cols());
  const int64_t n = options.items > 0 ? std::min(options.items, data.rows.size(0)) : data.rows.size(0);
  const int64_t batch = options.batch > 0 ? options.batch : m->config.at("train").at("batch").get<int64_t>();
  Philox unused(0);
  const diffusion::D3pmElboResult r = evaluate_d3pm(
      [&](int64_t begin, int64_t end) {
        return stoppable(m->x0_model(unused, m->classes() > 0 ? data.labels.slice(0, begin, end) : Tensor()));
      },
      m->d3pm, data.rows.slice(0, 0, n), batch, options);
  if (!ProcessGroup::world().is_root()) return 0;
  if (options.json) {
    json j = r.to_json();
    j.erase("per_sequence_bits");
    j["data"] = options.data_dir;
    std::cout << j.dump() << "\n";
    return 0;
  }
  std::printf("%s bound: %.4f bits per token (+- %.4f) on %lld grids of %s (%lld tokens each)\n", r.method.c_str(), r.bits_per_token,
              r.stderr_bits, static_cast<long long>(r.num_sequences), options.data_dir.c_str(), static_cast<long long>(m->length()));
  return 0;
}

}  // namespace

// This family's entry in the table of model_family.cpp.
extern const ModelFamily kVqDiffusionFamily = {
    .kind = "vq-diffusion",
    .description = "VQ-Diffusion (Gu et al. 2022): mask-and-replace diffusion over a VQ-VAE's token grids, class-conditional",
    .read_config = vq_diffusion_parameter_count,
    .make_training = make_vq_diffusion_training,
    .network_metadata = vq_diffusion_network_metadata,
    .sample = run_vq_diffusion_sample,
    .sample_flags = {"--class", "--per-class", "--guidance-scale", "--truncation", "--batch", "--journal"},
    .evaluate = run_vq_diffusion_evaluate,
};

}  // namespace diffuse
