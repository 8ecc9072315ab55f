// `diffuse plot` (apps/plot.cpp, apps/plot_chart.cpp) on small inputs this test writes: each kind of figure
// is a PNG of the asked size whose pixels are not all one colour (read back with libpng); bad run folders
// are warnings naming the file and line; terms of another family are refused, naming it.
#include <doctest/doctest.h>
#include <png.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "apps/plot.hpp"
#include "apps/plot_chart.hpp"
#include "apps/presets.hpp"
#include "diffusion/ddpm_nll.hpp"

using namespace diffuse;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

struct Folder {
  fs::path path;
  Folder() {
    path = fs::temp_directory_path() / ("diffuse-test-plot-" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~Folder() { fs::remove_all(path); }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

void write(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
}

struct Png {
  int width = 0, height = 0;
  size_t colours = 0;  // distinct RGB values
};

Png read_png(const std::string& path) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  REQUIRE_MESSAGE(png_image_begin_read_from_file(&image, path.c_str()) != 0, path);
  image.format = PNG_FORMAT_RGB;
  std::vector<unsigned char> pixels(PNG_IMAGE_SIZE(image));
  REQUIRE(png_image_finish_read(&image, nullptr, pixels.data(), 0, nullptr) != 0);
  Png png{static_cast<int>(image.width), static_cast<int>(image.height), 0};
  std::set<uint32_t> seen;
  for (size_t i = 0; i + 2 < pixels.size(); i += 3) seen.insert(pixels[i] << 16 | pixels[i + 1] << 8 | pixels[i + 2]);
  png.colours = seen.size();
  return png;
}

std::string metrics(int steps, double scale) {
  std::string text;
  for (int s = 10; s <= steps; s += 10) text += json{{"step", s}, {"loss", scale * std::exp(-s / 50.0) + 0.01}}.dump() + "\n";
  return text;
}

json ddpm_terms(int T) {
  diffusion::BpdResult r;
  r.method = "exact";
  r.num_images = 2;
  r.timesteps = T;
  r.prior_bpd = 1e-3;
  for (int t = 1; t <= T; ++t) {
    r.terms_bpd.push_back(t == 1 ? 2.5 : 0.4 * std::exp(-t / 6.0));
    r.x0_mse.push_back(std::min(1.0, 1e-3 * std::exp(t / 3.0)));
  }
  r.total_bpd = r.prior_bpd;
  for (double v : r.terms_bpd) r.total_bpd += v;
  r.per_image_bpd = {r.total_bpd, r.total_bpd};
  json j = r.to_json();
  j["family"] = "ddpm";
  return j;
}

json d3pm_terms(int T, const std::string& family) {
  json j = {{"method", "exact"}, {"kind", "absorbing"}, {"decoder", "posterior"}, {"num_sequences", 2}, {"seq_len", 8},
            {"timesteps", T}, {"steps", T}, {"draws", 0}, {"network_evaluations", T}, {"prior_nats", 0.0},
            {"stderr_bits", 0.1}, {"per_sequence_bits", {1.0, 2.0}}, {"family", family}};
  std::vector<int64_t> t;
  std::vector<double> nats;
  double total = 0;
  for (int i = 1; i <= T; ++i) {
    t.push_back(i);
    nats.push_back(3.0 * std::exp(-i / 4.0));
    total += nats.back();
  }
  j["term_t"] = t;
  j["terms_nats"] = nats;
  j["total_nats"] = total;
  j["bits_per_token"] = total / (8 * std::log(2.0));
  return j;
}

void check_figure(const std::string& path, int width, int height) {
  const Png png = read_png(path);
  CHECK(png.width == width);
  CHECK(png.height == height);
  CHECK(png.colours > 2);  // background, ink and at least one line's colour
}

}  // namespace

TEST_CASE("plot --runs draws the loss curves of several runs, with a warning for each bad folder or line") {
  Folder dir;
  write(dir / "a/config.json", json{{"preset", "ddpm-cifar10-tiny"}, {"overrides", {"train.lr=0.001", "diffusion.timesteps=20"}}}.dump());
  write(dir / "a/metrics.jsonl", metrics(200, 2.0));
  write(dir / "b/config.json", json{{"preset", "ddpm-cifar10-tiny"}, {"overrides", json::array()}}.dump());
  write(dir / "b/metrics.jsonl", metrics(100, 1.0) + "{\"step\":110,\"lo\n" + "[1, 2]\n");
  write(dir / "c/config.json", "{}");  // no metrics.jsonl at all

  std::vector<std::string> warnings;
  const auto b = read_run_curve(dir / "b", warnings);
  REQUIRE(b.has_value());
  CHECK(b->step.size() == 10);
  CHECK(b->label == "ddpm-cifar10-tiny");
  REQUIRE(warnings.size() == 2);
  CHECK(warnings[0] == (fs::path(dir / "b") / "metrics.jsonl").string() + ": line 11 is not a JSON object with a numeric step and loss; skipped");
  CHECK(warnings[1].find("line 12") != std::string::npos);
  warnings.clear();
  CHECK_FALSE(read_run_curve(dir / "c", warnings).has_value());
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0] == (fs::path(dir / "c") / "metrics.jsonl").string() + ": missing; run skipped");

  PlotOptions options;
  options.runs = {dir / "a", dir / "b", dir / "c"};
  options.out = dir / "loss.png";
  options.width = 640;
  options.height = 480;
  CHECK(run_plot(options) == 0);  // two runs drawn, the third skipped with a warning
  check_figure(options.out, 640, 480);

  options.runs = {dir / "c", dir / "missing"};
  options.out = dir / "nothing.png";
  CHECK(run_plot(options) == 1);  // nothing to draw
  CHECK_FALSE(fs::exists(options.out));
}

TEST_CASE("the legend goes where the lines cross least, a side's middle included; a place set by hand is kept") {
  // Flat curves along the top and one falling from the top left to the bottom right (issue 21's four runs):
  // every corner holds some of them, the middle of the right side none.
  Panel panel;
  std::vector<double> steps, flat_hi, flat_lo, falling;
  for (int i = 1; i <= 12; ++i) {
    steps.push_back(100.0 * i);
    flat_hi.push_back(4.12);
    flat_lo.push_back(4.05);
    falling.push_back(2.2 + 1.2 * std::exp(-0.35 * (i - 1)));
  }
  panel.lines = {{"masked", steps, flat_hi}, {"d3pm", steps, flat_lo}, {"ar", steps, falling}};
  CHECK(legend_place(panel) == LegendAt::Right);
  // A segment that passes through a region counts, not only its end points. On axes 0..1: a vertical line at
  // u = 0.2 fills the left side; a segment from (0.5, 0.9), in no region, to (1, 0.6), in the right middle,
  // crosses the top-right corner; one point sits in the bottom-right corner. By points alone the top-right
  // corner would be empty; crossed, it loses to the bottom right.
  Panel crossed;
  crossed.x = {"u", false, 0, 1};
  crossed.y = {"v", false, 0, 1};
  crossed.lines = {{"a", {0.2, 0.2, 0.2}, {0.9, 0.5, 0.1}}, {"b", {0.5, 1.0}, {0.9, 0.6}}, {"c", {0.8}, {0.1}}};
  CHECK(legend_place(crossed) == LegendAt::BottomRight);
  panel.legend = LegendAt::BottomLeft;
  CHECK(legend_place(panel) == LegendAt::BottomLeft);
}

TEST_CASE("a run's legend label: its preset and overrides, or what differs from the preset in older runs") {
  CHECK(run_label(json{{"preset", "ddpm-cifar10-tiny"}, {"overrides", {"train.lr=0.001"}}}) == "ddpm-cifar10-tiny train.lr=0.001");
  json older = preset_config("ddpm-cifar10-tiny");  // a run made before config.json recorded "overrides"
  older["train"]["lr"] = 0.5;
  older["seed"] = 7;
  CHECK(run_label(older) == "ddpm-cifar10-tiny train.lr=0.5");
  CHECK(run_label(json{{"preset", "no-such-preset"}}) == "no-such-preset");
  // What a run logs or keeps is not part of its label.
  CHECK(run_label(json{{"preset", "ar-text8-small"},
                       {"overrides", {"train.checkpoint_every=100", "diffusion.hybrid_lambda=1.0", "train.eval_every=100"}}}) ==
        "ar-text8-small diffusion.hybrid_lambda=1.0");
  CHECK(run_label(json::object()) == "(no preset recorded)");
}

TEST_CASE("plot --terms draws DDPM's and D3PM's per-t terms and refuses another family, naming it") {
  Folder dir;
  write(dir / "ddpm.json", ddpm_terms(40).dump());
  write(dir / "text.json", d3pm_terms(30, "d3pm-text").dump());
  PlotOptions options;
  options.width = 800;
  options.height = 600;
  for (const char* name : {"ddpm", "text"}) {
    options.terms = dir / (std::string(name) + ".json");
    options.out = dir / (std::string(name) + ".png");
    CHECK(run_plot(options) == 0);
    check_figure(options.out, 800, 600);
  }
  options.terms = dir / "text.json";
  options.family = "d3pm";
  CHECK(run_plot(options) == 0);
  options.family = "ddpm";
  CHECK_THROWS_WITH(run_plot(options), doctest::Contains("holds the terms of family 'd3pm-text', not ddpm"));
  json other = ddpm_terms(4);
  other["family"] = "flow-matching";
  write(dir / "other.json", other.dump());
  options.terms = dir / "other.json";
  options.family = "";
  CHECK_THROWS_WITH(run_plot(options), doctest::Contains("family 'flow-matching', which plot does not know"));
  json estimate = ddpm_terms(4);
  estimate["method"] = "estimate";
  write(dir / "estimate.json", estimate.dump());
  options.terms = dir / "estimate.json";
  CHECK_THROWS_WITH(run_plot(options), doctest::Contains("evaluate without --estimate"));
  CHECK(terms_family(json{{"terms_nats", json::array()}}) == "d3pm");  // files written before "family"
  CHECK(terms_family(json{{"terms_bpd", json::array()}}) == "ddpm");
}

TEST_CASE("plot --progressive draws DDPM's rate-distortion from its JSON, a terms file or a folder") {
  Folder dir;
  const json terms = ddpm_terms(25);
  write(dir / "terms.json", terms.dump());
  json rd = diffusion::progressive_rate_distortion(diffusion::BpdResult::from_json(terms)).to_json();
  write(dir / "folder/rate-distortion.json", rd.dump());
  PlotOptions options;
  for (const std::string& input : {dir / "terms.json", dir / "folder"}) {
    options.progressive = input;
    options.out = dir / "progressive.png";
    CHECK(run_plot(options) == 0);
    check_figure(options.out, 1000, 700);
  }
  write(dir / "text.json", d3pm_terms(10, "d3pm-text").dump());
  options.progressive = dir / "text.json";
  CHECK_THROWS_WITH(run_plot(options), doctest::Contains("family 'd3pm-text': the rate-distortion of progressive decoding"));
  options.progressive = dir / "empty-folder";
  fs::create_directories(options.progressive);
  CHECK_THROWS_WITH(run_plot(options), doctest::Contains("holds neither rate-distortion.json nor terms.json"));
}

TEST_CASE("plot --runs reads periodic evaluations beside the loss, and --evaluation draws them with their standard errors") {
  Folder dir;
  auto evaluation = [](int step, double bits, const char* figure = "bits_per_char") {
    return json{{"step", step}, {"evaluation", {{"split", "valid"}, {"items", 64}, {figure, bits}, {"stderr", 0.05}, {"method", "estimate"}}}}
               .dump() +
           "\n";
  };
  write(dir / "a/config.json", json{{"preset", "mdlm-text-demo"}, {"overrides", json::array()}}.dump());
  write(dir / "a/metrics.jsonl", metrics(100, 3.0) + evaluation(50, 3.1) + evaluation(100, 2.8));
  write(dir / "b/config.json", json{{"preset", "ar-text-demo"}, {"overrides", json::array()}}.dump());
  write(dir / "b/metrics.jsonl", metrics(100, 2.0) + evaluation(50, 2.2) + evaluation(100, 1.9));
  write(dir / "c/config.json", json{{"preset", "ddpm-cifar10-tiny"}, {"overrides", json::array()}}.dump());
  write(dir / "c/metrics.jsonl", metrics(100, 0.1) + evaluation(100, 5.0, "bits_per_dim"));

  std::vector<std::string> warnings;
  const auto a = read_run_curve(dir / "a", warnings);
  REQUIRE(a.has_value());
  CHECK(warnings.empty());  // evaluation lines are not malformed loss lines
  CHECK(a->step.size() == 10);
  CHECK(a->figure == "bits_per_char");
  CHECK(a->eval_step == std::vector<double>{50, 100});
  CHECK(a->eval_value == std::vector<double>{3.1, 2.8});

  PlotOptions options;
  options.runs = {dir / "a", dir / "b"};
  options.evaluation = true;
  options.out = dir / "eval.png";
  options.width = 640;
  options.height = 480;
  CHECK(run_plot(options) == 0);
  check_figure(options.out, 640, 480);
  options.runs = {dir / "a", dir / "c"};
  options.out = dir / "mixed.png";
  CHECK_THROWS_WITH_AS(run_plot(options), doctest::Contains("evaluates bits_per_char but"), std::invalid_argument);
}
