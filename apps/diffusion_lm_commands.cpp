// The Diffusion-LM verbs of build/diffuse (Li et al. 2022; docs/math.md §7): train a learned word embedding
// and a transformer that predicts x0 from noisy embeddings with L_e2e_simple on the corpus's rows (verses of
// words, or text8 characters: apps/text_corpus.hpp), sample by the reverse process with clamping, step
// skipping and rounding (with infilling templates, length control, and classifier-guided control of the
// content or the kind of book), and bound the negative log-likelihood in bits per token (bits/char).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <numbers>
#include <optional>

#include "apps/diffusion_lm_model.hpp"
#include "apps/model_family.hpp"
#include "apps/network_metadata.hpp"
#include "apps/progress.hpp"
#include "apps/run_support.hpp"
#include "apps/text_control.hpp"
#include "apps/text_support.hpp"
#include "diffusion/embedding_diffusion.hpp"
#include "diffusion/gaussian_diffusion.hpp"
#include "diffusion/guidance.hpp"
#include "tensor/autograd.hpp"
#include "tensor/ops.hpp"

namespace diffuse {

namespace {
using json = nlohmann::json;
namespace fs = std::filesystem;

// One step per row, stratified over the batch: step_i = floor(((u + i/B) mod 1) T), u ~ U(0, 1), so each is
// uniform on 0..T-1 and the batch covers the chain evenly.
Tensor stratified_steps(int64_t batch, int64_t timesteps, Philox& rng) {
  const double u = rng.uniform();
  std::vector<int32_t> steps(static_cast<size_t>(batch));
  for (int64_t i = 0; i < batch; ++i) {
    const double v = std::fmod(u + static_cast<double>(i) / static_cast<double>(batch), 1.0);
    steps[static_cast<size_t>(i)] = static_cast<int32_t>(std::min<int64_t>(static_cast<int64_t>(v * static_cast<double>(timesteps)), timesteps - 1));
  }
  return Tensor::from_vector(steps, {batch});
}

// Each item's bits per unit by the bound of docs/math.md §7.5: with `estimate`, L_T + T L_{t-1} at one t per
// item (stratified within the batch: what a training run's periodic evaluation computes); otherwise every
// term, L_T + sum_{t=1}^T L_{t-1}, each at its own draw of x_t from one x0 per item (T network evaluations per
// batch). What `diffuse evaluate` computes. A conditional corpus's given positions are clean (partial
// noising) and not counted: the bound of the target given the source (docs/math.md §9.1).
ChunkBits diffusion_lm_bits(const DiffusionLmModel& m, const diffusion::EmbeddingX0Model& model, const TextItems& items,
                            int64_t batch, const EvaluateOptions& options) {
  const int64_t T = m.diffusion.timesteps(), L = items.rows.size(1), d = m.dim();
  const bool estimate = options.estimate;
  return evaluate_chunk_bits(items, batch, options, estimate ? 1 : T, [&](const Tensor& w, const Tensor& given, Philox& rng) {
    NoGradGuard no_grad;
    const int64_t B = w.size(0);
    const Tensor noise0 = randn({B, L, d}, rng);
    Tensor nats;
    if (estimate) {
      const diffusion::EmbeddingBoundTerms terms =
          m.diffusion.bound_terms(model, m.net.embedding(), w, stratified_steps(B, T, rng), noise0, randn({B, L, d}, rng), given);
      nats = terms.prior + terms.term * static_cast<double>(T);
    } else {
      for (int64_t s = 0; s < T; ++s) {
        const diffusion::EmbeddingBoundTerms terms =
            m.diffusion.bound_terms(model, m.net.embedding(), w, diffusion::step_tensor(B, s), noise0, randn({B, L, d}, rng), given);
        nats = s == 0 ? terms.prior + terms.term : nats + terms.term;
      }
    }
    nats = nats.to(DType::F64).contiguous();
    return std::vector<double>(nats.data<double>(), nats.data<double>() + B);
  });
}

// The mean Euclidean distance between two rows of EMB, over all pairs of the vocabulary's rows: a collapsed
// embedding would score near 0 (docs/math.md §7.2).
double mean_pairwise_distance(const Tensor& embedding) {
  const Tensor e = embedding.to(DType::F64).contiguous();
  const int64_t V = e.size(0), d = e.size(1);
  const double* p = e.data<double>();
  double total = 0;
  for (int64_t a = 0; a < V; ++a)
    for (int64_t b = a + 1; b < V; ++b) {
      double s = 0;
      for (int64_t k = 0; k < d; ++k) s += (p[a * d + k] - p[b * d + k]) * (p[a * d + k] - p[b * d + k]);
      total += std::sqrt(s);
    }
  return total / (static_cast<double>(V) * static_cast<double>(V - 1) / 2.0);
}

class DiffusionLmTraining : public TextTrainingTask {
 public:
  DiffusionLmTraining(const json& config, std::shared_ptr<const TextCorpus> corpus)
      : TextTrainingTask(config, std::move(corpus)),
        setup_(config, seed_),
        model_(setup_.x0_model(streams_.dropout)),
        sample_steps_(config.at("train").at("sample_steps").get<int64_t>()) {
    setup_.net.train();
  }

  nn::ParameterArena& arena() override { return setup_.arena; }
  // A conditional corpus's given positions (a pair's source) are clean at every t and outside the loss:
  // DiffuSeq's partial noising (docs/math.md §9.1).
  void draw_batch(int64_t b) override {
    const TextRows batch = rows_->next(b);
    w_ = batch.rows;
    clean_ = batch.given;
    step_ = diffusion::sample_steps(b, setup_.diffusion.timesteps(), streams_.diffusion);
    noise0_ = randn({b, length_, setup_.dim()}, streams_.diffusion);
    noise_ = randn({b, length_, setup_.dim()}, streams_.diffusion);
  }
  MicroBatchLoss accumulate_gradients(int64_t begin, int64_t end, double weight) override {
    const diffusion::EmbeddingLoss l =
        setup_.diffusion.training_loss(model_, setup_.net.embedding(), w_.slice(0, begin, end), step_.slice(0, begin, end),
                                       noise0_.slice(0, begin, end), noise_.slice(0, begin, end),
                                       clean_.defined() ? clean_.slice(0, begin, end) : Tensor());
    (l.loss * weight).backward();
    return {l.loss.item(), {mean(l.mse).item(), mean(l.prior).item(), mean(l.rounding).item()}};
  }
  // The three parts of L_e2e_simple (docs/math.md §7.2): the squared error of the x0 prediction (against
  // EMB(w) at t = 1), the prior's mean term, and the rounding cross-entropy in nats per position.
  std::vector<std::string> loss_part_names() const override { return {"L_x0", "L_T", "rounding"}; }
  SamplesFile write_samples(const fs::path& dir, int64_t step) override {
    setup_.net.eval();
    Philox rng(seed_, kSamples), unused(0);
    diffusion::EmbeddingSampleOptions options;
    options.steps = std::min(sample_steps_, setup_.diffusion.timesteps());
    options.given = sample_given();
    const int64_t n = options.given.defined() ? options.given.size(0) : sample_count_;
    const diffusion::EmbeddingSampleResult r =
        setup_.diffusion.sample(setup_.x0_model(unused), setup_.net.embedding(), n, length_, rng, options);
    setup_.net.train();
    return write_training_text_samples(dir, step, r.words, *vocabulary_);
  }
  EvaluationRecord evaluate(int64_t items) override {
    setup_.net.eval();
    Philox unused(0);
    const ChunkBits r = diffusion_lm_bits(setup_, stoppable(setup_.x0_model(unused)), held_out_.first(items),
                                          setup_.config.at("train").at("batch").get<int64_t>(),
                                          periodic_evaluation_options(setup_.config, "valid", /*estimate=*/true));
    setup_.net.train();
    return held_out_record(*vocabulary_, held_out_.noun, r.chunks, r.mean(), r.standard_error(), "estimate");
  }

 private:
  DiffusionLmModel setup_;
  diffusion::EmbeddingX0Model model_;
  int64_t sample_steps_;
  Tensor w_, clean_, step_, noise0_, noise_;  // the drawn batch
};

}  // namespace

static std::optional<int64_t> diffusion_lm_parameter_count(const json& config) {
  diffusion_lm_process(config);
  Philox rng(0);
  if (!text_states_known(config, kEmbeddingRowStates)) {
    nn::EmbeddingTransformer(diffusion_lm_network_config(with_placeholder_states(config, kEmbeddingRowStates)), rng);
    return std::nullopt;
  }
  return nn::EmbeddingTransformer(diffusion_lm_network_config(config), rng).parameter_count();
}

static std::unique_ptr<TrainingTask> make_diffusion_lm_training(json& config, const std::string& data_path) {
  const auto corpus = load_text_corpus(data_path, config, "the run's configuration (preset " + config.at("preset").get<std::string>() + ")",
                                       kEmbeddingRowStates);
  record_text_corpus(config, *corpus, kEmbeddingRowStates);
  return std::make_unique<DiffusionLmTraining>(config, corpus);
}

static int run_diffusion_lm_sample(const SampleOptions& options) {
  const int64_t n = options.n == 0 ? 4 : options.n;
  auto m = load_model_for_inference<DiffusionLmModel>(options.checkpoint, options.ema);
  require_source_template(*m->vocabulary, options.template_text);
  const int64_t T = m->diffusion.timesteps(), L = m->seq_len();
  diffusion::EmbeddingSampleOptions sampling;
  sampling.steps = options.steps > 0 ? options.steps : std::min<int64_t>(T, 200);
  const TextControl control = text_control(options, *m->vocabulary, L, *m, n);
  sampling.given = control.given;
  if (control.classifier) {
    sampling.guide = [&](const Tensor& mean, double variance, int64_t k, int64_t s) {
      return diffusion::guide_mean(control.guidance, control.log_prob, mean, variance, k, s);
    };
  }
  const auto progress = evaluation_progress("sample", sampling.steps, options.quiet);
  sampling.on_step = [&progress] { progress->advance(); };
  Philox rng(options.seed, kSamples), unused(0);
  const auto start = std::chrono::steady_clock::now();
  const diffusion::EmbeddingSampleResult r =
      m->diffusion.sample(stoppable(m->x0_model(unused)), m->net.embedding(), n, L, rng, sampling);
  const double seconds = seconds_since(start);
  progress->finish();
  const std::vector<std::string> texts = m->vocabulary->decode_rows(r.words);
  for (size_t i = 0; i < texts.size(); ++i) std::printf("[%zu] %s\n", i, texts[i].c_str());
  std::printf("%lld samples of %lld %s, %lld of T = %lld steps with clamping%s: %.2f s (%.3f s per sample, batch %lld)\n",
              static_cast<long long>(n), static_cast<long long>(L), m->vocabulary->units().c_str(),
              static_cast<long long>(sampling.steps), static_cast<long long>(T), control.summary.c_str(), seconds,
              seconds / static_cast<double>(n), static_cast<long long>(n));
  if (!options.out.empty()) {
    write_text_samples(options.out, texts, *m->vocabulary, options.checkpoint, "diffusion-lm", seconds / static_cast<double>(n),
                       sampling.steps);
    std::printf("wrote %s\n", options.out.c_str());
  }
  return 0;
}

static int run_diffusion_lm_evaluate(const EvaluateOptions& options) {
  if (!options.rate_distortion.empty()) throw std::invalid_argument("--rate-distortion: only for DDPM checkpoints");
  if (options.steps != 0) throw std::invalid_argument("--steps: Diffusion-LM's bound counts every one of its T steps");
  auto m = load_model_for_inference<DiffusionLmModel>(options.checkpoint, options.ema);
  const auto corpus = load_text_corpus(options.data_dir, m->config, options.checkpoint, kEmbeddingRowStates);
  const int64_t L = m->seq_len();
  const TextItems items = evaluation_items(*corpus, options.split, options.items, L, options.skip_long);
  const int64_t batch = options.batch > 0 ? options.batch : m->config.at("train").at("batch").get<int64_t>();
  const TextVocabulary& v = *m->vocabulary;
  Philox unused(0);
  const auto start = std::chrono::steady_clock::now();
  const ChunkBits r = diffusion_lm_bits(*m, stoppable(m->x0_model(unused)), items, batch, options);
  if (!ProcessGroup::world().is_root()) return 0;
  const double seconds = seconds_since(start);
  const double spread = mean_pairwise_distance(m->net.embedding());
  const std::string method = options.estimate ? "estimate" : "exact";
  if (options.json) {
    std::cout << json{{v.figure(), r.mean()}, {"stderr", r.standard_error()}, {items.noun, r.chunks}, {"method", method},
                      {"timesteps", m->diffusion.timesteps()}, {"embedding_mean_pairwise_distance", spread},
                      {"network_evaluations", r.network_evaluations}, {"seconds", seconds}, {"checkpoint", options.checkpoint},
                      {"split", options.split}, {"chunk_length", L}}
                     .dump()
              << "\n";
    return 0;
  }
  std::printf("bits/%s <= %.4f (+- %.4f standard error over items) on %lld %s %s, the bound L_T + sum L_t-1 + L_0 (rounding "
              "included), %s, batch %lld, %.0f s\n",
              v.unit().c_str(), r.mean(), r.standard_error(), static_cast<long long>(r.chunks), options.split.c_str(),
              items.noun.c_str(),
              options.estimate ? "estimated at one t per item (stratified within each batch)" : ("every one of its " + std::to_string(m->diffusion.timesteps()) + " terms").c_str(),
              static_cast<long long>(batch), seconds);
  std::printf("  the embedding: %lld words x d = %lld, mean pairwise distance %.4f\n", static_cast<long long>(v.size()),
              static_cast<long long>(m->dim()), spread);
  return 0;
}

// `evaluate --task pairs` (DiffuSeq): the target given the source by --steps evenly spaced steps of the T
// (default min(T, 200)) with clamping, the source held at EMB(x) at every step, then rounding.
static TargetGenerator diffusion_lm_target_generator(const EvaluateOptions& options) {
  if (!options.decoder.empty()) throw std::invalid_argument("--decoder: masked-text's; Diffusion-LM decodes by its reverse process");
  if (options.temperature != 0) throw std::invalid_argument("--temperature: the autoregressive model's (ar-text)");
  std::shared_ptr<const DiffusionLmModel> m = load_model_for_inference<DiffusionLmModel>(options.checkpoint, options.ema);
  TargetGenerator g;
  g.config = m->config;
  g.states = kEmbeddingRowStates;
  const int64_t T = m->diffusion.timesteps(), L = m->seq_len();
  diffusion::EmbeddingSampleOptions sampling;
  sampling.steps = g.steps = options.steps > 0 ? options.steps : std::min<int64_t>(T, 200);
  g.decoding = std::to_string(sampling.steps) + " of T = " + std::to_string(T) + " steps with clamping";
  g.generate = [m, sampling, L](const Tensor& given, Philox& rng, int64_t* evaluations) {
    diffusion::EmbeddingSampleOptions o = sampling;
    o.given = given;
    Philox unused(0);
    const diffusion::EmbeddingSampleResult r =
        m->diffusion.sample(stoppable(m->x0_model(unused)), m->net.embedding(), given.size(0), L, rng, o);
    *evaluations += r.network_evaluations * given.size(0);
    return r.words;
  };
  return g;
}

// This family's entry in the table of model_family.cpp.
extern const ModelFamily kDiffusionLmFamily = {
    .kind = "diffusion-lm",
    .description = "Diffusion-LM: Gaussian diffusion on learned word embeddings with rounding (Li et al. 2022), classifier-guided control",
    .read_config = diffusion_lm_parameter_count,
    .make_training = make_diffusion_lm_training,
    .network_metadata = diffusion_lm_network_metadata,
    .sample = run_diffusion_lm_sample,
    .sample_flags = {"--template", "--control", "--classifier", "--guidance-updates", "--guidance-step-size", "--fluency",
                     "--guidance-skip-last"},
    .evaluate = run_diffusion_lm_evaluate,
    .target_generator = diffusion_lm_target_generator,
};

}  // namespace diffuse
