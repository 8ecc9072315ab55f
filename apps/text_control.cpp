#include "apps/text_control.hpp"

#include <algorithm>
#include <stdexcept>

#include "apps/run_support.hpp"
#include "data/words.hpp"
#include "tensor/autograd.hpp"
#include "tensor/ops.hpp"

namespace diffuse {

namespace {

const std::vector<std::string> kControlKinds = {"word", "testament", "group", "length"};

// The classifier target a guided control needs.
ClassifierTarget target_of(const std::string& kind) {
  return kind == "word" ? ClassifierTarget::Words : kind == "testament" ? ClassifierTarget::Testament : ClassifierTarget::Group;
}

std::shared_ptr<TextClassifierModel> load_classifier(const std::string& path, const std::string& flag, const TextVocabulary& vocabulary,
                                                           const std::string& kind, bool noisy) {
  if (path.empty())
    throw std::invalid_argument("--control " + kind + "=...: needs " + flag + " CKPT, a " + (noisy ? "noisy" : "clean") +
                                " text-classifier checkpoint of target '" + (kind == "word" ? "words" : kind) + "'");
  const nlohmann::json config = checkpoint_config(path);
  if (config.at("kind") != "text-classifier")
    throw std::invalid_argument(flag + ": " + path + " is a " + config.at("kind").get<std::string>() + " checkpoint, not a text-classifier");
  auto m = std::shared_ptr<TextClassifierModel>(load_model_for_inference<TextClassifierModel>(path, /*use_ema=*/true));
  if (m->noisy != noisy)
    throw std::invalid_argument(flag + ": " + path + " reads " + (m->noisy ? "noisy embeddings" : "clean text") + "; " +
                                (noisy ? "guidance needs one trained on noisy embeddings (classifier.input=noisy)"
                                       : "the judge must be trained on clean text (classifier.input=clean)"));
  if (m->target != target_of(kind))
    throw std::invalid_argument(flag + ": " + path + " classifies " + m->config.at("classifier").at("target").get<std::string>() +
                                ", not what --control " + kind + " needs");
  m->vocabulary->require_same(vocabulary, "the vocabulary of " + path, "the model's");
  return m;
}

}  // namespace

TextControlRequest parse_control_flag(const std::string& flag) {
  if (flag.empty()) return {};
  const size_t eq = flag.find('=');
  std::string kinds;
  for (const std::string& k : kControlKinds) kinds += (kinds.empty() ? "" : ", ") + k;
  if (eq == std::string::npos || eq == 0 || eq + 1 == flag.size())
    throw std::invalid_argument("--control: KIND=VALUE with KIND one of " + kinds + ", got '" + flag + "'");
  TextControlRequest r{flag.substr(0, eq), flag.substr(eq + 1)};
  bool known = false;
  for (const std::string& k : kControlKinds) known = known || k == r.kind;
  if (!known) throw std::invalid_argument("--control: unknown kind '" + r.kind + "' (" + kinds + ")");
  return r;
}

TextControl text_control(const SampleOptions& options, const TextVocabulary& vocabulary, int64_t length, const DiffusionLmModel& guided,
                         int64_t n) {
  TextControl c;
  c.guidance.updates = options.guidance_updates;
  c.guidance.step_size = options.guidance_step_size;
  c.guidance.fluency = options.fluency;
  c.guidance.skip_last = options.guidance_skip_last;
  const TextControlRequest request = parse_control_flag(options.control);
  if (!options.template_text.empty()) {
    if (!request.empty() && request.kind == "length")
      throw std::invalid_argument("--control length=N and --template both fix positions: give one of them");
    c.given = vocabulary.parse_template(options.template_text, length);
    c.summary = ", infilling --template";
  }
  if (request.empty()) return c;
  if (request.kind == "length") {
    if (vocabulary.dataset() != "verses") throw std::invalid_argument("--control length=N: a word-level model's (N tokens)");
    int64_t words = 0;
    try {
      words = std::stoll(request.value);
    } catch (const std::exception&) {
      throw std::invalid_argument("--control length=N: N must be a whole number, got '" + request.value + "'");
    }
    if (words < 1 || words > length - 2)
      throw std::invalid_argument("--control length=" + request.value + ": between 1 and " + std::to_string(length - 2) +
                                  " tokens fit a row of " + std::to_string(length) + " with <bos> and <eos>");
    std::vector<int32_t> given(static_cast<size_t>(length), data::kPadId);
    given[0] = data::kBosId;
    for (int64_t i = 1; i <= words; ++i) given[static_cast<size_t>(i)] = -1;
    given[static_cast<size_t>(words + 1)] = data::kEosId;
    c.given = Tensor::from_vector(given, {length});
    c.summary = ", length " + std::to_string(words) + " tokens given by <eos> and <pad>";
    return c;
  }
  if (request.kind == "word") {  // the word first: it needs no classifier to be refused
    const std::vector<int32_t> ids = vocabulary.encode_line(request.value, {"--control", 0, 0});
    if (ids.size() != 1) throw std::invalid_argument("--control word=" + request.value + ": one word, not " + std::to_string(ids.size()));
  }
  const auto guide = load_classifier(options.classifier, "--classifier", vocabulary, request.kind, /*noisy=*/true);
  guide->bind(guided, "--classifier " + options.classifier);
  c.classifier = guide;
  const std::vector<int64_t> classes(static_cast<size_t>(n), c.classifier->class_of(request.value));
  auto classifier = c.classifier;
  c.log_prob = [classifier, classes](const Tensor& x, const Tensor& step) {
    Philox unused(0);
    return classifier->log_prob(x, step, std::vector<int64_t>(classes.begin(), classes.begin() + x.size(0)), unused);
  };
  c.summary = ", guided to " + request.text() + " by " + options.classifier + " (" + std::to_string(c.guidance.updates) +
              " Adagrad updates of step " + std::to_string(c.guidance.step_size) + " per step, fluency lambda " +
              std::to_string(c.guidance.fluency) + ", none in the last " + std::to_string(c.guidance.skip_last) + " steps)";
  return c;
}

double control_success_rate(const TextControlRequest& control, const std::vector<std::string>& samples, const TextVocabulary& vocabulary,
                            const std::string& judge) {
  if (samples.empty()) throw std::invalid_argument("--control: no samples to score");
  int64_t met = 0;
  // N tokens of text: a <pad>, <bos> or <eos> that a sampler wrote inside the span is not one.
  auto is_marker = [](int32_t id) { return id == data::kPadId || id == data::kBosId || id == data::kEosId; };
  if (control.kind == "word" || control.kind == "length") {
    const std::vector<int32_t> word = control.kind == "word" ? vocabulary.encode_line(control.value, {"--control", 0, 0}) : std::vector<int32_t>{};
    if (control.kind == "word" && word.size() != 1)
      throw std::invalid_argument("--control word=" + control.value + ": one word of the vocabulary");
    for (size_t i = 0; i < samples.size(); ++i) {
      const std::vector<int32_t> ids = vocabulary.encode_line(samples[i], {"the samples", static_cast<int64_t>(i + 1), 0});
      if (control.kind == "word") met += std::find(ids.begin(), ids.end(), word[0]) != ids.end();
      else met += static_cast<int64_t>(ids.size()) == std::stoll(control.value) && std::none_of(ids.begin(), ids.end(), is_marker);
    }
    return static_cast<double>(met) / static_cast<double>(samples.size());
  }
  const auto m = load_classifier(judge, "--judge", vocabulary, control.kind, /*noisy=*/false);
  const int64_t want = m->class_of(control.value), L = m->seq_len();
  NoGradGuard no_grad;
  Philox unused(0);
  for (size_t i = 0; i < samples.size(); ++i) {
    std::vector<int32_t> row = vocabulary.row_start();
    for (int32_t id : vocabulary.encode_line(samples[i], {"the samples", static_cast<int64_t>(i + 1), 0})) row.push_back(id);
    for (int32_t id : vocabulary.row_end()) row.push_back(id);
    row.resize(static_cast<size_t>(L), data::kPadId);  // a sample is never longer than the model's rows
    const Tensor z = m->logits(Tensor::from_vector(row, {1, L}), Tensor(), unused).to(DType::F64).contiguous();
    int64_t best = 0;
    for (int64_t k = 1; k < z.size(1); ++k)
      if (z.data<double>()[k] > z.data<double>()[best]) best = k;
    met += best == want;
  }
  return static_cast<double>(met) / static_cast<double>(samples.size());
}

}  // namespace diffuse
