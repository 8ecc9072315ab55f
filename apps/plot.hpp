// `diffuse plot`: figures of runs and evaluations as PNG files, drawn by PLplot (apps/plot_chart.hpp).
//
//   plot --runs DIR... --out F.png        the training loss of one or several runs (each folder's
//                                         metrics.jsonl) in one chart, log y when the losses span a decade or
//                                         more; the legend names each run's preset and its --set overrides
//                                         (config.json's "preset" and "overrides")
//   plot --terms FILE --out F.png         the per-t terms of the bound from `evaluate --terms-out` on a log
//                                         axis (DDPM: L_{t-1} in bits/dim; D3PM: the term of each visited t in
//                                         bits/char or bits/dim), with the cumulative share of the bound held
//                                         by the terms up to t on a second axis. --family ddpm|d3pm insists on
//                                         one: a file of another family, or of one plot does not know, is
//                                         refused, naming its family
//   plot --progressive PATH --out F.png   DDPM's progressive decoding (Ho et al. 2020 §4.3, Fig. 5): distortion
//                                         (RMSE on [0, 255]) and rate (bits/dim) against the reverse steps
//                                         T - t, and distortion against rate. PATH is the JSON of `evaluate
//                                         --rate-distortion`, an exact DDPM terms file, or a folder holding
//                                         rate-distortion.json or terms.json
//
// Bad input in a run folder (no metrics.jsonl, a malformed line, no config.json) is a warning naming the file
// and line; plot draws what it can and exits 0 when something was drawn, 1 when nothing could be.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace diffuse {

struct PlotOptions {
  std::vector<std::string> runs;  // --runs
  bool evaluation = false;        // --evaluation: the runs' periodic evaluations instead of their loss
  std::string terms;              // --terms
  std::string family;             // --family: ddpm or d3pm (empty: whatever the terms file holds)
  std::string progressive;        // --progressive
  std::string out;
  int width = 1000, height = 700;
};

// One run's training loss and its periodic evaluations ({"step":S,"evaluation":{...}} lines: the figure,
// bits_per_char or bits_per_dim, and its standard error), read from DIR/metrics.jsonl, and its legend label
// (run_label of config.json).
struct RunCurve {
  std::string dir, label;
  std::vector<double> step, loss;
  std::string figure;  // the evaluations' figure; empty when there are none
  std::vector<double> eval_step, eval_value, eval_stderr;
};

// Reads a run folder. Each problem is appended to `warnings` naming the file (and line); nothing when the
// folder yields no point at all.
std::optional<RunCurve> read_run_curve(const std::string& dir, std::vector<std::string>& warnings);

// "preset key=value key=value": the run's preset and its --set overrides as config.json records them; for a
// run made before they were recorded, the fields that differ from the preset as it is now.
std::string run_label(const nlohmann::json& config);

// The family a terms file of `evaluate --terms-out` holds: its "family" ("ddpm", "d3pm-text",
// "d3pm-image"), or for files written before it was recorded "ddpm" (terms_bpd) or "d3pm" (terms_nats);
// empty when it is neither.
std::string terms_family(const nlohmann::json& terms);

// Runs the command; returns the exit code. Throws std::invalid_argument / std::runtime_error naming the
// flag or file on input it cannot draw at all.
int run_plot(const PlotOptions& options);

}  // namespace diffuse
