// The D3PM text verbs of build/diffuse (Austin et al. 2021, text8): train a transformer x0-model on random
// 256-character windows, sample text (with step skipping and the denoising trajectory), and evaluate the
// bound in bits/char on the canonical chunks of a split. Characters only: a verse file of words is refused
// (kWordsRefused says why).
#include "apps/model_family.hpp"
#include "apps/network_metadata.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numbers>

#include "apps/d3pm_choices.hpp"
#include "apps/d3pm_config.hpp"
#include "apps/run_support.hpp"
#include "apps/text_support.hpp"
#include "apps/process_group.hpp"
#include "data/text8.hpp"
#include "diffusion/d3pm_elbo.hpp"
#include "diffusion/d3pm_sampler.hpp"
#include "nn/transformer.hpp"
#include "tensor/autograd.hpp"
#include "tensor/ops.hpp"

namespace diffuse {

namespace {
using json = nlohmann::json;
namespace fs = std::filesystem;

const std::string kWordsRefused =
    "d3pm-text reads characters only: its transition matrices are K x K at every t, infeasible for a word vocabulary of "
    "K ~ 6,000 tokens. masked-text is the word-level absorbing model (presets mdlm-bible-small, mdlm-bible-demo)";

// Throws unless the configuration is for characters (data.dataset "text8", or absent in older runs).
void require_characters(const json& config) {
  const std::string dataset = config.contains("data") ? config.at("data").value("dataset", "text8") : "text8";
  if (dataset != "text8") throw std::invalid_argument("data.dataset: '" + dataset + "': " + kWordsRefused);
}

// The transformer, its arena and the discrete diffusion, built from a resolved configuration.
struct D3pmTextModel {
  D3pmTextModel(const json& config, uint64_t seed)
      : config(config), init_rng(seed, kInit), net(nn::TransformerConfig::from_json(config.at("model")), init_rng),
        arena(net), d3pm(d3pm_config_from_json(config.at("diffusion"), d3pm_text_states())) {}
  json config;
  Philox init_rng;
  nn::Transformer net;
  nn::ParameterArena arena;
  diffusion::D3pm d3pm;

  diffusion::X0Model x0_model(Philox& dropout_rng) const {
    return [this, &dropout_rng](const Tensor& x_t, const Tensor& step) { return net.forward(x_t, step, dropout_rng); };
  }
  int64_t seq_len() const { return net.config().seq_len; }
};

// Samples with the given options (the caller has put the weights it wants in place).
// progress (may be null) advances once per network evaluation.
diffusion::D3pmSampleResult sample_text(const D3pmTextModel& m, int64_t n, Philox& rng, const diffusion::D3pmSampleOptions& options,
                                        Progress* progress = nullptr) {
  NoGradGuard no_grad;
  Philox unused(0);
  return diffusion::d3pm_sample(with_progress(stoppable(m.x0_model(unused)), progress), m.d3pm, n, m.seq_len(), rng, options);
}

class D3pmTextTraining : public TextTrainingTask {
 public:
  D3pmTextTraining(const json& config, std::shared_ptr<const TextCorpus> corpus)
      : TextTrainingTask(config, std::move(corpus)),
        setup_(config, seed_),
        model_(setup_.x0_model(streams_.dropout)),
        sample_steps_(config.at("train").at("sample_steps").get<int64_t>()) {
    setup_.net.train();
  }

  nn::ParameterArena& arena() override { return setup_.arena; }
  void draw_batch(int64_t b) override {
    x0_ = rows_->next(b).rows;
    t_batch_ = setup_.d3pm.sample_t(b, streams_.diffusion);
    x_t_ = setup_.d3pm.q_sample(x0_, t_batch_, streams_.diffusion);
  }
  MicroBatchLoss accumulate_gradients(int64_t begin, int64_t end, double weight) override {
    const diffusion::D3pmLoss loss =
        setup_.d3pm.training_loss_at(model_, x0_.slice(0, begin, end), t_batch_.slice(0, begin, end), x_t_.slice(0, begin, end));
    (loss.loss * weight).backward();
    return d3pm_loss_parts(loss, setup_.d3pm.config(), x0_.numel() / x0_.size(0));
  }
  std::vector<std::string> loss_part_names() const override { return d3pm_loss_part_names(); }
  SamplesFile write_samples(const fs::path& dir, int64_t step) override {
    setup_.net.eval();
    Philox rng(seed_, kSamples);
    diffusion::D3pmSampleOptions options;
    options.steps = sample_steps_ > 0 ? std::min(sample_steps_, setup_.d3pm.timesteps()) : 0;
    const diffusion::D3pmSampleResult r = sample_text(setup_, sample_count_, rng, options);
    setup_.net.train();
    return write_training_text_samples(dir, step, r.x0, *vocabulary_);
  }
  // bits/char of the first valid chunks by the one-t estimate of the bound, as `diffuse evaluate --estimate`.
  EvaluationRecord evaluate(int64_t items) override {
    setup_.net.eval();
    Philox unused(0);
    const diffusion::D3pmElboResult r =
        evaluate_d3pm(stoppable(setup_.x0_model(unused)), setup_.d3pm, held_out_.first(items).rows,
                      setup_.config.at("train").at("batch").get<int64_t>(),
                      periodic_evaluation_options(setup_.config, "valid", /*estimate=*/true));
    setup_.net.train();
    return held_out_record(*vocabulary_, held_out_.noun, r.num_sequences, r.bits_per_token, r.stderr_bits, r.method);
  }

 private:
  D3pmTextModel setup_;  // the network, its arena and the diffusion
  diffusion::X0Model model_;
  int64_t sample_steps_;
  Tensor x0_, t_batch_, x_t_;  // the drawn batch
};

}  // namespace

static std::optional<int64_t> d3pm_text_parameter_count(const json& config) {
  require_characters(config);
  check_d3pm_json(config.at("diffusion"), d3pm_text_states());
  Philox rng(0);
  return nn::Transformer(nn::TransformerConfig::from_json(config.at("model")), rng).parameter_count();
}

// ---- train -----------------------------------------------------------------------------------------

static std::unique_ptr<TrainingTask> make_d3pm_text_training(json& config, const std::string& data_path) {
  require_characters(config);
  const auto corpus = load_text8_data(data_path, kWordsRefused);
  const std::vector<int64_t> counts = data::unigram_counts(corpus->split(data::Text8Split::Train));
  json& d = config.at("diffusion");
  if (!d.contains("token_counts"))
    resolve_d3pm_data(d, counts, data::kText8Vocab, data::bigram_context_embeddings(corpus->split(data::Text8Split::Train)),
                      data::kBigramEmbeddingDim);
  return std::make_unique<D3pmTextTraining>(config, character_corpus(corpus));
}

// ---- sample ----------------------------------------------------------------------------------------

// MaskGIT decoding (run_maskgit_sample) of an absorbing model: the x0-network is asked at the t whose abar_t
// is nearest the row's share of unmasked positions, and its 27 characters' logits are kept (the mask's is
// never a candidate).
static int run_d3pm_text_maskgit(const SampleOptions& options, const D3pmTextModel& m, int64_t n) {
  if (m.d3pm.process().kind() != diffusion::D3pmKind::Absorbing)
    throw std::invalid_argument("--decoder maskgit: needs the absorbing kind; " + options.checkpoint + " is " +
                                m.config.at("diffusion").at("kind").get<std::string>());
  const std::vector<double>& abar = m.d3pm.process().abar();
  Philox unused(0);
  const diffusion::X0Model x0_model = stoppable(m.x0_model(unused));
  const diffusion::MaskedTokenModel model = [&](const Tensor& x) {
    std::vector<int32_t> step(static_cast<size_t>(x.size(0)));
    for (int64_t b = 0; b < x.size(0); ++b) {
      const double keep = 1.0 - masked_share(x, b, data::kText8Mask);
      int64_t t = 1;
      for (int64_t u = 2; u < static_cast<int64_t>(abar.size()); ++u)
        if (std::abs(abar[static_cast<size_t>(u)] - keep) < std::abs(abar[static_cast<size_t>(t)] - keep)) t = u;
      step[static_cast<size_t>(b)] = static_cast<int32_t>(t - 1);
    }
    return x0_model(x, Tensor::from_vector(step, {x.size(0)})).narrow(2, 0, data::kText8Vocab);
  };
  return run_maskgit_sample(options, model, *character_vocabulary(), n, m.seq_len(), "d3pm-text");
}

static int run_d3pm_text_sample(const SampleOptions& options) {
  const int64_t n = options.n == 0 ? 4 : options.n;
  if (n < 1) throw std::invalid_argument("--n: must be at least 1");
  auto m = load_model_for_inference<D3pmTextModel>(options.checkpoint, options.ema);
  if (options.decoder == "maskgit") return run_d3pm_text_maskgit(options, *m, n);
  if (!options.template_text.empty())
    throw std::invalid_argument("--template: D3PM's ancestral sampler does not take one here; use --decoder maskgit");
  const diffusion::D3pmSampleOptions sampling = d3pm_sample_options(options, m->d3pm.timesteps());
  Philox rng(options.seed, kSamples);
  const auto start = std::chrono::steady_clock::now();
  const auto progress = evaluation_progress("sample", sampling.steps > 0 ? sampling.steps : m->d3pm.timesteps(), options.quiet);
  const diffusion::D3pmSampleResult r = sample_text(*m, n, rng, sampling, progress.get());
  progress->finish();
  const double seconds = seconds_since(start);
  if (options.progressive) {
    std::printf("denoising trajectory of sample 0 (x_t at the recorded t, '_' = mask):\n");
    for (size_t i = 0; i < r.recorded.size(); ++i)
      std::printf("t=%4lld | %s\n", static_cast<long long>(r.recorded_t[i]),
                  data::decode_text8(r.recorded[i].narrow(0, 0, 1)).c_str());
    std::printf("\n");
  }
  const std::vector<std::string> texts = character_vocabulary()->decode_rows(r.x0);
  for (size_t i = 0; i < texts.size(); ++i) std::printf("[%zu] %s\n", i, texts[i].c_str());
  std::printf("%lld samples of %lld characters, %lld network evaluations (%s), %.2f s (%.3f s per sample, batch %lld)\n",
              static_cast<long long>(n), static_cast<long long>(m->seq_len()), static_cast<long long>(r.network_evaluations),
              options.argmax ? "argmax" : "Gumbel draws", seconds, seconds / static_cast<double>(n), static_cast<long long>(n));
  if (!options.out.empty()) {
    write_text_samples(options.out, texts, *character_vocabulary(), options.checkpoint, "d3pm-text", seconds / static_cast<double>(n),
                       r.network_evaluations);
    std::printf("wrote %s\n", options.out.c_str());
  }
  return 0;
}

// ---- evaluate --------------------------------------------------------------------------------------

static int run_d3pm_text_evaluate(const EvaluateOptions& options) {
  if (!options.rate_distortion.empty()) throw std::invalid_argument("--rate-distortion: only for DDPM checkpoints");
  auto m = load_model_for_inference<D3pmTextModel>(options.checkpoint, options.ema);
  const auto corpus = character_corpus(load_text8_data(options.data_dir, kWordsRefused));
  const int64_t L = m->seq_len();
  const Tensor chunks = evaluation_items(*corpus, options.split, options.items, L).rows;
  const int64_t T = m->d3pm.timesteps();
  const int64_t batch = options.batch > 0 ? options.batch : m->config.at("train").at("batch").get<int64_t>();
  Philox unused(0);
  const auto start = std::chrono::steady_clock::now();
  const diffusion::D3pmElboResult r = evaluate_d3pm(m->x0_model(unused), m->d3pm, chunks, batch, options);
  if (!ProcessGroup::world().is_root()) return 0;  // process 0 reports
  const double seconds = seconds_since(start);
  if (!options.terms_out.empty()) {
    json terms = r.to_json();
    terms["family"] = "d3pm-text";  // what `diffuse plot --terms` reads it as
    write_text_atomically(options.terms_out, terms.dump(2) + "\n");
  }
  const double to_bits = 1.0 / (static_cast<double>(L) * std::numbers::ln2);
  if (options.json) {
    std::cout << json{{"bits_per_char", r.bits_per_token}, {"chunks", r.num_sequences}, {"method", r.method},
                      {"steps", r.method == "exact" ? r.steps : T}, {"timesteps", T}, {"kind", r.kind},
                      {"decoder", r.decoder}, {"prior_bits_per_char", r.prior_nats * to_bits}, {"stderr", r.stderr_bits},
                      {"network_evaluations", r.network_evaluations}, {"seconds", seconds}, {"checkpoint", options.checkpoint},
                      {"split", options.split}, {"chunk_length", L}}
                     .dump()
              << "\n";
    return 0;
  }
  std::printf("bits/char %.4f (+- %.4f standard error) on %lld %s chunks of %lld characters, method %s (%s), %.0f s\n",
              r.bits_per_token, r.stderr_bits, static_cast<long long>(r.num_sequences), options.split.c_str(),
              static_cast<long long>(L), r.method.c_str(),
              r.method == "estimate" ? "L_T + L_0 + (T - 1) L_{t-1} at one random t in 2..T per chunk"
              : r.steps == T         ? "every term L_T, L_{T-1}, ..., L_0 of the bound"
                                     : ("the bound of the " + std::to_string(r.steps) + "-step reverse process").c_str(),
              seconds);
  std::printf("  kind %s, decoder %s, T = %lld\n  prior L_T %.6f bits/char\n", r.kind.c_str(), r.decoder.c_str(),
              static_cast<long long>(T), r.prior_nats * to_bits);
  if (!r.terms_nats.empty()) {
    double kl = 0;
    for (size_t i = 1; i < r.terms_nats.size(); ++i) kl += r.terms_nats[i];
    std::printf("  sum of the KL terms: %.4f bits/char\n  decoder -log p(x0 | x_%lld): %.4f bits/char\n", kl * to_bits,
                static_cast<long long>(r.term_t.front()), r.terms_nats.front() * to_bits);
  }
  return 0;
}

// This family's entry in the table of model_family.cpp.
extern const ModelFamily kD3pmTextFamily = {
    .kind = "d3pm-text",
    .description = "D3PM on text8-format text (Austin et al. 2021): a transformer x0-model",
    .read_config = d3pm_text_parameter_count,
    .make_training = make_d3pm_text_training,
    .network_metadata = d3pm_text_network_metadata,
    .sample = run_d3pm_text_sample,
    .sample_flags = {"--decoder", "--choice-temperature", "--template"},
    .evaluate = run_d3pm_text_evaluate,
};

}  // namespace diffuse
