// The image classifiers (apps/image_classifier.hpp on nn/unet_encoder.hpp), their scores of samples, the samples'
// .npz (data/npz_reader.hpp) and classifier guidance's wiring (apps/image_guidance.hpp):
//   - the encoder half's parameters are the U-Net's, name for name and shape for shape, plus the head; a clean one
//     has no time input at all;
//   - t handling: a noisy classifier needs t - 1 in 0..T-1 and its output depends on it, a clean one refuses t;
//     noisy_batch draws t then the noise and returns q_sample of them;
//   - a tiny classifier trained on a separable toy set (horizontal against vertical stripes): the loss falls and
//     held-out accuracy is high;
//   - the scores: a set of samples against itself has FD 0, precision and recall 1; class accuracy by hand;
//   - guidance through the wiring the sample command uses: the ancestral mean moves by s Sigma g and DDIM's eps by
//     -s sqrt(1 - abar_t) g, g the finite-difference gradient of log p_phi(c | x_t, t); the refusals;
//   - --class's parse, and reading .npz archives (labels of any integer dtype; the refusals).
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "apps/ddpm_config.hpp"
#include "apps/image_classifier.hpp"
#include "apps/image_guidance.hpp"
#include "data/file_io.hpp"
#include "data/image_io.hpp"
#include "data/npz_reader.hpp"
#include "gradcheck.hpp"
#include "nn/optim.hpp"
#include "nn/unet.hpp"
#include "tensor/autograd.hpp"
#include "tensor/ops.hpp"

using namespace diffuse;
using namespace diffuse::testing;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

const json kTinyDiffusion = {{"timesteps", 10}, {"beta_schedule", "linear"}, {"beta_start", 1e-3}, {"beta_end", 0.2},
                         {"loss", "simple"},  {"variance", "large"},      {"clip_denoised", true}};

json classifier_config(bool noisy, int64_t classes = 3, int64_t channels = 1) {
  json c = {{"kind", "image-classifier"},
            {"classifier", {{"input", noisy ? "noisy" : "clean"}, {"ddpm", ""}}},
            {"model",
             {{"in_channels", channels}, {"resolution", 8}, {"ch", 8}, {"ch_mult", {1, 2}}, {"num_res_blocks", 1},
              {"attn_resolutions", json::array()}, {"dropout", 0.0}, {"groups", 4}, {"classes", classes}, {"time_embedding", noisy}}},
            {"train", {{"batch", 16}}},
            {"data", {{"dataset", "cifar10"}}}};
  if (noisy) c["diffusion"] = kTinyDiffusion;
  return c;
}

// Stripes: class 0 horizontal, class 1 vertical, at a random phase, plus N(0, 0.3^2) noise; [n, 1, 8, 8].
struct Toy {
  Tensor images, labels;
};
Toy stripes(int64_t n, Philox& rng) {
  std::vector<float> x(static_cast<size_t>(n * 64));
  std::vector<int32_t> y(static_cast<size_t>(n));
  const Tensor noise = randn({n * 64}, rng) * 0.3;
  const Tensor u = rand_uniform({n, 2}, rng);
  for (int64_t i = 0; i < n; ++i) {
    y[i] = u.data<float>()[2 * i] < 0.5 ? 0 : 1;
    const int phase = u.data<float>()[2 * i + 1] < 0.5 ? 0 : 1;
    for (int64_t r = 0; r < 8; ++r)
      for (int64_t c = 0; c < 8; ++c)
        x[i * 64 + r * 8 + c] = (((y[i] == 0 ? r : c) + phase) % 2 ? 0.8f : -0.8f) + noise.data<float>()[i * 64 + r * 8 + c];
  }
  return {Tensor::from_vector(x, {n, 1, 8, 8}), Tensor::from_vector(y, {n})};
}

// Every parameter moved by N(0, 0.1^2): a fresh network's ResBlocks are the identity (their conv2 starts at zero),
// so that the time embedding reaches the output only once they are not.
void scramble(ImageClassifierModel& m, uint64_t seed) {
  NoGradGuard no_grad;
  Philox rng(seed);
  for (auto& [name, p] : m.net.named_parameters()) {
    const Tensor noise = randn(p.shape(), rng) * 0.1;
    for (int64_t i = 0; i < p.numel(); ++i) p.data<float>()[i] += noise.data<float>()[i];
  }
}

double accuracy(const Tensor& logits, const Tensor& labels) {
  const Tensor z = logits.contiguous();
  int64_t right = 0;
  for (int64_t i = 0; i < z.size(0); ++i) {
    const float* row = z.data<float>() + i * z.size(1);
    right += (std::max_element(row, row + z.size(1)) - row) == labels.data<int32_t>()[i];
  }
  return static_cast<double>(right) / static_cast<double>(z.size(0));
}

}  // namespace

TEST_CASE("the encoder half: the U-Net's parameters name for name and shape for shape, plus the head; clean ones read no t") {
  const ImageClassifierModel noisy(classifier_config(true), 1), clean(classifier_config(false), 1);
  nn::UNetConfig u;
  u.in_channels = u.out_channels = 1;
  u.resolution = 8;
  u.ch = 8;
  u.ch_mult = {1, 2};
  u.num_res_blocks = 1;
  u.attn_resolutions = {};
  u.dropout = 0;
  u.groups = 4;
  Philox rng(2);
  std::map<std::string, Shape> unet;
  for (const auto& [name, p] : nn::UNet(u, rng).named_parameters()) unet[name] = p.shape();
  int64_t shared = 0;
  for (const auto& [name, p] : noisy.net.named_parameters()) {
    if (name.rfind("head.", 0) == 0) continue;
    if (name.rfind("norm_out.", 0) == 0) {  // the U-Net's norm_out sits after its up path, at ch channels
      CHECK(p.shape() == Shape{16});
      continue;
    }
    REQUIRE_MESSAGE(unet.count(name), name);
    CHECK_MESSAGE(unet[name] == p.shape(), name);
    ++shared;
  }
  CHECK(shared > 20);
  for (const auto& [name, p] : clean.net.named_parameters())
    CHECK_MESSAGE((name.find("temb") == std::string::npos), name);
  CHECK(noisy.net.config().feature_dim() == 16);
}

TEST_CASE("t handling: a noisy classifier needs t - 1 in 0..T-1 and depends on it; a clean one refuses t; noisy_batch") {
  ImageClassifierModel noisy(classifier_config(true), 3);
  const ImageClassifierModel clean(classifier_config(false), 3);
  scramble(noisy, 13);
  Philox rng(4);
  const Tensor x = randn({2, 1, 8, 8}, rng);
  const Tensor early = noisy.logits(x, diffusion::step_tensor(2, 0), rng), late = noisy.logits(x, diffusion::step_tensor(2, 9), rng);
  CHECK(early.shape() == Shape{2, 3});
  CHECK(max_abs_diff(early, late) > 1e-4);
  CHECK_THROWS_WITH_AS(noisy.logits(x, diffusion::step_tensor(2, 10), rng), doctest::Contains("outside 0..9"), std::invalid_argument);
  CHECK_THROWS_WITH(noisy.logits(x, Tensor(), rng), doctest::Contains("needs int32 step"));
  CHECK_THROWS_WITH(clean.logits(x, diffusion::step_tensor(2, 0), rng), doctest::Contains("takes no step"));
  CHECK(clean.logits(x, Tensor(), rng).shape() == Shape{2, 3});
  // noisy_batch: t uniform on 0..T-1 first, then the noise, from one stream; x_t = q_sample(x0, t, noise).
  Philox a(9), b(9);
  const NoisyBatch nb = noisy_batch(noisy, x, a);
  const Tensor step = diffusion::sample_steps(2, 10, b);
  const Tensor expected = noisy.diffusion->q_sample(x, step, randn(x.shape(), b));
  CHECK(max_abs_diff(nb.step.to(DType::F32), step.to(DType::F32)) == 0.0);
  CHECK(max_abs_diff(nb.x_t, expected) == 0.0);
  json mixed = classifier_config(false);
  mixed["model"]["time_embedding"] = true;
  CHECK_THROWS_WITH(ImageClassifierModel(mixed, 0), doctest::Contains("model.time_embedding"));
}

TEST_CASE("a tiny classifier learns stripes: the loss falls and held-out accuracy is high") {
  ImageClassifierModel m(classifier_config(false, 2), 5);
  m.net.train();
  nn::Adam adam(m.arena, nn::AdamConfig{});
  Philox data(6), unused(0);
  const Toy held_out = stripes(200, data);
  std::vector<double> losses;
  for (int step = 0; step < 80; ++step) {
    const Toy batch = stripes(32, data);
    m.arena.zero_grad();
    const Tensor loss = cross_entropy(m.logits(batch.images, Tensor(), unused), batch.labels);
    loss.backward();
    adam.step(3e-3);
    losses.push_back(loss.item());
  }
  m.net.eval();
  const double acc = accuracy(m.logits(held_out.images, Tensor(), unused), held_out.labels);
  const double first = (losses[0] + losses[1] + losses[2]) / 3, last = (losses[77] + losses[78] + losses[79]) / 3;
  MESSAGE("loss " << first << " -> " << last << ", held-out accuracy " << acc);
  CHECK(last < 0.3 * first);
  CHECK(acc > 0.95);
}

TEST_CASE("scores: samples against themselves have FD 0, precision and recall 1; class accuracy by hand") {
  const ImageClassifierModel m(classifier_config(false, 3), 7);
  Philox rng(8);
  const Tensor x = clamp(randn({40, 1, 8, 8}, rng), -1, 1);
  const ClassifierOutputs out = classify_images(m, x, 16);
  CHECK(out.features.shape() == Shape{40, 16});
  std::vector<int64_t> zeros(40, 0);
  int64_t predicted_zero = 0;
  for (int64_t p : out.predicted) predicted_zero += p == 0;
  const ImageSampleScores s = score_image_samples(m, x, zeros, x, out.predicted, 3, 16);
  double trace = 0;
  const metrics::GaussianFit fit = metrics::fit_gaussian(out.features);
  for (int64_t j = 0; j < 16; ++j) trace += fit.covariance[j * 16 + j];
  CHECK(std::abs(s.fd.value) < 1e-9 * trace);
  CHECK(s.pr.precision == 1.0);
  CHECK(s.pr.recall == 1.0);
  CHECK(s.reference_accuracy == 1.0);  // the reference labels are its own predictions
  CHECK(s.class_accuracy == doctest::Approx(predicted_zero / 40.0));
  CHECK(s.feature_dim == 16);
  CHECK_THROWS_WITH(score_image_samples(m, x, std::vector<int64_t>(40, 3), x, out.predicted, 3, 16), doctest::Contains("0..2"));
}

TEST_CASE("classifier guidance through the sampler's wiring: s Sigma g on the mean, -s sqrt(1 - abar_t) g on eps; g by finite differences") {
  auto classifier = std::make_shared<ImageClassifierModel>(classifier_config(true), 11);
  scramble(*classifier, 14);  // t, through every ResBlock, shapes the gradient
  classifier->net.eval();
  const json ddpm = {{"model", {{"resolution", 8}, {"in_channels", 1}}}, {"diffusion", kTinyDiffusion}};
  const diffusion::GaussianDiffusion process(diffusion_config(kTinyDiffusion));
  const Tensor labels = Tensor::from_vector(std::vector<int32_t>{0, 2}, {2});
  const double s = 3.0;
  const ClassifierGuidance g = classifier_guidance(classifier, "tiny.safetensors", ddpm, process, labels, s);
  Philox rng(12);
  const Tensor x_t = randn({2, 1, 8, 8}, rng), eps = randn({2, 1, 8, 8}, rng);
  const Tensor step = Tensor::from_vector(std::vector<int32_t>{1, 7}, {2});
  // g by the four-point stencil on sum_b log p_phi(c_b | x_t_b, t_b), in float32 (h = 1e-2: truncation ~h^4).
  auto total = [&](const Tensor& x) {
    NoGradGuard no_grad;
    Philox unused(0);
    return sum(classifier->log_prob(x, step, labels, unused).to(DType::F64)).item();
  };
  Tensor probe = x_t.clone();
  std::vector<float> numeric(static_cast<size_t>(x_t.numel()));
  const double h = 1e-2;
  for (int64_t i = 0; i < x_t.numel(); ++i) {
    float& v = probe.data<float>()[i];
    const float v0 = v;
    double f[4];
    const double offsets[4] = {-2 * h, -h, h, 2 * h};
    for (int k = 0; k < 4; ++k) {
      v = static_cast<float>(v0 + offsets[k]);
      f[k] = total(probe);
    }
    v = v0;
    numeric[static_cast<size_t>(i)] = static_cast<float>((f[0] - 8 * f[1] + 8 * f[2] - f[3]) / (12 * h));
  }
  const Tensor g_fd = Tensor::from_vector(numeric, x_t.shape());
  double scale_g = 0;
  for (float v : numeric) scale_g = std::max(scale_g, static_cast<double>(std::abs(v)));
  REQUIRE(scale_g > 1e-3);  // a gradient worth checking
  NoGradGuard no_grad;  // as in the samplers: the hooks take their gradient with a tape of their own
  const diffusion::ReverseMoments p = process.p_mean_variance(eps, x_t, step, false);
  const Tensor mean_shift = g.mean(p, x_t, step) - p.mean;
  const Tensor expected_mean_shift = p.variance * g_fd * s;
  MESSAGE("max |g| " << scale_g << ", mean shift error " << max_abs_diff(mean_shift, expected_mean_shift));
  CHECK(max_abs_diff(mean_shift / (p.variance * s), g_fd) < 0.01 * scale_g);
  const Tensor eps_shift = g.eps(eps, x_t, step) - eps;
  const Tensor sqrt_one_minus_abar = process.extract(process.schedule().sqrt_one_minus_alphas_cumprod, step, eps);
  CHECK(max_abs_diff(eps_shift / (sqrt_one_minus_abar * -s), g_fd) < 0.01 * scale_g);
  // Sigma is the step's own: the two rows' variances differ, and each row moves by its own.
  CHECK(std::abs(p.variance.data<float>()[0] - p.variance.data<float>()[1]) > 1e-3);
}

TEST_CASE("classifier guidance refuses a clean classifier, other images, another forward process") {
  const json ddpm = {{"model", {{"resolution", 8}, {"in_channels", 1}}}, {"diffusion", kTinyDiffusion}};
  const diffusion::GaussianDiffusion process(diffusion_config(kTinyDiffusion));
  const Tensor labels = Tensor::from_vector(std::vector<int32_t>{0}, {1});
  auto clean = std::make_shared<ImageClassifierModel>(classifier_config(false), 1);
  CHECK_THROWS_WITH(classifier_guidance(clean, "c.safetensors", ddpm, process, labels, 1.0), doctest::Contains("c.safetensors is a clean classifier"));
  auto noisy = std::make_shared<ImageClassifierModel>(classifier_config(true, 3, 3), 1);
  CHECK_THROWS_WITH(classifier_guidance(noisy, "n.safetensors", ddpm, process, labels, 1.0),
                    doctest::Contains("holds 8x8x1 images, but n.safetensors classifies 8x8x3 images"));
  json other = ddpm;
  other["diffusion"]["timesteps"] = 20;
  auto gray = std::make_shared<ImageClassifierModel>(classifier_config(true), 1);
  CHECK_THROWS_WITH(classifier_guidance(gray, "n.safetensors", other, process, labels, 1.0),
                    doctest::Contains("learnt on the x_t of T = 10, linear betas 0.001 .. 0.2, but the DDPM checkpoint's process is T = 20"));
}

TEST_CASE(".npz samples: images and labels back as written; integer dtypes; the refusals name the file") {
  const fs::path dir = fs::temp_directory_path() / ("diffuse-npz-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  data::U8Array nhwc{{3, 2, 2, 1}, {0, 1, 2, 3, 10, 11, 12, 13, 250, 251, 252, 253}};
  const std::string path = (dir / "s.npz").string();
  data::write_npz(path, {{"arr_0", nhwc}, {"labels", data::U8Array{{3}, {2, 0, 1}}}});
  CHECK(data::is_npz(path));
  const data::SampleArchive a = data::read_sample_npz(path);
  CHECK(a.images.shape == Shape{3, 1, 2, 2});
  CHECK(a.images.bytes == nhwc.bytes);  // one channel: the same order
  CHECK(a.labels == std::vector<int64_t>{2, 0, 1});
  // '<i8' and '<i4' labels (what a sampler or numpy writes), negative values sign-extended.
  auto npy = [](const std::string& descr, const std::vector<uint8_t>& data, int64_t n) {
    std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + std::to_string(n) + ",), }";
    dict.append((64 - (10 + dict.size() + 1) % 64) % 64, ' ');
    dict += '\n';
    std::string bytes = std::string("\x93NUMPY\x01\x00", 8) + static_cast<char>(dict.size()) + '\0' + dict;
    bytes.append(data.begin(), data.end());
    return std::vector<uint8_t>(bytes.begin(), bytes.end());
  };
  CHECK(data::parse_npy(npy("<i8", {7, 0, 0, 0, 0, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 2), "x").at(1) == -2);
  CHECK(data::parse_npy(npy("<i4", {9, 0, 0, 0, 1, 1, 0, 0}, 2), "x").at(1) == 257);
  CHECK_THROWS_WITH(data::parse_npy(npy("<f4", {0, 0, 0, 0}, 1), "x.npz: member y.npy"), doctest::Contains("dtype '<f4' is not read"));
  CHECK_THROWS_WITH(data::parse_npy(npy("<i4", {0, 0, 0}, 1), "x"), doctest::Contains("needs 4 bytes"));
  // No arr_0: the arrays it has are listed. A damaged byte: the CRC says so.
  const std::string other = (dir / "o.npz").string();
  data::write_npz(other, {{"images", nhwc}});
  CHECK_THROWS_WITH(data::read_sample_npz(other), doctest::Contains("holds no 'arr_0' (the samples, uint8 [N, H, W, C]); its arrays: images"));
  std::vector<uint8_t> bytes = data::read_file_bytes(path);
  *std::find(bytes.begin(), bytes.end(), uint8_t{253}) = 254;  // the last pixel of arr_0, in its member's data
  data::write_file_atomic(path, bytes);
  CHECK_THROWS_WITH(data::read_sample_npz(path), doctest::Contains("CRC-32 mismatch"));
  CHECK_FALSE(data::is_npz((dir / "missing.npz").string()));
  fs::remove_all(dir);
}
