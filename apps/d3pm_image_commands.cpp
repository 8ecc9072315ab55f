// The D3PM image verbs of build/diffuse (Austin et al. 2021, §6: CIFAR-10): discrete diffusion over the 256
// values of every subpixel (3 x 32 x 32 categorical variables) with the discretized Gaussian, uniform or
// absorbing (mid-gray 128) transitions, an x0-parameterised U-Net that outputs a truncated discretized
// logistic (or plain logits) per subpixel, the hybrid loss, samples as PNG grids and .npz, and bits/dim by
// the exact bound or its Monte-Carlo estimate.
#include "apps/model_family.hpp"
#include "apps/network_metadata.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <numbers>

#include "apps/d3pm_choices.hpp"
#include "apps/d3pm_config.hpp"
#include "apps/image_data.hpp"
#include "apps/run_support.hpp"
#include "apps/process_group.hpp"
#include "data/image_batches.hpp"
#include "diffusion/d3pm_elbo.hpp"
#include "diffusion/d3pm_sampler.hpp"
#include "diffusion/d3pm_image_model.hpp"
#include "nn/unet.hpp"
#include "tensor/autograd.hpp"
#include "tensor/ops.hpp"

namespace diffuse {

namespace {
using json = nlohmann::json;
namespace fs = std::filesystem;

using diffusion::kPixelValues;

diffusion::ImageOutput image_output(const json& model) {
  if (!model.contains("output")) throw std::invalid_argument("model.output is missing");
  return diffusion::parse_image_output(model.at("output").get<std::string>());
}

// The U-Net, its arena and the discrete diffusion, built from a resolved configuration.
struct D3pmImageModel {
  D3pmImageModel(const json& config, uint64_t seed)
      : config(config), init_rng(seed, kInit), net(nn::UNetConfig::from_json(config.at("model")), init_rng), arena(net),
        d3pm(d3pm_config_from_json(config.at("diffusion"), d3pm_image_states(config.at("diffusion")))),
        output(image_output(config.at("model"))) {}
  json config;
  Philox init_rng;
  nn::UNet net;
  nn::ParameterArena arena;
  diffusion::D3pm d3pm;
  diffusion::ImageOutput output;

  int64_t channels() const { return net.config().in_channels; }
  int64_t resolution() const { return net.config().resolution; }
  int64_t subpixels() const { return channels() * resolution() * resolution(); }
  Shape image_shape(int64_t n) const { return {n, channels(), resolution(), resolution()}; }
  diffusion::X0Model x0_model(Philox& dropout_rng) const { return diffusion::image_x0_model(net, output, dropout_rng); }
  Tensor to_images(const Tensor& values) const { return diffusion::pixel_values_to_images(values, image_shape(values.size(0))); }

  // n samples (the caller has put the weights it wants in place); progress (may be null) advances once per
  // network evaluation.
  diffusion::D3pmSampleResult sample(int64_t n, Philox& rng, const diffusion::D3pmSampleOptions& options,
                                     Progress* progress = nullptr) {
    NoGradGuard no_grad;
    net.eval();
    Philox unused(0);
    return diffusion::d3pm_sample(with_progress(stoppable(x0_model(unused)), progress), d3pm, n, subpixels(), rng, options);
  }
};

class D3pmImageTraining : public ImageTrainingTask {
 public:
  D3pmImageTraining(const json& config, const std::string& data_dir)
      : ImageTrainingTask(config, data_dir),
        seed_(config.at("seed").get<uint64_t>()),
        setup_(config, seed_),
        model_(setup_.x0_model(data_.streams.dropout)),
        sample_count_(config.at("train").at("sample_count").get<int64_t>()),
        sample_steps_(config.at("train").at("sample_steps").get<int64_t>()) {
    setup_.net.train();
    if (const Tensor images = held_out_images(config, data_dir); images.defined())
      held_out_ = diffusion::images_to_pixel_values(images);
  }

  nn::ParameterArena& arena() override { return setup_.arena; }
  void draw_batch(int64_t b) override {
    x0_ = diffusion::images_to_pixel_values(data_.batches.next(b).images);
    t_batch_ = setup_.d3pm.sample_t(b, data_.streams.diffusion);
    x_t_ = setup_.d3pm.q_sample(x0_, t_batch_, data_.streams.diffusion);
  }
  MicroBatchLoss accumulate_gradients(int64_t begin, int64_t end, double weight) override {
    const diffusion::D3pmLoss loss =
        setup_.d3pm.training_loss_at(model_, x0_.slice(0, begin, end), t_batch_.slice(0, begin, end), x_t_.slice(0, begin, end));
    (loss.loss * weight).backward();
    return d3pm_loss_parts(loss, setup_.d3pm.config(), x0_.numel() / x0_.size(0));
  }
  std::vector<std::string> loss_part_names() const override { return d3pm_loss_part_names(); }
  SamplesFile write_samples(const fs::path& dir, int64_t step) override {
    Philox rng(seed_, kSamples);
    diffusion::D3pmSampleOptions options;
    options.steps = sample_steps_ > 0 ? std::min(sample_steps_, setup_.d3pm.timesteps()) : 0;
    const Tensor x = setup_.to_images(setup_.sample(sample_count_, rng, options).x0);
    setup_.net.train();
    fs::create_directories(dir);
    const fs::path grid = dir / ("step-" + std::to_string(step) + ".png");
    write_image_grid(grid.string(), x, square_columns(sample_count_));
    return {grid, ""};
  }
  // bits/dim of the first test images by the Monte-Carlo estimate, as `diffuse evaluate --estimate`.
  EvaluationRecord evaluate(int64_t items) override {
    setup_.net.eval();
    Philox unused(0);
    const diffusion::D3pmElboResult r =
        evaluate_d3pm(stoppable(setup_.x0_model(unused)), setup_.d3pm, held_out_.slice(0, 0, items),
                      setup_.config.at("train").at("batch").get<int64_t>(),
                      periodic_evaluation_options(setup_.config, "test", /*estimate=*/true));
    setup_.net.train();
    return test_images_record(r.num_sequences, r.bits_per_token, r.stderr_bits, r.method);
  }

 private:
  uint64_t seed_;
  D3pmImageModel setup_;  // the network, its arena and the diffusion
  diffusion::X0Model model_;
  int64_t sample_count_, sample_steps_;
  Tensor held_out_;  // the first train.eval_items test images' pixel values, when the run evaluates
  Tensor x0_, t_batch_, x_t_;  // the drawn batch
};

}  // namespace

static std::optional<int64_t> d3pm_image_parameter_count(const json& config) {
  check_d3pm_json(config.at("diffusion"), d3pm_image_states(config.at("diffusion")));
  Philox rng(0);
  const nn::UNet net(nn::UNetConfig::from_json(config.at("model")), rng);
  diffusion::image_x0_model(net, image_output(config.at("model")), rng);  // checks out_channels against the output
  return net.parameter_count();
}

static std::unique_ptr<TrainingTask> make_d3pm_image_training(json& config, const std::string& data_dir) {
  return std::make_unique<D3pmImageTraining>(config, data_dir);
}

// ---- sample ----------------------------------------------------------------------------------------

static int run_d3pm_image_sample(const SampleOptions& options) {
  const int64_t n = options.n == 0 ? 64 : options.n;
  if (options.out.empty()) throw std::invalid_argument("--out: an output PNG file is required for images");
  auto m = load_model_for_inference<D3pmImageModel>(options.checkpoint, options.ema);
  const int64_t T = m->d3pm.timesteps();
  const diffusion::D3pmSampleOptions sampling = d3pm_sample_options(options, T);
  Philox rng(options.seed, kSamples);
  const auto start = std::chrono::steady_clock::now();
  const auto progress = evaluation_progress("sample", sampling.steps > 0 ? sampling.steps : T, options.quiet);
  const diffusion::D3pmSampleResult r = m->sample(n, rng, sampling, progress.get());
  progress->finish();
  const double seconds = seconds_since(start);
  const Tensor x = m->to_images(r.x0);
  if (options.progressive) {
    std::vector<Tensor> columns;  // one row per sample: x_t at every recorded t, from t = T down
    for (const Tensor& state : r.recorded) columns.push_back(m->to_images(state).unsqueeze(1));
    const int64_t k = static_cast<int64_t>(columns.size());
    const Tensor rows = concat(columns, 1).reshape({n * k, m->channels(), m->resolution(), m->resolution()});
    const fs::path traj = fs::path(options.out).replace_extension("").string() + "-progressive.png";
    write_image_grid(traj.string(), rows, k, options.scale);
    std::printf("wrote the trajectory x_t (%lld states per row, t = %lld down to 0) to %s\n", static_cast<long long>(k),
                static_cast<long long>(T), traj.c_str());
  }
  write_image_grid(options.out, x, square_columns(n), options.scale);
  const std::string npz = fs::path(options.out).replace_extension(".npz").string();
  write_image_npz(npz, x);
  std::printf("wrote %lld samples to %s and %s (uint8 N x H x W x C under 'arr_0'); %lld network evaluations, %.1f s "
              "(%.2f s per sample at batch %lld)\n",
              static_cast<long long>(n), options.out.c_str(), npz.c_str(), static_cast<long long>(r.network_evaluations), seconds,
              seconds / static_cast<double>(n), static_cast<long long>(n));
  return 0;
}

// ---- evaluate --------------------------------------------------------------------------------------

static int run_d3pm_image_evaluate(const EvaluateOptions& options) {
  if (!options.rate_distortion.empty()) throw std::invalid_argument("--rate-distortion: only for DDPM checkpoints");
  const int64_t images = options.items == 0 ? 1000 : options.items;
  if (options.split != "test" && options.split != "train") throw std::invalid_argument("--split: 'test' or 'train', got '" + options.split + "'");
  auto m = load_model_for_inference<D3pmImageModel>(options.checkpoint, options.ema);
  const auto set = load_images(m->config.at("data").at("dataset").get<std::string>(), options.data_dir, options.split);
  const int64_t T = m->d3pm.timesteps();
  const Tensor x0 = diffusion::images_to_pixel_values(first_images(*set, options.split, images, "--images"));
  const int64_t batch = options.batch > 0 ? options.batch : m->config.at("train").at("batch").get<int64_t>();
  Philox unused(0);
  const auto start = std::chrono::steady_clock::now();
  const diffusion::D3pmElboResult r = evaluate_d3pm(m->x0_model(unused), m->d3pm, x0, batch, options);
  if (!ProcessGroup::world().is_root()) return 0;  // process 0 reports
  const double seconds = seconds_since(start);
  if (!options.terms_out.empty()) {
    json terms = r.to_json();
    terms["family"] = "d3pm-image";  // what `diffuse plot --terms` reads it as
    write_text_atomically(options.terms_out, terms.dump(2) + "\n");
  }
  const double to_bits = 1.0 / (static_cast<double>(m->subpixels()) * std::numbers::ln2);
  if (options.json) {
    std::cout << json{{"bits_per_dim", r.bits_per_token}, {"images", r.num_sequences}, {"method", r.method},
                      {"steps", r.method == "exact" ? r.steps : T}, {"timesteps", T}, {"kind", r.kind},
                      {"decoder", r.decoder}, {"prior_bpd", r.prior_nats * to_bits}, {"stderr", r.stderr_bits},
                      {"network_evaluations", r.network_evaluations}, {"seconds", seconds}, {"checkpoint", options.checkpoint},
                      {"split", options.split}}
                     .dump()
              << "\n";
    return 0;
  }
  const std::string how = r.method == "estimate"
                              ? "L_T + L_0 + (T - 1) L_{t-1} at one random t in 2..T per image"
                              : "every term of the bound of the " + std::to_string(r.steps) + "-step reverse process";
  std::printf("bits/dim %.4f (+- %.4f standard error) on %lld %s images, method %s (%s), %.0f s\n", r.bits_per_token,
              r.stderr_bits, static_cast<long long>(r.num_sequences), options.split.c_str(), r.method.c_str(), how.c_str(), seconds);
  std::printf("  kind %s, decoder %s, T = %lld\n  prior L_T %.6f bits/dim\n", r.kind.c_str(), r.decoder.c_str(),
              static_cast<long long>(T), r.prior_nats * to_bits);
  return 0;
}

// This family's entry in the table of model_family.cpp.
extern const ModelFamily kD3pmImageFamily = {
    .kind = "d3pm-image",
    .description = "D3PM on images (Austin et al. 2021): a U-Net x0-model over 256 values per subpixel",
    .read_config = d3pm_image_parameter_count,
    .make_training = make_d3pm_image_training,
    .network_metadata = d3pm_image_network_metadata,
    .sample = run_d3pm_image_sample,
    .sample_flags = {},
    .evaluate = run_d3pm_image_evaluate,
};

}  // namespace diffuse
