// The `vqvae` family (apps/vqvae_model.hpp; van den Oord et al. 2017; docs/math.md §12): train the VQ-VAE on a
// dataset's images with the MSE, codebook and commitment losses (an EMA codebook and dead-code restarts as options);
// evaluate its test reconstructions (MSE, PSNR, the codebook's perplexity and codes used, a PNG of originals beside
// reconstructions); tokenize a split into a token-grid file for the token models.
#include "apps/vqvae_commands.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <limits>
#include <memory>

#include "apps/image_data.hpp"
#include "apps/model_family.hpp"
#include "apps/process_group.hpp"
#include "apps/run_support.hpp"
#include "apps/vqvae_model.hpp"
#include "data/token_grids.hpp"
#include "tensor/autograd.hpp"
#include "tensor/ops.hpp"

namespace diffuse {

namespace {
using json = nlohmann::json;
namespace fs = std::filesystem;

// Reconstruction figures over images in batches (no tape): the MSE in model space [-1, 1] of the clamped
// reconstruction, PSNR = 10 log10(2^2 / MSE) (the peak-to-peak range 2; the same figure as on 0..255), and the code
// histogram.
struct ReconstructionScores {
  double squared_error = 0, image_mse_squares = 0;  // the sum of the squared errors; of each image's MSE squared
  int64_t elements = 0, images = 0;
  std::vector<int64_t> histogram;
  double mse() const { return elements > 0 ? squared_error / static_cast<double>(elements) : 0.0; }
  // The standard error of the MSE as the mean of the images' MSEs (every image has as many elements).
  double standard_error() const {
    if (images < 2) return 0.0;
    const double n = static_cast<double>(images), m = mse();
    return std::sqrt(std::max(0.0, (image_mse_squares / n - m * m) / (n - 1)));
  }
  double psnr() const { return 10.0 * std::log10(4.0 / mse()); }
};

// keep (may be null): every clamped reconstruction, in order, for the .npz of `evaluate --out`.
ReconstructionScores score_reconstructions(const VqVaeModel& m, const Tensor& images, int64_t batch, Progress* progress,
                                           std::vector<Tensor>* keep = nullptr) {
  ReconstructionScores s;
  s.histogram.assign(static_cast<size_t>(m.codebook_size()), 0);
  const int64_t n = images.size(0);
  for (int64_t begin = 0; begin < n; begin += batch) {
    if (stop_requested()) throw StopRequested();
    const int64_t end = std::min(n, begin + batch);
    const Tensor x = images.slice(0, begin, end);
    const Reconstruction r = reconstruct(m, x);
    const Tensor clamped = clamp(r.x_hat, -1.0, 1.0);
    if (keep) keep->push_back(clamped);
    const Tensor diff = (clamped - x).to(DType::F64).contiguous();
    const int64_t per_image = diff.numel() / (end - begin);
    for (int64_t b = 0; b < end - begin; ++b) {
      double image = 0;
      for (int64_t i = b * per_image; i < (b + 1) * per_image; ++i) image += diff.data<double>()[i] * diff.data<double>()[i];
      s.squared_error += image;
      s.image_mse_squares += (image / static_cast<double>(per_image)) * (image / static_cast<double>(per_image));
    }
    s.elements += diff.numel();
    for (int64_t i = 0; i < r.codes.numel(); ++i) s.histogram[static_cast<size_t>(r.codes.data<int32_t>()[i])]++;
    s.images += end - begin;
    if (progress) progress->advance();
  }
  return s;
}

// The first `n` images and their reconstructions as a PNG: rows of 8 originals, each followed by the row of their
// reconstructions.
void write_reconstruction_grid(const VqVaeModel& m, const Tensor& images, const std::string& path) {
  const int64_t n = images.size(0), columns = std::min<int64_t>(8, n);
  const Tensor x_hat = reconstruct(m, images).x_hat;
  std::vector<Tensor> rows;
  for (int64_t begin = 0; begin < n; begin += columns) {
    const int64_t end = std::min(n, begin + columns);
    rows.push_back(images.slice(0, begin, end));
    rows.push_back(x_hat.slice(0, begin, end));
  }
  write_image_grid(path, concat(rows, 0).contiguous(), columns);
}

class VqVaeTraining : public ImageTrainingTask {
 public:
  VqVaeTraining(const json& config, const std::string& data_dir)
      : ImageTrainingTask(config, data_dir), model_(config, config.at("seed").get<uint64_t>()) {
    const data::ImageSet& set = *data_.train_set;
    model_.require_images(set.height(), set.width(), set.channels(), "the training set " + set.source, "this configuration");
    if (model_.vq.ema) ema_ = std::make_unique<nn::CodebookEma>(model_.net.codebook, model_.vq.ema_decay, model_.vq.ema_epsilon);
    if (model_.vq.restart_after > 0) restart_ = std::make_unique<nn::DeadCodeRestart>(model_.codebook_size(), model_.vq.restart_after);
    const json& train = config.at("train");
    const EvaluationSchedule schedule = evaluation_schedule(train);
    const int64_t shown = train.at("sample_every").get<int64_t>() > 0 ? std::max<int64_t>(1, train.at("sample_count").get<int64_t>()) : 0;
    const int64_t need = std::max<int64_t>(schedule.enabled() ? schedule.items : 0, shown);
    if (need > 0) {
      const auto test = load_images(config.at("data").at("dataset").get<std::string>(), data_dir, "test");
      held_out_ = first_images(*test, "test", need, schedule.enabled() && schedule.items >= shown ? "train.eval_items" : "train.sample_count");
    }
    shown_ = shown;
    model_.net.train();
  }

  nn::ParameterArena& arena() override { return model_.arena; }
  void draw_batch(int64_t b) override { x_ = data_.batches.next(b).images; }
  // Eq. 3's loss on rows [begin, end), then (outside the tape) the EMA codebook update (Appendix A.1) and dead-code
  // restarts from these rows' encoder outputs, drawn from the run's diffusion stream: once per micro-batch.
  MicroBatchLoss accumulate_gradients(int64_t begin, int64_t end, double weight) override {
    const VqVaeLoss l = vqvae_loss(model_, x_.slice(0, begin, end));
    (l.loss * weight).backward();
    NoGradGuard no_grad;
    const Tensor codes = l.quantized.codes.reshape({-1});
    if (ema_) ema_->update(l.quantized.rows, codes, model_.net.codebook);
    if (restart_) restart_->step(l.quantized.rows, codes, model_.net.codebook, data_.streams.diffusion, ema_.get());
    // A codebook gone non-finite (an EMA of non-finite encoder outputs) is reported as a non-finite loss, so that the
    // loop stops naming the step and keeps the last good checkpoint, as for every family.
    if (!all_finite(model_.net.codebook)) {
      std::fprintf(stderr, "the codebook holds NaN or Inf after its update\n");
      const double nan = std::numeric_limits<double>::quiet_NaN();
      return {nan, {l.mse, l.codebook, l.commitment}};
    }
    return {l.loss.item(), {l.mse, l.codebook, l.commitment}};
  }
  std::vector<std::string> loss_part_names() const override { return {"MSE", "codebook", "commitment"}; }
  // The first train.sample_count test images, each row of originals followed by its reconstructions.
  SamplesFile write_samples(const fs::path& dir, int64_t step) override {
    fs::create_directories(dir);
    const fs::path path = dir / ("step-" + std::to_string(step) + ".png");
    model_.net.eval();
    write_reconstruction_grid(model_, held_out_.slice(0, 0, std::max<int64_t>(shown_, 1)), path.string());
    model_.net.train();
    return {path, ""};
  }
  // The reconstruction MSE of the first train.eval_items test images, as `diffuse evaluate`.
  EvaluationRecord evaluate(int64_t items) override {
    model_.net.eval();
    const ReconstructionScores s = score_reconstructions(model_, held_out_.slice(0, 0, std::min(items, held_out_.size(0))),
                                                         model_.config.at("train").at("batch").get<int64_t>(), nullptr);
    model_.net.train();
    return {.split = "test", .items = s.images, .item_noun = "images", .figure = "mse", .value = s.mse(), .standard_error = s.standard_error(),
            .method = "reconstruction"};
  }
  std::map<std::string, std::string> state() const override {
    std::map<std::string, std::string> s = data_.state();
    nn::save_quantizer_state(ema_.get(), restart_.get(), s);
    return s;
  }
  void restore(const std::map<std::string, std::string>& meta, const std::string& path) override {
    data_.restore(meta, path);
    nn::restore_quantizer_state(ema_.get(), restart_.get(), meta, path);
  }

 private:
  VqVaeModel model_;
  std::unique_ptr<nn::CodebookEma> ema_;
  std::unique_ptr<nn::DeadCodeRestart> restart_;
  Tensor held_out_;  // the first max(train.eval_items, train.sample_count) test images
  int64_t shown_ = 0;
  Tensor x_;         // the drawn batch
};

std::optional<int64_t> vqvae_parameter_count(const json& config) { return VqVaeModel(config, 0).net.parameter_count(); }

std::unique_ptr<TrainingTask> make_vqvae_training(json& config, const std::string& data_dir) {
  return std::make_unique<VqVaeTraining>(config, data_dir);
}

std::map<std::string, std::string> vqvae_network_metadata(const json& config) {
  const nn::VqVaeConfig c = nn::VqVaeConfig::from_json(config.at("model"));
  const json a = {
      {"network", "vqvae"},
      {"input", "x: images [B, C, R, R] in [-1, 1]"},
      {"encoder", "conv4x4 s2 p1 (C -> hidden/2), relu, conv4x4 s2 p1 (-> hidden), relu, conv3x3, res_blocks x "
                  "(h + conv1x1(relu(conv3x3(relu(h))))), relu, conv1x1 (-> code_dim): z_e [B, d, R/4, R/4]"},
      {"quantizer", "codes = argmin_k ||z_e - codebook[k]||^2 (ties: lowest k); z_q = codebook[codes]"},
      {"decoder", "conv3x3 (d -> hidden), res_blocks x (...), relu, nearest 2x, conv3x3 (-> hidden/2), relu, nearest 2x, "
                  "conv3x3 (-> C)"},
      {"padding", "symmetric, PyTorch's"},
      {"grid", std::to_string(c.grid()) + "x" + std::to_string(c.grid())},
      {"codebook", std::to_string(c.codebook_size) + " x " + std::to_string(c.code_dim)}};
  return {{"architecture", a.dump()}};
}

int run_vqvae_sample(const SampleOptions& options) {
  throw std::invalid_argument(options.checkpoint + " is a VQ-VAE: it does not sample; `diffuse evaluate` shows its reconstructions "
                              "and `diffuse tokenize` encodes a dataset for a token model");
}

// Test-split reconstructions: MSE, PSNR, the code histogram's perplexity and codes used; with --out, a PNG of the
// first 32 originals beside their reconstructions.
int run_vqvae_evaluate(const EvaluateOptions& options) {
  if (!options.rate_distortion.empty() || options.steps != 0 || options.estimate || !options.terms_out.empty())
    throw std::invalid_argument("--rate-distortion, --terms-out, --steps and --estimate: not for a VQ-VAE (it reports reconstructions)");
  if (options.split != "test" && options.split != "train") throw std::invalid_argument("--split: 'test' or 'train', got '" + options.split + "'");
  const auto m = load_model_for_inference<VqVaeModel>(options.checkpoint, options.ema);
  const auto set = load_images(m->config.at("data").at("dataset").get<std::string>(), options.data_dir, options.split);
  m->require_images(set->height(), set->width(), set->channels(), "--data " + set->source, options.checkpoint);
  const data::ImageBatch all = first_image_batch(*set, options.split, options.items > 0 ? options.items : set->size(), "--images");
  const Tensor& images = all.images;
  const int64_t batch = options.batch > 0 ? options.batch : m->config.at("train").at("batch").get<int64_t>();
  const auto start = std::chrono::steady_clock::now();
  const auto progress = evaluation_progress("evaluate", (images.size(0) + batch - 1) / batch, options.quiet);
  std::vector<Tensor> kept;
  const ReconstructionScores s = score_reconstructions(*m, images, batch, progress.get(), options.out.empty() ? nullptr : &kept);
  progress->finish();
  const double seconds = seconds_since(start);
  const std::string npz = fs::path(options.out).replace_extension(".npz").string();
  if (!options.out.empty()) {
    write_reconstruction_grid(*m, images.slice(0, 0, std::min<int64_t>(32, images.size(0))), options.out);
    write_image_npz(npz, concat(kept, 0), all.labels);  // what `evaluate --samples --classifier` scores: the tokenizer's floor
  }
  if (!ProcessGroup::world().is_root()) return 0;
  const nn::CodeUsage u = nn::code_usage(s.histogram);
  if (options.json) {
    json j = {{"mse", s.mse()}, {"mse_stderr", s.standard_error()}, {"psnr", s.psnr()}, {"perplexity", u.perplexity}, {"codes_used", u.used},
              {"codebook_size", m->codebook_size()}, {"images", s.images}, {"split", options.split}, {"seconds", seconds},
              {"checkpoint", options.checkpoint}};
    if (!options.out.empty()) j["png"] = options.out, j["npz"] = npz;
    std::cout << j.dump() << "\n";
    return 0;
  }
  std::printf("MSE %.6f (+- %.6f, on [-1, 1]), PSNR %.2f dB on %lld %s images; codebook perplexity %.1f, %lld of %lld codes used; %.1f s\n",
              s.mse(), s.standard_error(), s.psnr(), static_cast<long long>(s.images), options.split.c_str(), u.perplexity, static_cast<long long>(u.used),
              static_cast<long long>(m->codebook_size()), seconds);
  if (!options.out.empty())
    std::printf("originals (odd rows) and reconstructions (even rows): %s; every reconstruction with its label: %s\n", options.out.c_str(),
                npz.c_str());
  return 0;
}

}  // namespace

int run_vqvae_tokenize(const TokenizeOptions& options) {
  const json config = checkpoint_config(options.checkpoint);
  if (config.value("kind", "") != "vqvae")
    throw std::invalid_argument("--checkpoint: " + options.checkpoint + " is a " + config.value("kind", std::string("?")) +
                                " checkpoint; tokenize needs a vqvae one");
  if (options.out.empty()) throw std::invalid_argument("--out: the token-grid file to write is required");
  if (options.split != "test" && options.split != "train") throw std::invalid_argument("--split: 'test' or 'train', got '" + options.split + "'");
  require_data_path(config, options.data_dir);
  const auto m = load_model_for_inference<VqVaeModel>(options.checkpoint, options.ema);
  const std::string dataset = config.at("data").at("dataset").get<std::string>();
  const auto set = load_images(dataset, options.data_dir, options.split);
  m->require_images(set->height(), set->width(), set->channels(), "--data " + set->source, options.checkpoint);
  const data::ImageBatch all = first_image_batch(*set, options.split, options.items > 0 ? options.items : set->size(), "--images");
  const int64_t n = all.images.size(0), g = m->grid();
  const int64_t batch = options.batch > 0 ? options.batch : config.at("train").at("batch").get<int64_t>();
  data::TokenGrids grids;
  grids.header = {.vqvae_hash = vqvae_hash(*m), .vqvae_checkpoint = options.checkpoint, .codebook_size = m->codebook_size(),
                  .height = g, .width = g, .count = n, .dataset = dataset, .split = options.split};
  grids.codes.reserve(static_cast<size_t>(n * g * g));
  const auto progress = evaluation_progress("tokenize", (n + batch - 1) / batch, options.quiet);
  for (int64_t begin = 0; begin < n; begin += batch) {
    const Tensor codes = reconstruct(*m, all.images.slice(0, begin, std::min(n, begin + batch))).codes.contiguous();
    for (int64_t i = 0; i < codes.numel(); ++i) grids.codes.push_back(static_cast<uint16_t>(codes.data<int32_t>()[i]));
    progress->advance();
  }
  progress->finish();
  for (int64_t i = 0; i < n; ++i) grids.labels.push_back(all.labels.defined() ? all.labels.data<int32_t>()[i] : -1);
  data::write_token_grids(options.out, grids);
  std::printf("%lld %s images of %s as %lldx%lld grids of %lld codes (VQ-VAE hash %s) -> %s\n", static_cast<long long>(n),
              options.split.c_str(), dataset.c_str(), static_cast<long long>(g), static_cast<long long>(g),
              static_cast<long long>(m->codebook_size()), grids.header.vqvae_hash.c_str(), options.out.c_str());
  return 0;
}

// This family's entry in the table of model_family.cpp.
extern const ModelFamily kVqVaeFamily = {
    .kind = "vqvae",
    .description = "a VQ-VAE (van den Oord et al. 2017): images to a grid of codebook indices at 1/4 resolution and back",
    .read_config = vqvae_parameter_count,
    .make_training = make_vqvae_training,
    .network_metadata = vqvae_network_metadata,
    .sample = run_vqvae_sample,
    .sample_flags = {},
    .evaluate = run_vqvae_evaluate,
};

}  // namespace diffuse
