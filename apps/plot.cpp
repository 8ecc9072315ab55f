#include "apps/plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <numbers>
#include <stdexcept>

#include "apps/plot_chart.hpp"
#include "apps/presets.hpp"
#include "diffusion/ddpm_nll.hpp"

namespace diffuse {

namespace {
using json = nlohmann::json;
namespace fs = std::filesystem;

json read_json_file(const std::string& path, const std::string& flag) {
  if (!fs::is_regular_file(path)) throw std::invalid_argument(flag + ": " + path + " is not a file");
  std::ifstream in(path);
  const json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) throw std::invalid_argument(flag + ": " + path + " is not a JSON object");
  return j;
}

std::string format_number(double v) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.4g", v);
  return text;
}

// The leaves of `config` that differ from `preset` ("train.lr=0.001"), skipping what a run adds itself.
void differing_leaves(const json& config, const json& preset, const std::string& prefix, std::vector<std::string>& out) {
  for (const auto& [key, value] : config.items()) {
    const std::string path = prefix.empty() ? key : prefix + "." + key;
    if (prefix.empty() && (key == "seed" || key == "preset" || key == "overrides")) continue;
    if (!preset.contains(key)) continue;  // resolved from the data (token counts, embeddings)
    if (value.is_object() && preset.at(key).is_object()) {
      differing_leaves(value, preset.at(key), path, out);
    } else if (value != preset.at(key)) {
      out.push_back(path + "=" + (value.is_string() ? value.get<std::string>() : value.dump()));
    }
  }
}

// Whether a loss curve reads better on a log axis: every value positive, spanning a decade or more.
bool log_reads_better(const std::vector<RunCurve>& curves) {
  double lo = INFINITY, hi = 0;
  for (const RunCurve& c : curves)
    for (double v : c.loss) {
      if (!(v > 0)) return false;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  return hi >= 10 * lo;
}

// --runs --evaluation: each run's periodic evaluations (the figure over the step, and a band of one
// standard error either side drawn as two thin lines of the same colour).
int plot_evaluations(const PlotOptions& options, const std::vector<RunCurve>& runs) {
  std::vector<const RunCurve*> curves;
  for (const RunCurve& c : runs) {
    if (c.eval_step.empty()) {
      std::fprintf(stderr, "warning: %s: no evaluation in its metrics.jsonl; run skipped\n", c.dir.c_str());
      continue;
    }
    if (!curves.empty() && c.figure != curves.front()->figure)
      throw std::invalid_argument("--evaluation: " + curves.front()->dir + " evaluates " + curves.front()->figure + " but " + c.dir +
                                  " evaluates " + c.figure + "; they cannot share an axis");
    curves.push_back(&c);
  }
  if (curves.empty()) {
    std::fprintf(stderr, "error: --runs --evaluation: no run holds an evaluation to draw; nothing written\n");
    return 1;
  }
  const std::string& name = curves.front()->figure;  // bits_per_char -> bits/char; bits_per_token, bits_per_dim
  const size_t per = name.find("_per_");
  const std::string unit = per == std::string::npos ? name : name.substr(0, per) + "/" + name.substr(per + 5);
  Panel panel;
  panel.title = "periodic evaluation of " + std::to_string(curves.size()) + " run" + (curves.size() == 1 ? "" : "s") + " (" + unit +
                ", +- one standard error)";
  panel.x.label = "step";
  panel.y.label = unit + " on held-out items (metrics.jsonl)";
  std::map<std::string, int> uses;  // runs with one label are told apart by their folder
  for (const RunCurve* c : curves) ++uses[c->label];
  int color = 0;
  for (const RunCurve* c : curves) {
    std::vector<double> lo, hi;
    for (size_t i = 0; i < c->eval_value.size(); ++i) {
      lo.push_back(c->eval_value[i] - c->eval_stderr[i]);
      hi.push_back(c->eval_value[i] + c->eval_stderr[i]);
    }
    panel.lines.push_back({.label = uses[c->label] > 1 ? c->label + " [" + c->dir + "]" : c->label, .x = c->eval_step,
                           .y = c->eval_value, .color = color, .points = true});
    panel.lines.push_back({.label = "", .x = c->eval_step, .y = lo, .color = color});
    panel.lines.push_back({.label = "", .x = c->eval_step, .y = hi, .color = color});
    ++color;
  }
  Figure figure(options.out, options.width, options.height);
  figure.draw(panel);
  figure.finish();
  std::printf("wrote the evaluations of %zu run%s to %s\n", curves.size(), curves.size() == 1 ? "" : "s", options.out.c_str());
  return 0;
}

int plot_runs(const PlotOptions& options) {
  std::vector<std::string> warnings;
  std::vector<RunCurve> curves;
  for (const std::string& dir : options.runs)
    if (auto c = read_run_curve(dir, warnings)) curves.push_back(std::move(*c));
  for (const std::string& w : warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  if (options.evaluation) return plot_evaluations(options, curves);
  std::erase_if(curves, [](const RunCurve& c) { return c.step.empty(); });
  if (curves.empty()) {
    std::fprintf(stderr, "error: --runs: no run holds a loss to draw; nothing written\n");
    return 1;
  }
  std::map<std::string, int> uses;  // runs with one label are told apart by their folder
  for (const RunCurve& c : curves) ++uses[c.label];
  Panel panel;
  panel.title = curves.size() == 1 ? "training loss of " + curves[0].dir : "training loss of " + std::to_string(curves.size()) + " runs";
  panel.x.label = "step";
  panel.y.label = "loss (metrics.jsonl)";
  panel.y.log = log_reads_better(curves);
  for (const RunCurve& c : curves)
    panel.lines.push_back({.label = uses[c.label] > 1 ? c.label + " [" + c.dir + "]" : c.label, .x = c.step, .y = c.loss,
                           .points = c.step.size() <= 20});
  Figure figure(options.out, options.width, options.height);
  figure.draw(panel);
  figure.finish();
  std::printf("wrote the loss curves of %zu run%s to %s\n", curves.size(), curves.size() == 1 ? "" : "s", options.out.c_str());
  return 0;
}

// The per-t terms of a bound (in the unit `unit`) with the cumulative share of `total` on the right axis.
Panel terms_panel(const std::string& title, const std::vector<double>& t, const std::vector<double>& terms, double total,
                  const std::string& unit, bool points) {
  Panel panel;
  panel.title = title;
  panel.x.label = "t";
  panel.y.label = "term of the bound at t (" + unit + ", log; <= 0 drawn at the axis)";
  panel.y.log = true;
  panel.y2 = {.label = "cumulative share of the bound, terms at 1..t (%)", .min = 0, .max = 100};
  std::vector<double> share(terms.size());
  double sum = 0;
  for (size_t i = 0; i < terms.size(); ++i) {
    sum += terms[i];
    share[i] = total != 0 ? 100 * sum / total : NAN;
  }
  panel.lines.push_back({.label = "term at t", .x = t, .y = terms, .color = 0, .points = points});
  panel.lines2.push_back({.label = "cumulative share (right axis)", .x = t, .y = share, .color = 1});
  panel.legend = LegendAt::BottomLeft;
  return panel;
}

bool family_matches(const std::string& family, const std::string& asked) {
  return asked.empty() || family == asked || family.rfind(asked + "-", 0) == 0;
}

int plot_terms(const PlotOptions& options) {
  const json j = read_json_file(options.terms, "--terms");
  const std::string family = terms_family(j);
  if (family.empty())
    throw std::invalid_argument("--terms: " + options.terms +
                                " is not a terms file of `diffuse evaluate --terms-out` (no family, terms_bpd or terms_nats)");
  if (family != "ddpm" && family != "d3pm" && family != "d3pm-text" && family != "d3pm-image")
    throw std::invalid_argument("--terms: " + options.terms + " holds terms of family '" + family +
                                "', which plot does not know (it knows ddpm, d3pm-text and d3pm-image)");
  if (!family_matches(family, options.family))
    throw std::invalid_argument("--terms: " + options.terms + " holds the terms of family '" + family + "', not " + options.family +
                                " (--family)");
  if (j.value("method", std::string()) != "exact")
    throw std::invalid_argument("--terms: " + options.terms + " is a Monte-Carlo estimate (method '" + j.value("method", std::string()) +
                                "'), which records no per-t terms: evaluate without --estimate");
  std::vector<double> t, terms;
  std::string title, unit;
  double total = 0;
  bool points = false;
  if (family == "ddpm") {
    const diffusion::BpdResult r = diffusion::BpdResult::from_json(j);
    for (size_t i = 0; i < r.terms_bpd.size(); ++i) t.push_back(static_cast<double>(i + 1));
    terms = r.terms_bpd;
    total = r.total_bpd;
    unit = "bits/dim";
    title = "DDPM: L#dt-1#u per t (T = " + std::to_string(r.timesteps) + ", " + std::to_string(r.num_images) + " images): bound " +
            format_number(r.total_bpd) + " bits/dim, L#dT#u " + format_number(r.prior_bpd);
    points = r.timesteps <= 50;
  } else {
    const int64_t L = j.at("seq_len").get<int64_t>(), T = j.at("timesteps").get<int64_t>(), steps = j.at("steps").get<int64_t>();
    const double to_bits = 1.0 / (static_cast<double>(std::max<int64_t>(L, 1)) * std::numbers::ln2);
    for (const auto& v : j.at("term_t")) t.push_back(v.get<double>());
    for (const auto& v : j.at("terms_nats")) terms.push_back(v.get<double>() * to_bits);
    if (t.size() != terms.size() || t.empty())
      throw std::invalid_argument("--terms: " + options.terms + ": term_t and terms_nats must be non-empty and of one length");
    total = j.at("bits_per_token").get<double>();
    unit = family == "d3pm-text" ? "bits/char" : family == "d3pm-image" ? "bits/dim" : "bits per position";
    title = "D3PM (" + j.value("kind", std::string("?")) + "): the term per t (" + std::to_string(steps) + " of T = " +
            std::to_string(T) + " steps): bound " + format_number(total) + " " + unit + ", L#dT#u " +
            format_number(j.at("prior_nats").get<double>() * to_bits);
    points = steps < T || T <= 50;
  }
  Figure figure(options.out, options.width, options.height);
  figure.draw(terms_panel(title, t, terms, total, unit, points));
  figure.finish();
  std::printf("wrote the %zu per-t terms of %s (%s) to %s\n", terms.size(), options.terms.c_str(), family.c_str(), options.out.c_str());
  return 0;
}

// The rate-distortion of `path`: the JSON of evaluate --rate-distortion, or an exact DDPM terms file.
diffusion::RateDistortion read_rate_distortion(const std::string& path) {
  const json j = read_json_file(path, "--progressive");
  const std::string family = j.contains("rate_bpd") ? j.value("family", std::string("ddpm")) : terms_family(j);
  if (family.empty())
    throw std::invalid_argument("--progressive: " + path +
                                " is neither the JSON of `evaluate --rate-distortion` nor a terms file of `evaluate --terms-out`");
  if (family != "ddpm")
    throw std::invalid_argument("--progressive: " + path + " holds the terms of family '" + family +
                                "': the rate-distortion of progressive decoding (Ho et al. 2020 §4.3) is DDPM's");
  try {
    if (j.contains("rate_bpd")) return diffusion::RateDistortion::from_json(j);
    return diffusion::progressive_rate_distortion(diffusion::BpdResult::from_json(j));
  } catch (const std::exception& e) {
    throw std::invalid_argument("--progressive: " + path + ": " + e.what());
  }
}

int plot_progressive(const PlotOptions& options) {
  std::string path = options.progressive;
  if (fs::is_directory(path)) {
    std::string found;
    for (const char* name : {"rate-distortion.json", "terms.json"})
      if (found.empty() && fs::is_regular_file(fs::path(path) / name)) found = (fs::path(path) / name).string();
    if (found.empty())
      throw std::invalid_argument("--progressive: the folder " + path + " holds neither rate-distortion.json nor terms.json");
    path = found;
  }
  const diffusion::RateDistortion rd = read_rate_distortion(path);
  std::vector<double> reverse_steps, t;
  for (int64_t v : rd.t) {
    reverse_steps.push_back(static_cast<double>(rd.timesteps - v));
    t.push_back(static_cast<double>(v));
  }
  const bool points = rd.t.size() <= 50;
  const std::string distortion = "distortion (RMSE, [0, 255])", rate = "rate (bits/dim)";
  Panel by_step_d, by_step_r, rate_distortion;
  by_step_d.title = "(a) distortion";
  by_step_d.x.label = "reverse process steps (T - t)";
  by_step_d.y.label = distortion;
  by_step_d.lines.push_back({.label = "", .x = reverse_steps, .y = rd.distortion_rmse, .color = 0, .points = points});
  by_step_r.title = "(b) rate";
  by_step_r.x.label = "reverse process steps (T - t)";
  by_step_r.y.label = rate;
  by_step_r.lines.push_back({.label = "", .x = reverse_steps, .y = rd.rate_bpd, .color = 1, .points = points});
  rate_distortion.title = "(c) rate-distortion, " + std::to_string(rd.num_images) + " images";
  rate_distortion.x.label = rate;
  rate_distortion.y.label = distortion;
  rate_distortion.lines.push_back({.label = "", .x = rd.rate_bpd, .y = rd.distortion_rmse, .color = 2, .points = points});
  for (Panel* p : {&by_step_d, &by_step_r, &rate_distortion}) p->legend = LegendAt::None;
  Figure figure(options.out, options.width, options.height, 3);
  figure.draw(by_step_d);
  figure.draw(by_step_r);
  figure.draw(rate_distortion);
  figure.finish();
  std::printf("wrote the rate-distortion of progressive decoding (%zu steps, from %s) to %s\n", rd.t.size(), path.c_str(),
              options.out.c_str());
  return 0;
}
}  // namespace

std::string terms_family(const json& terms) {
  if (terms.contains("family") && terms.at("family").is_string()) return terms.at("family").get<std::string>();
  if (terms.contains("terms_bpd")) return "ddpm";
  if (terms.contains("terms_nats")) return "d3pm";
  return "";
}

std::string run_label(const json& config) {
  const std::string preset = config.value("preset", std::string("(no preset recorded)"));
  std::vector<std::string> parts;
  if (config.contains("overrides") && config.at("overrides").is_array()) {
    for (const auto& o : config.at("overrides"))
      if (o.is_string()) parts.push_back(o.get<std::string>());
  } else {
    try {
      differing_leaves(config, preset_config(preset), "", parts);
    } catch (const std::exception&) {  // a preset since renamed or removed: its name alone
    }
  }
  // Settings that change what a run logs or keeps, not what it computes, are left out of its label.
  const auto bookkeeping = [](const std::string& p) {
    for (const char* key : {"train.log_every=", "train.checkpoint_every=", "train.keep_checkpoints=", "train.sample_every=",
                            "train.sample_count=", "train.eval_every=", "train.eval_items="})
      if (p.starts_with(key)) return true;
    return false;
  };
  std::string label = preset;
  for (const std::string& p : parts)
    if (!bookkeeping(p)) label += " " + p;
  return label;
}

std::optional<RunCurve> read_run_curve(const std::string& dir, std::vector<std::string>& warnings) {
  RunCurve c;
  c.dir = dir;
  const fs::path config_path = fs::path(dir) / "config.json", metrics_path = fs::path(dir) / "metrics.jsonl";
  if (!fs::is_directory(dir)) {
    warnings.push_back(dir + ": not a run folder (not a folder); skipped");
    return std::nullopt;
  }
  c.label = fs::path(dir).filename().string();
  if (std::ifstream in(config_path); in) {
    const json config = json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (config.is_object()) {
      c.label = run_label(config);
    } else {
      warnings.push_back(config_path.string() + ": not a JSON object; the run is labelled by its folder");
    }
  } else {
    warnings.push_back(config_path.string() + ": missing; the run is labelled by its folder");
  }
  std::ifstream in(metrics_path);
  if (!in) {
    warnings.push_back(metrics_path.string() + ": missing; run skipped");
    return std::nullopt;
  }
  std::string line;
  int64_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) continue;
    const json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("evaluation") && j.contains("step") && j.at("step").is_number()) {
      const json& e = j.at("evaluation");
      std::string figure;
      for (const char* known : {"bits_per_char", "bits_per_token", "bits_per_dim"})
        if (e.contains(known)) figure = known;
      if (figure.empty() || !e.at(figure).is_number() || (!c.figure.empty() && figure != c.figure)) {
        warnings.push_back(metrics_path.string() + ": line " + std::to_string(number) +
                           " is an evaluation without bits_per_char, bits_per_token or bits_per_dim (or with another figure "
                           "than the run's others); skipped");
        continue;
      }
      c.figure = figure;
      c.eval_step.push_back(j.at("step").get<double>());
      c.eval_value.push_back(e.at(figure).get<double>());
      c.eval_stderr.push_back(e.value("stderr", 0.0));
      continue;
    }
    const auto step = j.is_object() ? j.find("step") : j.end();
    const auto loss = j.is_object() ? j.find("loss") : j.end();
    if (!j.is_object() || step == j.end() || loss == j.end() || !step->is_number() || !loss->is_number()) {
      warnings.push_back(metrics_path.string() + ": line " + std::to_string(number) +
                         " is not a JSON object with a numeric step and loss; skipped");
      continue;
    }
    c.step.push_back(step->get<double>());
    c.loss.push_back(loss->get<double>());
  }
  if (c.step.empty() && c.eval_step.empty()) {
    warnings.push_back(metrics_path.string() + ": no logged step; run skipped");
    return std::nullopt;
  }
  return c;
}

int run_plot(const PlotOptions& options) {
  const int kinds = !options.runs.empty() + !options.terms.empty() + !options.progressive.empty();
  if (kinds != 1) throw std::invalid_argument("plot: give one of --runs, --terms or --progressive");
  if (options.out.empty()) throw std::invalid_argument("--out: the PNG file to write is required");
  if (!options.family.empty() && options.terms.empty()) throw std::invalid_argument("--family: only with --terms");
  if (!options.runs.empty()) return plot_runs(options);
  if (!options.terms.empty()) return plot_terms(options);
  return plot_progressive(options);
}

}  // namespace diffuse
