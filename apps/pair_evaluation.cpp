#include "apps/pair_evaluation.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string_view>

#include "apps/model_family.hpp"
#include "apps/progress.hpp"
#include "apps/run_support.hpp"
#include "apps/sharded_evaluation.hpp"
#include "apps/text_support.hpp"
#include "data/file_io.hpp"
#include "data/pair_rows.hpp"
#include "metrics/bleu.hpp"
#include "metrics/text_metrics.hpp"

namespace diffuse {

namespace {
using json = nlohmann::json;
using data::with_commas;

// The candidates of a run of sources, [source][candidate], with what writing them cost. A batch's result, and
// (merged in batch order) the whole split's.
struct PairCandidates {
  std::vector<std::vector<std::string>> candidates;
  double seconds = 0;
  int64_t network_evaluations = 0;

  json to_json() const { return {{"candidates", candidates}, {"seconds", seconds}, {"network_evaluations", network_evaluations}}; }
  static PairCandidates from_json(const json& j) {
    return {j.at("candidates").get<std::vector<std::vector<std::string>>>(), j.at("seconds").get<double>(),
            j.at("network_evaluations").get<int64_t>()};
  }
  static PairCandidates merge(const PairCandidates& a, const PairCandidates& b) {
    PairCandidates r = a;
    r.candidates.insert(r.candidates.end(), b.candidates.begin(), b.candidates.end());
    r.seconds += b.seconds;
    r.network_evaluations += b.network_evaluations;
    return r;
  }
};

// Each row of `given` (int32 [B, L]) n times in a row: source s's candidates are rows s n .. s n + n - 1.
Tensor repeat_rows(const Tensor& given, int64_t n) {
  const Tensor g = given.contiguous();
  const int64_t B = g.size(0), L = g.size(1);
  Tensor out = Tensor::empty({B * n, L}, DType::I32);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < n; ++c)
      std::copy(g.data<int32_t>() + b * L, g.data<int32_t>() + (b + 1) * L, out.data<int32_t>() + (b * n + c) * L);
  return out;
}

// The model's candidates for every item: batches of sources, each source's n rows in one call of the
// generator, each batch from its own stream (evaluate_sharded: --journal, MPI).
PairCandidates generate_candidates(const TargetGenerator& generator, const TextItems& items, const TextVocabulary& vocabulary,
                                   int64_t batch, const EvaluateOptions& options) {
  const int64_t n = options.candidates;
  json settings = evaluation_settings(options, items.count(), batch);
  settings["task"] = "pairs";
  settings["decoding"] = generator.decoding;
  settings["candidates"] = n;
  std::unique_ptr<Progress> progress;
  return evaluate_sharded<PairCandidates>(
      items.count(), batch, options.seed,
      [&](int64_t begin, int64_t end, Philox& rng) {
        const Tensor given = items.given.slice(0, begin, end);
        const Tensor conditions = repeat_rows(given_ids(items.rows.slice(0, begin, end), given), n);
        PairCandidates r;
        const auto start = std::chrono::steady_clock::now();
        const Tensor rows = generator.generate(conditions, rng, &r.network_evaluations);
        r.seconds = seconds_since(start);
        for (int64_t s = 0; s < end - begin; ++s) {
          std::vector<std::string> texts;
          for (int64_t c = 0; c < n; ++c)
            texts.push_back(written_target(rows.narrow(0, s * n + c, 1).view({rows.size(1)}), given.narrow(0, s, 1).view({given.size(1)}),
                                           vocabulary));
          r.candidates.push_back(std::move(texts));
        }
        if (progress) progress->advance();
        return r;
      },
      PairCandidates::merge, options.journal, settings,
      [&](int64_t mine) { progress = evaluation_progress("evaluate", mine, options.quiet); }, evaluation_group(options));
}

// The scores of `hypotheses` (one per item) and of each item's candidates (self-BLEU when there are >= 2).
struct PairScores {
  metrics::BleuScore bleu;
  double rouge_l = 0;
  std::optional<double> self_bleu;
  std::vector<double> distinct;  // dist-1, dist-2
};

PairScores score(const std::vector<std::string>& hypotheses, const std::vector<std::vector<std::string>>& candidates,
                 const TextItems& items) {
  PairScores s;
  s.bleu = metrics::corpus_bleu(hypotheses, items.references);
  s.rouge_l = metrics::rouge_l(hypotheses, items.references);
  if (!candidates.empty() && candidates.front().size() >= 2) s.self_bleu = metrics::self_bleu(candidates);
  s.distinct = metrics::distinct_n(std::vector<std::string_view>(hypotheses.begin(), hypotheses.end()), 2);
  return s;
}

std::string two_decimals(double v) {
  char s[32];
  std::snprintf(s, sizeof s, "%.2f", v);
  return s;
}

// A text as one TSV field: tabs and newlines (which no tokenized text holds) as spaces.
std::string field(std::string s) {
  for (char& c : s)
    if (c == '\t' || c == '\n') c = ' ';
  return s;
}

void write_hypotheses(const std::string& path, const TextItems& items, const std::vector<std::string>& hypotheses,
                      const std::vector<std::vector<std::string>>& candidates) {
  const size_t n = candidates.empty() ? 0 : candidates.front().size();
  std::string text = "verse\tsource\treference\thypothesis";
  if (n >= 2)
    for (size_t c = 0; c < n; ++c) text.append("\tcandidate_").append(std::to_string(c + 1));
  text += "\n";
  for (int64_t i = 0; i < items.count(); ++i) {
    const size_t k = static_cast<size_t>(i);
    text += field(items.names[k]) + "\t" + field(items.sources[k]) + "\t" + field(items.references[k]) + "\t" + field(hypotheses[k]);
    if (n >= 2)
      for (const std::string& c : candidates[k]) text.append("\t").append(field(c));
    text += "\n";
  }
  write_text_atomically(path, text);
}

// The corpus and model of an evaluation: the checkpoint's (refused unless it models a target given a source),
// or for --copy-source the pair file alone at the default row length and vocabulary.
struct PairSetup {
  std::shared_ptr<const TextCorpus> corpus;
  std::optional<TargetGenerator> generator;
  std::string family = "copy-source";
  int64_t length = data::kDefaultPairLength;
  int64_t batch = 64;
};

PairSetup pair_setup(const EvaluateOptions& options) {
  PairSetup s;
  if (options.copy_source) {
    const json config = {{"data", {{"dataset", "pairs"}, {"min_count", data::kDefaultMinCount}}}, {"model", json::object()}};
    s.corpus = load_text_corpus(options.data_dir, config, "--copy-source (which reads pair files)");
    s.batch = options.batch > 0 ? options.batch : s.batch;
    return s;
  }
  const json config = checkpoint_config(options.checkpoint);
  const ModelFamily& family = model_family(config, options.checkpoint);
  const std::string dataset = config.contains("data") ? config.at("data").value("dataset", std::string("none")) : "none";
  if (dataset != "pairs" || !family.target_generator)
    throw std::invalid_argument("--task pairs: " + options.checkpoint + " holds a " + family.kind + " model (" + family.description +
                                ") trained on data.dataset '" + dataset + "', not on a pair file: it cannot write a target given a "
                                "source. Give a masked-text, ar-text or diffusion-lm checkpoint trained on pairs (presets "
                                "diffuseq-kjv-web-small, mdlm-kjv-web-small, ar-kjv-web-small), or --copy-source");
  s.generator = family.target_generator(options);
  s.family = family.kind;
  s.corpus = load_text_corpus(options.data_dir, s.generator->config, options.checkpoint, s.generator->states);
  s.length = s.generator->config.at("model").at("seq_len").get<int64_t>();
  s.batch = options.batch > 0 ? options.batch : s.generator->config.at("train").at("batch").get<int64_t>();
  return s;
}

}  // namespace

std::string format_number(double v) {
  char s[32];
  std::snprintf(s, sizeof s, "%g", v);
  return s;
}

std::string written_target(const Tensor& row, const Tensor& given, const TextVocabulary& vocabulary) {
  const Tensor r = row.contiguous(), g = given.contiguous();
  std::vector<int32_t> ids;
  for (int64_t i = 0; i < r.numel(); ++i) {
    if (g.data<int32_t>()[i] != 0) continue;
    const int32_t id = r.data<int32_t>()[i];
    if (id == data::kEosId || id == data::kPadId) break;
    ids.push_back(id);
  }
  return ids.empty() ? "" : vocabulary.decode(Tensor::from_vector(ids, {static_cast<int64_t>(ids.size())}));
}

int run_pair_evaluation(const EvaluateOptions& options) {
  if (options.candidates < 1) throw std::invalid_argument("--candidates: at least 1");
  if (options.mbr && (options.candidates < 2 || options.copy_source))
    throw std::invalid_argument("--mbr: chooses among a model's candidates: needs --candidates 2 or more (DiffuSeq takes 5)");
  const PairSetup setup = pair_setup(options);
  const TextItems items = evaluation_items(*setup.corpus, options.split, options.items, setup.length, options.skip_long);
  if (!items.given.defined()) throw std::logic_error("--task pairs: the corpus gave no given mask");
  const TextVocabulary& vocabulary = *setup.corpus->vocabulary();

  PairCandidates generated;
  const auto start = std::chrono::steady_clock::now();
  if (setup.generator) {
    generated = generate_candidates(*setup.generator, items, vocabulary, setup.batch, options);
  } else {
    for (const std::string& s : items.sources) generated.candidates.push_back({s});
    generated.seconds = seconds_since(start);
  }
  if (!ProcessGroup::world().is_root()) return 0;
  std::vector<std::string> hypotheses;
  for (const std::vector<std::string>& c : generated.candidates)
    hypotheses.push_back(c[static_cast<size_t>(options.mbr ? metrics::mbr_select(c) : 0)]);
  const PairScores s = score(hypotheses, generated.candidates, items);
  const int64_t n = setup.generator ? options.candidates : 1;
  const double sentences = static_cast<double>(items.count() * n);
  const double per_sentence = generated.seconds / sentences;
  if (!options.out.empty()) write_hypotheses(options.out, items, hypotheses, generated.candidates);

  const std::string decoding = setup.generator ? setup.generator->decoding : "each hypothesis its source";
  const double unknown_share = items.tokens > 0 ? static_cast<double>(items.unknown) / static_cast<double>(items.tokens) : 0.0;
  if (options.json) {
    std::cout << json{{"task", "pairs"}, {"family", setup.family}, {"decoding", decoding},
                      {"steps", setup.generator ? json(setup.generator->steps) : json(nullptr)}, {"candidates", n},
                      {"mbr", options.mbr}, {"bleu", s.bleu.score}, {"brevity_penalty", s.bleu.brevity_penalty},
                      {"bleu_precisions", s.bleu.precisions}, {"hypothesis_tokens", s.bleu.hypothesis_length},
                      {"reference_tokens", s.bleu.reference_length}, {"rouge_l", s.rouge_l},
                      {"self_bleu", s.self_bleu ? json(*s.self_bleu) : json(nullptr)}, {"dist_1", s.distinct[0]},
                      {"dist_2", s.distinct[1]}, {"seconds_per_sentence", per_sentence}, {"seconds", generated.seconds},
                      {"network_evaluations", generated.network_evaluations}, {"pairs", items.count()}, {"left_out_too_long", items.dropped},
                      {"unknown_tokens", items.unknown}, {"tokens", items.tokens}, {"split", options.split},
                      {"checkpoint", options.checkpoint}, {"data", setup.corpus->source()}, {"out", options.out}}
                     .dump()
              << "\n";
    return 0;
  }
  std::printf("%lld %s pairs of %s, %s: %s, %lld candidate%s per source%s\n", static_cast<long long>(items.count()),
              options.split.c_str(), setup.corpus->source().c_str(), setup.family.c_str(), decoding.c_str(), static_cast<long long>(n),
              n == 1 ? "" : "s", options.mbr ? ", the hypothesis chosen by MBR (BLEU)" : "");
  std::printf("  BLEU %.2f (BP %.3f; precisions %.1f/%.1f/%.1f/%.1f; %s hypothesis and %s reference tokens)\n", s.bleu.score,
              s.bleu.brevity_penalty, s.bleu.precisions[0], s.bleu.precisions[1], s.bleu.precisions[2], s.bleu.precisions[3],
              with_commas(s.bleu.hypothesis_length).c_str(), with_commas(s.bleu.reference_length).c_str());
  std::printf("  ROUGE-L %.2f, self-BLEU %s, dist-1 %.4f, dist-2 %.4f\n", s.rouge_l,
              s.self_bleu ? (two_decimals(*s.self_bleu) + " (n = " + std::to_string(n) + ")").c_str() : "- (one candidate)",
              s.distinct[0], s.distinct[1]);
  std::printf("  %.4f s per sentence (%s sentences in %.1f s, %s network evaluations of a sequence)\n", per_sentence,
              with_commas(static_cast<int64_t>(sentences)).c_str(), generated.seconds,
              with_commas(generated.network_evaluations).c_str());
  std::printf("  %s of %s source and target tokens are outside the vocabulary (%.2f%%): the model reads them as <unk>, the "
              "references keep them\n",
              with_commas(items.unknown).c_str(), with_commas(items.tokens).c_str(), 100.0 * unknown_share);
  if (!options.out.empty()) std::printf("wrote %s\n", options.out.c_str());
  return 0;
}

}  // namespace diffuse
