#include "apps/d3pm_config.hpp"

#include <numbers>
#include <stdexcept>

#include "apps/d3pm_choices.hpp"
#include "apps/run_support.hpp"
#include "apps/sharded_evaluation.hpp"
#include "data/text_matrix.hpp"
#include "nn/safetensors.hpp"
#include "tensor/ops.hpp"

namespace diffuse {

namespace {
using json = nlohmann::json;

template <class T>
T field(const json& d, const char* name) {
  if (!d.contains(name)) throw std::invalid_argument(std::string("diffusion.") + name + " is missing");
  try {
    return d.at(name).get<T>();
  } catch (const json::exception&) {
    throw std::invalid_argument(std::string("diffusion.") + name + " has the wrong type: " + d.at(name).dump());
  }
}

// The embeddings of a checkpoint's token embedding (EMA when present), first num_data rows.
std::vector<double> checkpoint_embeddings(const std::string& path, int64_t num_data, int64_t* dim) {
  const nn::SafetensorsContents c = nn::read_safetensors(path);
  const Tensor* w = c.find("ema/tok_emb.weight");
  if (w == nullptr) w = c.find("tok_emb.weight");
  if (w == nullptr || w->dim() != 2 || w->size(0) < num_data)
    throw std::invalid_argument("diffusion.nn_embeddings: " + path + " holds no token embedding 'tok_emb.weight' with " +
                                std::to_string(num_data) + " or more rows");
  *dim = w->size(1);
  std::vector<double> all = w->to_vector();
  all.resize(static_cast<size_t>(num_data * *dim));
  return all;
}
}  // namespace

diffusion::D3pmConfig d3pm_config_from_json(const json& d, const diffusion::D3pmStates& states) {
  diffusion::D3pmConfig c;
  c.states = states;
  // Each name through its parser, the error naming the field.
  auto parse = [&](const char* name, auto parser) {
    try {
      return parser(field<std::string>(d, name));
    } catch (const std::invalid_argument& e) {
      if (std::string(e.what()).rfind("diffusion.", 0) == 0) throw;
      throw std::invalid_argument(std::string("diffusion.") + name + ": " + e.what());
    }
  };
  c.kind = parse("kind", diffusion::parse_d3pm_kind);
  c.schedule = parse("schedule", [&](const std::string& s) {
    return diffusion::parse_d3pm_schedule(d3pm_resolved_schedule(diffusion::d3pm_kind_name(c.kind), s));
  });
  c.decoder = parse("decoder", diffusion::parse_d3pm_decoder);
  c.timesteps = field<int64_t>(d, "timesteps");
  c.hybrid_lambda = field<double>(d, "hybrid_lambda");
  c.loss_bits_per_dim = d.contains("loss_bits_per_dim") && field<bool>(d, "loss_bits_per_dim");  // absent in old runs: false
  c.beta_start = field<double>(d, "beta_start");
  c.beta_end = field<double>(d, "beta_end");
  c.cosine_s = field<double>(d, "cosine_s");
  c.max_beta = field<double>(d, "max_beta");
  c.nn_knn = field<int64_t>(d, "nn_knn");
  c.nn_final_mask = field<bool>(d, "nn_final_mask");
  c.spindle_lambda = field<double>(d, "spindle_lambda");
  const bool needs_counts = c.schedule == diffusion::D3pmScheduleKind::MutualInfo || c.schedule == diffusion::D3pmScheduleKind::Spindle;
  if (d.contains("token_counts")) {
    const auto counts = field<std::vector<double>>(d, "token_counts");
    c.token_counts = counts;
    c.unigram = counts;
  } else if (needs_counts) {
    throw std::invalid_argument("diffusion.token_counts: the mi and spindle schedules need the training split's token "
                                "counts, which `diffuse train` records");
  }
  if (c.kind == diffusion::D3pmKind::NearestNeighbor) {
    if (!d.contains("nn_embedding_matrix"))
      throw std::invalid_argument("diffusion.nn_embeddings: the nearest-neighbour kind needs token embeddings (a checkpoint "
                                  "or a text matrix), read when the run starts");
    const auto rows = field<std::vector<std::vector<double>>>(d, "nn_embedding_matrix");
    c.nn_embedding_dim = rows.empty() ? 0 : static_cast<int64_t>(rows[0].size());
    for (const auto& r : rows) {
      if (static_cast<int64_t>(r.size()) != c.nn_embedding_dim)
        throw std::invalid_argument("diffusion.nn_embedding_matrix: rows of different lengths");
      c.nn_embeddings.insert(c.nn_embeddings.end(), r.begin(), r.end());
    }
  }
  c.validate();
  return c;
}

void check_d3pm_json(const json& d, const diffusion::D3pmStates& states) {
  json stand_in = d;  // the data-dependent fields, as a run would fill them in
  const int64_t K = states.num_data();
  if (!stand_in.contains("token_counts")) stand_in["token_counts"] = std::vector<double>(static_cast<size_t>(K), 1.0);
  if (!stand_in.contains("nn_embedding_matrix")) {
    json rows = json::array();
    for (int64_t i = 0; i < K; ++i) {
      std::vector<double> row(static_cast<size_t>(K), 0.0);
      row[static_cast<size_t>(i)] = 1.0;
      rows.push_back(row);
    }
    stand_in["nn_embedding_matrix"] = rows;
  }
  d3pm_config_from_json(stand_in, states);
}

void resolve_d3pm_data(json& d, const std::vector<int64_t>& token_counts, int64_t num_data,
                       const std::vector<double>& bigram, int64_t bigram_dim) {
  d["token_counts"] = token_counts;
  if (diffusion::parse_d3pm_kind(field<std::string>(d, "kind")) != diffusion::D3pmKind::NearestNeighbor ||
      d.contains("nn_embedding_matrix"))
    return;
  const std::string path = field<std::string>(d, "nn_embeddings");
  if (path.empty())
    throw std::invalid_argument("--set diffusion.nn_embeddings: the nearest-neighbour kind needs token embeddings: "
                                "bigram, a checkpoint (.safetensors, its tok_emb.weight) or a text matrix, one row per token");
  int64_t rows = 0, dim = 0;
  std::vector<double> values;
  if (path == "bigram") {
    values = bigram;
    dim = bigram_dim;
  } else if (path.size() > 12 && path.substr(path.size() - 12) == ".safetensors") {
    values = checkpoint_embeddings(path, num_data, &dim);
    rows = num_data;
  } else {
    values = data::read_text_matrix(path, &rows, &dim);
    if (rows < num_data)
      throw std::invalid_argument("diffusion.nn_embeddings: " + path + " has " + std::to_string(rows) + " rows, need " +
                                  std::to_string(num_data));
  }
  json matrix = json::array();
  for (int64_t r = 0; r < num_data; ++r)
    matrix.push_back(std::vector<double>(values.begin() + r * dim, values.begin() + (r + 1) * dim));
  d["nn_embedding_matrix"] = matrix;
}

MicroBatchLoss d3pm_loss_parts(const diffusion::D3pmLoss& loss, const diffusion::D3pmConfig& config, int64_t positions) {
  const double scale = config.loss_bits_per_dim ? 1.0 / (static_cast<double>(positions) * std::numbers::ln2) : 1.0;
  return {loss.loss.item(), {mean(loss.vb).item() * scale, mean(loss.ce).item() * scale}};
}

diffusion::D3pmSampleOptions d3pm_sample_options(const SampleOptions& options, int64_t T) {
  if (options.steps < 0 || options.steps > T) throw std::invalid_argument("--steps: must be in 1.." + std::to_string(T));
  diffusion::D3pmSampleOptions sampling;
  sampling.steps = options.steps;
  sampling.argmax = options.argmax;
  if (options.progressive) {
    sampling.record_every = options.every > 0 ? options.every : std::max<int64_t>(T / 10, 1);
    if (sampling.record_every > T) throw std::invalid_argument("--every: must be in 1.." + std::to_string(T));
    sampling.record_at = {T, 0};
  }
  return sampling;
}

diffusion::D3pmElboResult evaluate_d3pm(const diffusion::X0Model& model, const diffusion::D3pm& d3pm, const Tensor& items,
                                        int64_t batch, const EvaluateOptions& options) {
  return evaluate_d3pm([&](int64_t, int64_t) { return model; }, d3pm, items, batch, options);
}

diffusion::D3pmElboResult evaluate_d3pm(const X0ModelOfItems& model_of, const diffusion::D3pm& d3pm, const Tensor& items,
                                        int64_t batch, const EvaluateOptions& options) {
  const int64_t T = d3pm.timesteps();
  if (options.steps < 0 || options.steps > T) throw std::invalid_argument("--steps: must be in 1.." + std::to_string(T));
  if (options.estimate && options.steps != 0) throw std::invalid_argument("--steps: the Monte-Carlo estimate is of the full T-step bound");
  const int64_t n = items.size(0), per_batch = options.estimate ? 1 : (options.steps > 0 ? options.steps : d3pm.timesteps());
  std::unique_ptr<Progress> progress;
  const diffusion::D3pmElboObserver observer = [&](int64_t, const Tensor&, const Tensor&) { progress->advance(); };
  diffusion::D3pmElboResult result = evaluate_sharded<diffusion::D3pmElboResult>(
      n, batch, options.seed,
      [&](int64_t begin, int64_t end, Philox& rng) {
        const Tensor x = items.slice(0, begin, end);
        const diffusion::X0Model model = model_of(begin, end);
        return options.estimate ? diffusion::d3pm_elbo_estimate(model, d3pm, x, rng, 1, 0, observer)
                          : diffusion::d3pm_elbo_exact(model, d3pm, x, rng, 0, observer, options.steps);
      },
      diffusion::merge_d3pm_elbo, options.journal, evaluation_settings(options, n, batch),
      [&](int64_t mine) { progress = evaluation_progress("evaluate", mine * per_batch, options.quiet); },
      evaluation_group(options));
  progress->finish();
  return result;
}

}  // namespace diffuse
