// The DDPM verbs of build/diffuse: train, sample and evaluate a U-Net eps-model on images.
#include "apps/model_family.hpp"
#include "apps/network_metadata.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "apps/training_loop.hpp"
#include "apps/ddpm_config.hpp"
#include "apps/image_data.hpp"
#include "apps/image_guidance.hpp"
#include "apps/sample_journal.hpp"
#include "apps/sharded_evaluation.hpp"
#include "apps/run_support.hpp"
#include "data/cifar10.hpp"
#include "data/idx.hpp"
#include "data/image_batches.hpp"
#include "data/image_io.hpp"
#include "diffusion/ddpm_nll.hpp"
#include "diffusion/ddim_sampler.hpp"
#include "diffusion/ddpm_sampler.hpp"
#include "diffusion/dpm_solver.hpp"
#include "diffusion/guidance.hpp"
#include "nn/checkpoint.hpp"
#include "nn/unet.hpp"
#include "tensor/autograd.hpp"
#include "tensor/ops.hpp"
#include "tensor/threads.hpp"

namespace diffuse {

namespace {
using json = nlohmann::json;
namespace fs = std::filesystem;

// The model, its arena and the diffusion, built from a resolved configuration.
struct DdpmModel {
  explicit DdpmModel(const json& config, uint64_t seed)
      : config(config), init_rng(seed, kInit), net(nn::UNetConfig::from_json(config.at("model")), init_rng), arena(net),
        diffusion(diffusion_config(config.at("diffusion"))) {}
  json config;
  Philox init_rng;
  nn::UNet net;
  nn::ParameterArena arena;
  diffusion::GaussianDiffusion diffusion;

  int64_t num_classes() const { return net.config().num_classes; }  // K > 0: class-conditional, K the null class
  // eps_theta(x_t, step), given labels int32 [B] for a class-conditional network (undefined for an unconditional one).
  diffusion::EpsModel eps_model(Philox& dropout_rng, const Tensor& labels = Tensor()) {
    return [this, &dropout_rng, labels](const Tensor& x_t, const Tensor& step) {
      return net.forward(x_t, step, dropout_rng, labels);
    };
  }
  diffusion::ConditionalEpsModel conditional_eps_model(Philox& dropout_rng) {
    return [this, &dropout_rng](const Tensor& x_t, const Tensor& step, const Tensor& labels) {
      return net.forward(x_t, step, dropout_rng, labels);
    };
  }
  Shape image_shape(int64_t n) const {
    const json& m = config.at("model");
    return {n, m.at("in_channels").get<int64_t>(), m.at("resolution").get<int64_t>(), m.at("resolution").get<int64_t>()};
  }
};

// The eps-model of a batch of images given their labels (int32 [B]; undefined for an unconditional network).
using LabelledEpsModel = std::function<diffusion::EpsModel(const Tensor& labels)>;

// bits/dim of images [N, C, H, W]: every term of the bound, or the estimate (options.estimate), in batches
// shared, journaled and seeded as sharded_evaluation.hpp says; a class-conditional network is given each image's
// label (labels int32 [N]; undefined: none), so the figure bounds -log p(x | c). What `diffuse evaluate`
// computes, and a training run's periodic evaluation.
diffusion::BpdResult ddpm_bits_per_dim(const LabelledEpsModel& model_for, const diffusion::GaussianDiffusion& diffusion,
                                       const Tensor& images, const Tensor& labels, int64_t batch, bool clip,
                                       const EvaluateOptions& options) {
  const int64_t n = images.size(0), per_batch = options.estimate ? 1 : diffusion.timesteps();
  std::unique_ptr<Progress> progress;
  const diffusion::BpdProgress counter = [&](int64_t, int64_t) { progress->advance(); };
  const diffusion::BpdResult r = evaluate_sharded<diffusion::BpdResult>(
      n, batch, options.seed,
      [&](int64_t begin, int64_t end, Philox& rng) {
        const Tensor x = images.slice(0, begin, end);
        const diffusion::EpsModel model = model_for(labels.defined() ? labels.slice(0, begin, end) : Tensor());
        return options.estimate ? diffusion::bpd_estimate(model, diffusion, x, rng, 1, 0, clip, counter)
                                : diffusion::bpd_exact(model, diffusion, x, rng, 0, clip, counter);
      },
      diffusion::merge_bpd, options.journal, evaluation_settings(options, n, batch),
      [&](int64_t mine) { progress = evaluation_progress("evaluate", mine * per_batch, options.quiet); },
      evaluation_group(options));
  progress->finish();
  return r;
}

// Samples n images with the current weights (the caller swaps the EMA in) and writes a PNG grid; a
// class-conditional network draws ceil(n / K) of each class, a row per class, unguided (w = 0).
void write_sample_grid(DdpmModel& m, int64_t n, Philox rng, const fs::path& path) {
  NoGradGuard no_grad;
  m.net.eval();
  Philox unused(0);
  const int64_t K = m.num_classes(), per_class = K > 0 ? (n + K - 1) / K : n;
  const Tensor labels = K > 0 ? class_rows(all_classes(K), per_class) : Tensor();
  const Tensor x = diffusion::sample(stoppable(m.eps_model(unused, labels)), m.diffusion,
                                     m.image_shape(K > 0 ? K * per_class : n), rng,
                                     m.config.at("diffusion").at("clip_denoised").get<bool>());
  m.net.train();
  write_image_grid(path.string(), x, K > 0 ? per_class : square_columns(n));
}

// train.p_uncond of a class-conditional run: the probability of dropping a label to the null class (Ho & Salimans
// Algorithm 1). Throws naming the key when it is missing or outside [0, 1].
double p_uncond(const json& config) {
  const json& train = config.at("train");
  if (!train.contains("p_uncond") || !train.at("p_uncond").is_number())
    throw std::invalid_argument("train.p_uncond: a class-conditional U-Net (model.num_classes > 0) needs the probability "
                                "of training without the label (0.1 in Ho & Salimans)");
  const double p = train.at("p_uncond").get<double>();
  if (!(p >= 0.0 && p <= 1.0)) {
    char got[32];
    std::snprintf(got, sizeof got, "%g", p);
    throw std::invalid_argument(std::string("train.p_uncond: must be in [0, 1], got ") + got);
  }
  return p;
}

// Checks a configuration's classes against its dataset: model.num_classes is 0 or the dataset's number of classes,
// and train.p_uncond (needed by a conditional U-Net) is in [0, 1] wherever it is given.
void check_classes(const json& config) {
  const int64_t K = nn::UNetConfig::from_json(config.at("model")).num_classes;
  if (K == 0) {
    if (config.at("train").contains("p_uncond")) p_uncond(config);
    return;
  }
  const std::string dataset = config.at("data").at("dataset").get<std::string>();
  const int64_t classes = static_cast<int64_t>(image_class_names(dataset).size());
  if (K != classes)
    throw std::invalid_argument("model.num_classes: " + std::to_string(K) + ", but " + dataset + " has " +
                                std::to_string(classes) + " classes (0: an unconditional U-Net)");
  p_uncond(config);
}
}  // namespace

// ---- train -----------------------------------------------------------------------------------------

namespace {
class DdpmTraining : public ImageTrainingTask {
 public:
  DdpmTraining(const json& config, const std::string& data_dir)
      : ImageTrainingTask(config, data_dir),
        seed_(config.at("seed").get<uint64_t>()),
        setup_(config, seed_),
        p_uncond_(setup_.num_classes() > 0 ? p_uncond(config) : 0.0),
        loss_type_(diffusion::parse_loss_type(config.at("diffusion").at("loss").get<std::string>())),
        clip_(config.at("diffusion").at("clip_denoised").get<bool>()),
        sample_count_(config.at("train").at("sample_count").get<int64_t>()),
        held_out_(held_out_image_batch(config, data_dir)) {
    check_classes(config);
  }

  nn::ParameterArena& arena() override { return setup_.arena; }
  // The batch's images, t and noise; for a class-conditional network also its labels, each dropped to the null
  // class K with probability train.p_uncond by a draw from the same stream (after the noise), so a resumed run
  // drops what an uninterrupted one does. An unconditional run draws nothing more.
  void draw_batch(int64_t b) override {
    const data::ImageBatch batch = data_.batches.next(b);
    x0_ = batch.images;
    step_ = diffusion::sample_steps(b, setup_.diffusion.timesteps(), data_.streams.diffusion);
    noise_ = randn(x0_.shape(), data_.streams.diffusion);
    if (setup_.num_classes() > 0)
      labels_ = diffusion::drop_labels(batch.labels, static_cast<int32_t>(setup_.num_classes()), p_uncond_,
                                       data_.streams.diffusion);
  }
  MicroBatchLoss accumulate_gradients(int64_t begin, int64_t end, double weight) override {
    const diffusion::EpsModel model =
        setup_.eps_model(data_.streams.dropout, labels_.defined() ? labels_.slice(0, begin, end) : Tensor());
    const Tensor loss = setup_.diffusion.training_loss(model, x0_.slice(0, begin, end), step_.slice(0, begin, end),
                                                   noise_.slice(0, begin, end), loss_type_, clip_).loss;
    (loss * weight).backward();
    return {loss.item(), {loss.item()}};
  }
  // The loss is one term: L_simple (Ho et al. eq. 14) or L_vb (eq. 5's terms as KLs).
  std::vector<std::string> loss_part_names() const override {
    return {loss_type_ == diffusion::LossType::Simple ? "L_simple" : "L_vb"};
  }
  SamplesFile write_samples(const fs::path& dir, int64_t step) override {
    const fs::path grid = dir / ("step-" + std::to_string(step) + ".png");
    fs::create_directories(dir);
    write_sample_grid(setup_, sample_count_, Philox(seed_, kSamples), grid);
    return {grid, ""};
  }
  // bits/dim of the first test images by the Monte-Carlo estimate, as `diffuse evaluate --estimate` (given their
  // labels when the network is class-conditional).
  EvaluationRecord evaluate(int64_t items) override {
    setup_.net.eval();
    Philox unused(0);
    const Tensor labels = setup_.num_classes() > 0 ? held_out_.labels.slice(0, 0, items) : Tensor();
    const diffusion::BpdResult r = ddpm_bits_per_dim(
        [&](const Tensor& y) { return stoppable(setup_.eps_model(unused, y)); }, setup_.diffusion,
        held_out_.images.slice(0, 0, items), labels, setup_.config.at("train").at("batch").get<int64_t>(), clip_,
        periodic_evaluation_options(setup_.config, "test", /*estimate=*/true));
    setup_.net.train();
    return test_images_record(r.num_images, r.total_bpd, r.total_stderr, r.method);
  }

 private:
  uint64_t seed_;
  DdpmModel setup_;  // the network, its arena and the diffusion
  double p_uncond_;  // a class-conditional run's probability of dropping a label (train.p_uncond)
  diffusion::LossType loss_type_;
  bool clip_;
  int64_t sample_count_;
  data::ImageBatch held_out_;  // the first train.eval_items test images and labels, when the run evaluates
  Tensor x0_, step_, noise_, labels_;  // the drawn batch (step_: the 0-based t - 1; labels_: conditional runs)
};
}  // namespace

static std::optional<int64_t> ddpm_read_config(const json& config) {
  check_classes(config);
  Philox rng(0);
  return nn::UNet(nn::UNetConfig::from_json(config.at("model")), rng).parameter_count();
}

static std::unique_ptr<TrainingTask> make_ddpm_training(json& config, const std::string& data_dir) {
  return std::make_unique<DdpmTraining>(config, data_dir);
}

// ---- sample ----------------------------------------------------------------------------------------

namespace {
// The sampler of `sample --sampler`: Ho et al.'s ancestral Algorithm 2 (all T steps), DDIM or DPM-Solver++(2M) in
// --steps network evaluations (docs/math.md §2.9, §8). Every one clips x0_hat as the checkpoint's
// diffusion.clip_denoised says.
struct DdpmSampler {
  std::string name;  // "ancestral", "ddim", "dpm-solver"
  diffusion::DdimOptions ddim;
  diffusion::DpmSolverOptions dpm;
  int64_t evaluations = 0;  // network evaluations per image
  std::string summary;      // for the summary line
};

DdpmSampler ddpm_sampler(const SampleOptions& request, const diffusion::GaussianDiffusion& diffusion, bool clip) {
  DdpmSampler s;
  s.name = request.sampler.empty() ? "ancestral" : request.sampler;
  const int64_t T = diffusion.timesteps();
  if (s.name != "ddim" && request.eta_given) throw std::invalid_argument("--eta: only for --sampler ddim");
  if (s.name == "ancestral") {
    if (request.steps != 0)
      throw std::invalid_argument("--steps: the ancestral sampler takes all T = " + std::to_string(T) +
                                  " steps (Algorithm 2); --sampler ddim or dpm-solver take fewer");
    if (!request.grid.empty()) throw std::invalid_argument("--grid: only for --sampler ddim or dpm-solver");
    s.evaluations = T;
    s.summary = "sampler ancestral (Ho et al. Algorithm 2), " + std::to_string(T) + " steps, variance " +
                diffusion::variance_type_name(diffusion.variance_type());
  } else if (s.name == "ddim") {
    s.ddim.eta = request.eta;
    diffusion::ddim_coefficients(0.5, 1.0, s.ddim.eta);  // refuses eta outside [0, 1], naming --eta
    s.ddim.steps = request.steps != 0 ? request.steps : std::min<int64_t>(50, T);
    s.ddim.spacing = diffusion::parse_ddim_spacing(request.grid.empty() ? "uniform" : request.grid);
    s.ddim.clip_x0 = clip;
    diffusion::ddim_timesteps(T, s.ddim.steps, s.ddim.spacing);  // refuses K > T, naming --steps
    s.evaluations = s.ddim.steps;
    char eta[32];
    std::snprintf(eta, sizeof eta, "%g", s.ddim.eta);
    s.summary = "sampler ddim (Song et al. 2021), " + std::to_string(s.ddim.steps) + " of T = " + std::to_string(T) +
                " steps (" + diffusion::ddim_spacing_name(s.ddim.spacing) + "), eta " + eta;
  } else if (s.name == "dpm-solver") {
    s.dpm.steps = request.steps != 0 ? request.steps : std::min<int64_t>(20, T - 1);
    s.dpm.spacing = diffusion::parse_dpm_spacing(request.grid.empty() ? "logsnr" : request.grid);
    s.dpm.clip_x0 = clip;
    diffusion::dpm_solver_times(diffusion.schedule(), s.dpm.steps, s.dpm.spacing);  // refuses K > T - 1, naming --steps
    s.evaluations = s.dpm.steps;
    s.summary = "sampler dpm-solver (DPM-Solver++(2M), Lu et al. 2022), " + std::to_string(s.dpm.steps) + " of T = " +
                std::to_string(T) + " steps (" + diffusion::dpm_spacing_name(s.dpm.spacing) +
                "), eta 0 (the ODE), output x at t = 1";
  } else {
    throw std::invalid_argument("--sampler: ancestral, ddim or dpm-solver, got '" + s.name + "'");
  }
  s.summary += clip ? ", x0_hat clipped to [-1, 1]" : ", x0_hat not clipped";
  return s;
}

// What `sample` draws and the eps-model the sampler asks. A class-conditional checkpoint draws --per-class images
// (default 8) of each --class (default: every class), a grid row per class, guided by classifier-free guidance at
// --guidance-scale w (Ho & Salimans eq. 6; 0, the default, is the conditional model alone); an unconditional one
// draws --n images (default 64) in a square grid and refuses the class flags, naming what it lacks.
struct DdpmConditioning {
  int64_t n = 0;        // images
  int64_t columns = 0;  // of the PNG grid
  Tensor labels;        // int32 [n], the classes asked for; undefined when none are
  bool conditional = false;  // the U-Net takes the labels (else only classifier guidance does)
  double guidance_scale = 0.0;
  std::string summary;  // for the summary line: "", or the classes and the guidance
};

DdpmConditioning ddpm_conditioning(const SampleOptions& request, const DdpmModel& m) {
  DdpmConditioning c;
  const bool classifier_guided = !request.classifier.empty();  // the classes may then be the classifier's alone
  const std::string dataset = m.config.at("data").at("dataset").get<std::string>();
  const int64_t K = m.num_classes() > 0 || !classifier_guided ? m.num_classes() : static_cast<int64_t>(image_class_names(dataset).size());
  if (K == 0) {
    const std::string none = ": this checkpoint's U-Net has no classes (model.num_classes = 0)";
    if (!request.classes.empty()) throw std::invalid_argument("--class" + none + "; with --classifier, classifier guidance asks for classes");
    if (request.guidance_scale_given) throw std::invalid_argument("--guidance-scale" + none);
    if (request.per_class != 0) throw std::invalid_argument("--per-class" + none);
    c.n = request.n != 0 ? request.n : 64;
    c.columns = square_columns(c.n);
    return c;
  }
  const bool conditional = m.num_classes() > 0;  // else the classes are classifier guidance's alone
  if (!conditional && request.guidance_scale_given)
    throw std::invalid_argument("--guidance-scale: this checkpoint's U-Net has no classes (model.num_classes = 0): classifier-free "
                                "guidance needs a class-conditional one");
  if (request.n != 0)
    throw std::invalid_argument("--n: " +
                                (conditional ? "this checkpoint is class-conditional (" + std::to_string(K) + " classes)"
                                             : std::string("classifier guidance asks for classes")) +
                                ": it draws --per-class images of each --class, a grid row per class");
  char w[32];
  std::snprintf(w, sizeof w, "%g", request.guidance_scale);
  if (!(request.guidance_scale >= 0.0) || !std::isfinite(request.guidance_scale))
    throw std::invalid_argument(std::string("--guidance-scale: w must be finite and >= 0 (0: the conditional model alone), got ") + w);
  const std::vector<std::string> names = image_class_names(dataset);
  const std::vector<int32_t> classes = request.classes.empty() ? all_classes(K) : parse_classes(request.classes, K, names, "--class");
  const int64_t per_class = request.per_class != 0 ? request.per_class : 8;
  c.labels = class_rows(classes, per_class);
  c.n = c.labels.size(0);
  c.columns = per_class;
  c.conditional = conditional;
  c.guidance_scale = request.guidance_scale;
  std::string which;
  const bool named = static_cast<int64_t>(names.size()) == K;
  for (const int32_t id : classes)
    which += (which.empty() ? "" : ", ") + std::to_string(id) + (named ? " " + names[static_cast<size_t>(id)] : "");
  c.summary = "; " + std::to_string(per_class) + " of each class (" + which + "), a row each";
  if (conditional)
    c.summary += c.guidance_scale == 0.0 ? std::string("; no classifier-free guidance (w = 0, the conditional model)")
                                         : std::string("; classifier-free guidance w = ") + w + " (Ho & Salimans eq. 6)";
  return c;
}

// The eps-model the sampler asks: the network itself, or for a class-conditional one eq. 6's mix of the labels'
// and the null class's predictions (one pass at w = 0).
diffusion::EpsModel ddpm_sampling_eps(DdpmModel& m, const DdpmConditioning& c, Philox& dropout_rng) {
  if (!c.conditional) return m.eps_model(dropout_rng);
  return diffusion::classifier_free_eps(m.conditional_eps_model(dropout_rng), c.labels, static_cast<int32_t>(m.num_classes()),
                                        c.guidance_scale);
}

// What a chunk's images depend on, for the journal (apps/sample_journal.hpp).
json sample_settings(const SampleOptions& r) {
  return {{"checkpoint", fs::absolute(r.checkpoint).lexically_normal().string()}, {"ema", r.ema}, {"sampler", r.sampler},
          {"steps", r.steps}, {"eta", r.eta}, {"grid", r.grid}, {"classes", r.classes}, {"per_class", r.per_class},
          {"guidance_scale", r.guidance_scale}, {"classifier", r.classifier}, {"classifier_scale", r.classifier_scale},
          {"seed", r.seed}};
}
}  // namespace

static int run_ddpm_sample(const SampleOptions& options) {
  SampleOptions request = options;  // with the DDPM defaults filled in
  const bool fast = !request.sampler.empty() && request.sampler != "ancestral";
  if (request.every == 0) request.every = fast ? 1 : 100;
  if (request.n < 0) throw std::invalid_argument("--n: must be at least 1");
  if (request.out.empty()) throw std::invalid_argument("--out: an output PNG file is required for images");
  if (request.argmax) throw std::invalid_argument("--argmax: only for D3PM checkpoints");
  if (request.progressive && (request.batch > 0 || !request.journal.empty()))
    throw std::invalid_argument("--progressive: draws every image in one batch; drop --batch and --journal");
  auto m = load_model_for_inference<DdpmModel>(request.checkpoint, request.ema);
  const bool clip = m->config.at("diffusion").at("clip_denoised").get<bool>();
  const DdpmConditioning conditioning = ddpm_conditioning(request, *m);
  request.n = conditioning.n;
  const SampleChunks chunks(request.n, request.batch, conditioning.labels, request.journal, sample_settings(request));
  const DdpmSampler sampler = ddpm_sampler(request, m->diffusion, clip);
  if (request.progressive && (request.every < 1 || request.every > sampler.evaluations))
    throw std::invalid_argument("--every: must be in 1.." + std::to_string(sampler.evaluations));
  const auto classifier = sample_classifier(request, conditioning.labels);
  const auto guidance_for = [&](const Tensor& labels) -> std::optional<ClassifierGuidance> {
    if (!classifier) return std::nullopt;
    return classifier_guidance(classifier, request.classifier, m->config, m->diffusion, labels, request.classifier_scale);
  };
  const std::optional<ClassifierGuidance> guidance = guidance_for(conditioning.labels);
  NoGradGuard no_grad;
  std::printf("sampling %lld images: %s%s%s\n", static_cast<long long>(request.n), sampler.summary.c_str(),
              (conditioning.summary + (guidance ? "; " + guidance->summary : std::string())).c_str(),
              chunks.summary().c_str());
  const auto counter = evaluation_progress("sample", sampler.evaluations * chunks.to_draw(), request.quiet);
  // x0_hat at every evaluation whose count from the last is a multiple of --every (the last always), when
  // --progressive; the ancestral sampler keeps sample_progressive's steps (ddpm_sampler.hpp).
  std::vector<Tensor> x0_hats;
  int64_t evaluation = 0;
  const diffusion::StepCallback on_step = [&](int64_t, const Tensor& x0_hat) {
    counter->advance();
    const int64_t from_last = sampler.evaluations - 1 - evaluation++;
    if (request.progressive && fast && from_last % request.every == 0) x0_hats.push_back(x0_hat.contiguous());
  };
  const SampleChunks::Drawn drawn = chunks.run(request.seed, [&](SampleChunks::Chunk& chunk) {
    // The chunk's own labels, guidance and stream: its images depend on its index alone.
    DdpmConditioning c = conditioning;
    c.labels = chunk.labels;
    const std::optional<ClassifierGuidance> g = chunks.count() == 1 ? guidance : guidance_for(c.labels);
    DdpmSampler s = sampler;
    if (g) s.ddim.guidance = s.dpm.guidance = g->eps;
    const diffusion::MeanGuidance mean_guidance = g ? g->mean : diffusion::MeanGuidance();
    const Shape shape = m->image_shape(chunk.n);
    Philox unused(0);
    const diffusion::EpsModel model = ddpm_sampling_eps(*m, c, unused);
    evaluation = 0;
    if (s.name == "ddim") return diffusion::ddim_sample(model, m->diffusion, shape, s.ddim, chunk.rng, DType::F32, on_step);
    if (s.name == "dpm-solver") return diffusion::dpm_solver_sample(model, m->diffusion, shape, s.dpm, chunk.rng, DType::F32, on_step);
    if (request.progressive) {
      const auto p = diffusion::sample_progressive(model, m->diffusion, shape, chunk.rng, request.every, clip, DType::F32, on_step, mean_guidance);
      for (const auto& r : p.x0_hats) x0_hats.push_back(r.x0_hat);
      return p.x0;
    }
    return diffusion::sample(model, m->diffusion, shape, chunk.rng, clip, DType::F32, on_step, mean_guidance);
  });
  const Tensor& x = drawn.images;
  if (request.progressive) {
    // One row per sample: its x0_hat at every recorded step, from t = T down.
    std::vector<Tensor> columns;
    for (const Tensor& r : x0_hats) columns.push_back(r.unsqueeze(1));
    const Tensor rows = concat(columns, 1);  // [N, steps, C, H, W]
    const int64_t k = static_cast<int64_t>(columns.size());
    const fs::path traj = fs::path(request.out).replace_extension("").string() + "-progressive.png";
    write_image_grid(traj.string(), rows.reshape({request.n * k, x.size(1), x.size(2), x.size(3)}), k, request.scale);
    std::printf("wrote the x0_hat trajectory (%lld steps per row) to %s\n", static_cast<long long>(k), traj.c_str());
  }
  write_image_grid(request.out, x, conditioning.columns, request.scale);
  const std::string npz = fs::path(request.out).replace_extension(".npz").string();
  write_image_npz(npz, x, conditioning.labels);
  std::printf("wrote %lld samples to %s and %s (uint8 N x H x W x C under 'arr_0'%s); sampling %lld of them took %.2f s, %.3f s per image\n",
              static_cast<long long>(request.n), request.out.c_str(), npz.c_str(),
              conditioning.labels.defined() ? ", their classes as int64 [N] under 'labels'" : "", static_cast<long long>(drawn.drawn),
              drawn.seconds, drawn.drawn > 0 ? drawn.seconds / static_cast<double>(drawn.drawn) : 0.0);
  return 0;
}

// ---- evaluate --------------------------------------------------------------------------------------

static int run_ddpm_evaluate(const EvaluateOptions& options) {
  EvaluateOptions request = options;  // with the DDPM defaults filled in
  if (request.items == 0) request.items = 1000;
  if (request.items < 1) throw std::invalid_argument("--images: must be at least 1");
  if (request.steps != 0) throw std::invalid_argument("--steps: only for D3PM checkpoints");
  if (!request.rate_distortion.empty() && request.estimate)
    throw std::invalid_argument("--rate-distortion: needs every term of the bound; drop --estimate");
  if (request.split != "test" && request.split != "train") throw std::invalid_argument("--split: 'test' or 'train', got '" + request.split + "'");
  auto m = load_model_for_inference<DdpmModel>(request.checkpoint, request.ema);
  const auto set = load_images(m->config.at("data").at("dataset").get<std::string>(), request.data_dir, request.split);
  const data::ImageBatch images = first_image_batch(*set, request.split, request.items, "--images");
  const bool conditional = m->num_classes() > 0;  // then each image is given its label: -log p(x | c)
  const int64_t batch = request.batch > 0 ? request.batch : m->config.at("train").at("batch").get<int64_t>();
  Philox unused(0);
  const bool clip = m->config.at("diffusion").at("clip_denoised").get<bool>();
  const diffusion::BpdResult r = ddpm_bits_per_dim([&](const Tensor& y) { return m->eps_model(unused, y); }, m->diffusion,
                                                   images.images, conditional ? images.labels : Tensor(), batch, clip, request);
  if (!ProcessGroup::world().is_root()) return 0;  // process 0 reports
  if (!request.terms_out.empty()) {
    json terms = r.to_json();
    terms["family"] = "ddpm";  // what `diffuse plot --terms` reads it as
    write_text_atomically(request.terms_out, terms.dump(2) + "\n");
  }
  if (!request.rate_distortion.empty()) {
    json rd = diffusion::progressive_rate_distortion(r).to_json();
    rd["family"] = "ddpm";
    write_text_atomically(request.rate_distortion, rd.dump(2) + "\n");
  }
  if (request.json) {
    std::cout << json{{"bits_per_dim", r.total_bpd}, {"images", r.num_images}, {"method", r.method},
                      {"prior_bpd", r.prior_bpd}, {"stderr", r.total_stderr}, {"timesteps", r.timesteps},
                      {"checkpoint", request.checkpoint}, {"split", request.split}, {"given_labels", conditional}}
                     .dump()
              << "\n";
  } else {
    std::printf("bits/dim %.4f (+- %.4f standard error) on %lld %s images, method %s (%s)%s\n", r.total_bpd, r.total_stderr,
                static_cast<long long>(r.num_images), request.split.c_str(), r.method.c_str(),
                r.method == "exact" ? "every term L_T, L_{T-1}, ..., L_0 of the bound"
                                    : "L_T + L_0 + (T - 1) L_{t-1} at one random t in 2..T per image",
                conditional ? ", each image given its class: the bound on -log p(x | c)" : "");
    std::printf("  prior L_T %.6f bits/dim\n", r.prior_bpd);
    if (!r.terms_bpd.empty()) {
      double decoder = r.terms_bpd[0], kl = 0;
      for (size_t i = 1; i < r.terms_bpd.size(); ++i) kl += r.terms_bpd[i];
      std::printf("  sum of L_{t-1}, t = 2..T: %.4f bits/dim\n  decoder L_0: %.4f bits/dim\n", kl, decoder);
    }
  }
  return 0;
}

// This family's entry in the table of model_family.cpp.
extern const ModelFamily kDdpmFamily = {
    .kind = "ddpm",
    .description = "DDPM on images (Ho et al. 2020): a U-Net eps-model",
    .read_config = ddpm_read_config,
    .make_training = make_ddpm_training,
    .network_metadata = ddpm_network_metadata,
    .sample = run_ddpm_sample,
    .sample_flags = {"--sampler", "--eta", "--grid", "--class", "--per-class", "--guidance-scale", "--classifier", "--classifier-scale",
                     "--batch", "--journal"},
    .evaluate = run_ddpm_evaluate,
};

}  // namespace diffuse
