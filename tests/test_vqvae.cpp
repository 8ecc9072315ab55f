// The VQ-VAE (nn/vqvae.hpp, nn/vector_quantizer.hpp, apps/vqvae_model.hpp) and token-grid files
// (data/token_grids.hpp), docs/math.md §12:
//   - the straight-through estimator is the identity on z_e (the gradient harness), and z_q's forward is exactly the
//     chosen codes' vectors, the codes the brute-force argmin;
//   - the codebook loss's gradient reaches only the chosen codes (matching finite differences), the commitment loss's
//     only z_e;
//   - the EMA update against a hand-computed 3-code toy (Laplace smoothing included);
//   - dead-code restart changes only the codes unused for the stated number of steps;
//   - tokenize -> token file -> decode equals the VQ-VAE's own reconstruction, bit for bit; a token file of another
//     VQ-VAE or another grid is refused, naming both; the quantizer's state survives the checkpoint's strings.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include "apps/vqvae_model.hpp"
#include "data/token_grids.hpp"
#include "gradcheck.hpp"
#include "nn/optim.hpp"
#include "nn/vector_quantizer.hpp"
#include "nn/vqvae.hpp"
#include "tensor/autograd.hpp"
#include "tensor/ops.hpp"

using namespace diffuse;
using diffuse::testing::check_gradients;
using diffuse::testing::random_input;

namespace {

// The brute-force nearest code of row n: argmin_k sum_j (z_nj - e_kj)^2, ties to the lowest k.
int64_t brute_nearest(const Tensor& z, const Tensor& e, int64_t n) {
  const Tensor zd = z.to(DType::F64).contiguous(), ed = e.to(DType::F64).contiguous();
  const int64_t K = e.size(0), d = e.size(1);
  int64_t best = 0;
  double best_value = std::numeric_limits<double>::infinity();
  for (int64_t k = 0; k < K; ++k) {
    double s = 0;
    for (int64_t j = 0; j < d; ++j) {
      const double diff = zd.data<double>()[n * d + j] - ed.data<double>()[k * d + j];
      s += diff * diff;
    }
    if (s < best_value) best_value = s, best = k;
  }
  return best;
}

nlohmann::json tiny_config() {
  return {{"kind", "vqvae"},
          {"model",
           {{"in_channels", 3}, {"resolution", 8}, {"hidden", 8}, {"res_hidden", 4}, {"res_blocks", 1}, {"codebook_size", 6},
            {"code_dim", 4}}},
          {"vq", {{"beta", 0.25}, {"codebook", "ema"}, {"ema_decay", 0.99}, {"ema_epsilon", 1e-5}, {"restart_after", 0}}}};
}

}  // namespace

TEST_CASE("straight-through: the identity on z_e through the harness; z_q is the chosen codes' vectors, the brute-force argmin") {
  // The op itself: forward a copy of e, gradient to z unchanged. With e = z its forward is z, so the harness's
  // finite differences see the identity, which the analytic gradient must be.
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) { return nn::straight_through(in[0], in[0].detach()); },
                  {random_input({5, 3}, 11)});
  // Composed with a nonlinear function G = tanh: d sum(R tanh(ST(z, e)))/dz = R (1 - tanh(e)^2), the gradient G
  // has at e, which the harness checks by finite differences at e.
  const Tensor e = random_input({5, 3}, 12);
  CHECK_GRADIENTS([](const std::vector<Tensor>& in) { return tanh(in[0]); }, {e.detach().clone()});
  Tensor z = random_input({5, 3}, 13);
  z.set_requires_grad(true);
  Tensor e_leaf = e.detach().clone();
  e_leaf.set_requires_grad(true);
  const Tensor R = random_input({5, 3}, 14);
  sum(R * tanh(nn::straight_through(z, e_leaf))).backward();
  Tensor at_e = e.detach().clone();
  at_e.set_requires_grad(true);
  sum(R * tanh(at_e)).backward();
  CHECK(testing::max_abs_diff(z.grad(), at_e.grad()) == 0.0);
  CHECK_FALSE(e_leaf.grad().defined());

  // quantize: codes by brute force; z_q equal to the codebook rows exactly; the gradient of sum(R z_q) on z_e is R.
  Tensor z_e = random_input({2, 3, 2, 2}, 15);
  z_e.set_requires_grad(true);
  Tensor codebook = random_input({7, 3}, 16);
  codebook.set_requires_grad(true);
  const nn::Quantized q = nn::quantize(z_e, codebook);
  const Tensor rows = nn::code_rows(z_e.detach());
  for (int64_t n = 0; n < 8; ++n) {
    const int64_t k = q.codes.reshape({-1}).data<int32_t>()[n];
    CHECK(k == brute_nearest(rows, codebook.detach(), n));
    for (int64_t j = 0; j < 3; ++j) {  // z_q [B, d, g, g] at (b, j, i1, i2) with n = (b g + i1) g + i2
      const int64_t b = n / 4, i1 = (n / 2) % 2, i2 = n % 2;
      CHECK(q.z_q.contiguous().data<double>()[((b * 3 + j) * 2 + i1) * 2 + i2] == codebook.detach().data<double>()[k * 3 + j]);
    }
  }
  const Tensor Rq = random_input({2, 3, 2, 2}, 17);
  sum(Rq * q.z_q).backward();
  CHECK(testing::max_abs_diff(z_e.grad(), Rq) == 0.0);
  CHECK_FALSE(codebook.grad().defined());
}

TEST_CASE("the codebook loss's gradient reaches only the chosen codes; the commitment loss's only z_e") {
  const Tensor z_e = random_input({2, 3, 2, 2}, 21);
  const Tensor codebook = random_input({9, 3}, 22);  // 9 codes for 8 rows: some codes are never chosen
  // Finite differences: the codes do not move under the harness's small steps.
  CHECK_GRADIENTS([&](const std::vector<Tensor>& in) { return nn::quantize(z_e, in[0]).codebook_loss; }, {codebook.clone()});
  CHECK_GRADIENTS([&](const std::vector<Tensor>& in) { return nn::quantize(in[0], codebook).commitment_loss; }, {z_e.clone()});

  Tensor z = z_e.clone(), e = codebook.clone();
  z.set_requires_grad(true);
  e.set_requires_grad(true);
  const nn::Quantized q = nn::quantize(z, e);
  q.codebook_loss.backward();
  CHECK_FALSE(z.grad().defined());  // sg[z_e]
  std::vector<bool> chosen(9, false);
  for (int64_t n = 0; n < 8; ++n) chosen[static_cast<size_t>(q.codes.reshape({-1}).data<int32_t>()[n])] = true;
  int64_t unchosen = 0;
  for (int64_t k = 0; k < 9; ++k) {
    double norm = 0;
    for (int64_t j = 0; j < 3; ++j) norm += std::abs(e.grad().data<double>()[k * 3 + j]);
    if (chosen[static_cast<size_t>(k)]) {
      CHECK(norm > 0);
    } else {
      CHECK(norm == 0.0);
      ++unchosen;
    }
  }
  CHECK(unchosen > 0);  // the case above is not vacuous

  Tensor z2 = z_e.clone(), e2 = codebook.clone();
  z2.set_requires_grad(true);
  e2.set_requires_grad(true);
  nn::quantize(z2, e2).commitment_loss.backward();
  CHECK_FALSE(e2.grad().defined());  // sg[e]
  CHECK(z2.grad().defined());
}

TEST_CASE("EMA codebook: one update of a 3-code toy by hand (Appendix A.1 eqs. 6-8, Laplace smoothing)") {
  // e = (0,0), (1,1), (2,2); decay 1/2, eps 0.1; rows (0.1,0), (0.3,0.2) -> code 0, (2,2.4) -> code 2.
  Tensor codebook = Tensor::from_vector(std::vector<float>{0, 0, 1, 1, 2, 2}, {3, 2});
  nn::CodebookEma ema(codebook, 0.5, 0.1);
  const Tensor rows = Tensor::from_vector(std::vector<float>{0.1f, 0.f, 0.3f, 0.2f, 2.f, 2.4f}, {3, 2});
  const Tensor codes = Tensor::from_vector(std::vector<int32_t>{0, 0, 2}, {3});
  ema.update(rows, codes, codebook);
  // N = (1, 0, 1/2); m_0 = (0.2, 0.1), m_1 = (0.5, 0.5), m_2 = (2, 2.2); n = 3/2;
  // N~ = (N + 0.1) / (1.5 + 0.3) * 1.5 = (11/12, 1/12, 1/2); e = m / N~.
  CHECK(ema.count[0] == doctest::Approx(1.0).epsilon(1e-15));
  CHECK(ema.count[1] == 0.0);
  CHECK(ema.count[2] == doctest::Approx(0.5).epsilon(1e-15));
  const std::vector<double> want = {0.2 * 12 / 11, 0.1 * 12 / 11, 6, 6, 4, 4.4};
  for (size_t i = 0; i < 6; ++i) CHECK(codebook.data<float>()[i] == doctest::Approx(want[i]).epsilon(1e-6));
  // A second update compounds the decay: all three rows to code 1.
  ema.update(rows, Tensor::from_vector(std::vector<int32_t>{1, 1, 1}, {3}), codebook);
  // N = (1/2, 3/2, 1/4); m_1 = (0.25, 0.25) + (1.2, 1.3) = (1.45, 1.55); n = 9/4; N~_1 = 1.6 / 2.55 * 2.25.
  CHECK(codebook.data<float>()[2] == doctest::Approx(1.45 / (1.6 / 2.55 * 2.25)).epsilon(1e-6));
  CHECK(codebook.data<float>()[5] == doctest::Approx(2.2 / 2 / (0.35 / 2.55 * 2.25)).epsilon(1e-6));
}

TEST_CASE("dead-code restart: only codes unused for `after` steps change, each to a row of the batch") {
  const Tensor rows = Tensor::from_vector(std::vector<float>{5, 6, 7, 8, 9, 10}, {3, 2});
  Tensor codebook = Tensor::from_vector(std::vector<float>{0, 0, 1, 1, 2, 2, 3, 3}, {4, 2});
  const Tensor before = codebook.clone();
  nn::CodebookEma ema(codebook, 0.9, 1e-5);
  nn::DeadCodeRestart restart(4, 2);
  Philox rng(7);
  // Step 1: codes 0 and 1 chosen; 2 and 3 unused for 1 step < 2: nothing restarts.
  CHECK(restart.step(rows, Tensor::from_vector(std::vector<int32_t>{0, 1, 0}, {3}), codebook, rng, &ema).empty());
  CHECK(testing::max_abs_diff(codebook, before) == 0.0);
  // Step 2: codes 0 and 2 chosen; code 3 has gone 2 steps unused (code 1 only 1): code 3 restarts, alone.
  const std::vector<int64_t> restarted = restart.step(rows, Tensor::from_vector(std::vector<int32_t>{0, 0, 2}, {3}), codebook, rng, &ema);
  REQUIRE(restarted == std::vector<int64_t>{3});
  for (int64_t i = 0; i < 6; ++i) CHECK(codebook.data<float>()[i] == before.data<float>()[i]);
  const float* e3 = codebook.data<float>() + 6;
  bool is_row = false;
  for (int64_t n = 0; n < 3; ++n) is_row |= e3[0] == rows.data<float>()[2 * n] && e3[1] == rows.data<float>()[2 * n + 1];
  CHECK(is_row);
  CHECK(restart.unused == std::vector<int64_t>{0, 1, 0, 0});
  CHECK(ema.count[3] == 1.0);
  CHECK(ema.sum[6] == e3[0]);
  CHECK(ema.sum[7] == e3[1]);
  // Step 3: code 1 reaches 2 steps unused and restarts; 3 (reset) does not.
  CHECK(restart.step(rows, Tensor::from_vector(std::vector<int32_t>{0, 0, 2}, {3}), codebook, rng, &ema) == std::vector<int64_t>{1});

  // The statistics through the checkpoint's strings and back.
  std::map<std::string, std::string> meta;
  nn::save_quantizer_state(&ema, &restart, meta);
  nn::CodebookEma ema2(before, 0.9, 1e-5);
  nn::DeadCodeRestart restart2(4, 2);
  nn::restore_quantizer_state(&ema2, &restart2, meta, "ckpt");
  CHECK(ema2.count == ema.count);
  CHECK(ema2.sum == ema.sum);
  CHECK(restart2.unused == restart.unused);
  meta.erase("vq.unused");
  CHECK_THROWS_WITH_AS(nn::restore_quantizer_state(&ema2, &restart2, meta, "ckpt"), doctest::Contains("ckpt: the checkpoint has no 'vq.unused'"),
                       std::runtime_error);
}

TEST_CASE("tokenize -> token file -> decode equals the VQ-VAE's reconstruction; other VQ-VAEs and grids are refused") {
  VqVaeModel m(tiny_config(), 5);
  m.net.eval();
  Philox rng(3);
  const Tensor x = rand_uniform({4, 3, 8, 8}, rng) * 2.0 - 1.0;
  // The training path's reconstruction: decode(z_q) with z_q from quantize (the straight-through forward).
  Tensor trained;
  {
    NoGradGuard no_grad;
    trained = m.net.decode(nn::quantize(m.net.encode(x), m.net.codebook).z_q);
  }
  const Reconstruction r = reconstruct(m, x);
  CHECK(testing::max_abs_diff(r.x_hat, trained) == 0.0);
  CHECK(r.codes.shape() == Shape{4, 2, 2});

  data::TokenGrids g;
  g.header = {.vqvae_hash = vqvae_hash(m), .vqvae_checkpoint = "vq.safetensors", .codebook_size = 6, .height = 2, .width = 2,
              .count = 4, .dataset = "cifar10", .split = "test"};
  for (int64_t i = 0; i < 16; ++i) g.codes.push_back(static_cast<uint16_t>(r.codes.contiguous().data<int32_t>()[i]));
  g.labels = {3, 1, 4, 1};
  const std::string path = (std::filesystem::temp_directory_path() / "test_vqvae_tokens.bin").string();
  data::write_token_grids(path, g);
  const data::TokenGrids back = data::read_token_grids(path);
  CHECK(back.codes == g.codes);
  CHECK(back.labels == g.labels);
  CHECK(back.header.vqvae_hash == g.header.vqvae_hash);
  std::vector<int32_t> ids(back.codes.begin(), back.codes.end());
  Tensor decoded;
  {
    NoGradGuard no_grad;
    decoded = m.net.decode_codes(Tensor::from_vector(ids, {4, 2, 2}));
  }
  CHECK(testing::max_abs_diff(decoded, r.x_hat) == 0.0);

  // The header names its VQ-VAE: another one (other weights) is refused naming both hashes; so is another grid.
  data::require_token_grids_of(back.header, path, vqvae_hash(m), "vq.safetensors", 6, 2, 2);
  VqVaeModel other(tiny_config(), 6);
  CHECK(vqvae_hash(other) != vqvae_hash(m));
  CHECK_THROWS_WITH_AS(data::require_token_grids_of(back.header, path, vqvae_hash(other), "other.safetensors", 6, 2, 2),
                       doctest::Contains(("made by the VQ-VAE vq.safetensors (hash " + vqvae_hash(m) + "), not by other.safetensors (hash " +
                                          vqvae_hash(other) + ")").c_str()),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(data::require_token_grids_of(back.header, path, vqvae_hash(m), "vq.safetensors", 6, 4, 4),
                       doctest::Contains("grids of 2 x 2 over 6 codes, but vq.safetensors makes 4 x 4 over 6"), std::invalid_argument);
  // A truncated file and a code out of range are refused naming the file.
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 2);
  CHECK_THROWS_WITH_AS(data::read_token_grids(path), doctest::Contains((path + ": token grids:").c_str()), std::runtime_error);
  g.codes[0] = 6;
  CHECK_THROWS_WITH_AS(data::write_token_grids(path, g), doctest::Contains("code 6 at 0 is not below codebook_size 6"), std::invalid_argument);
  std::filesystem::remove(path);
}

TEST_CASE("a tiny VQ-VAE learns: the loss falls over 40 Adam steps on smooth images, with EMA codes and restarts") {
  nlohmann::json config = tiny_config();
  config["vq"]["restart_after"] = 5;
  VqVaeModel m(config, 1);
  nn::CodebookEma ema(m.net.codebook, 0.9, 1e-5);
  nn::DeadCodeRestart restart(6, 5);
  nn::Adam adam(m.arena, {});
  Philox rng(9);
  // 16 smooth images: gradients with random directions.
  Tensor x = Tensor::empty({16, 3, 8, 8});
  for (int64_t n = 0; n < 16; ++n) {
    const double a = rng.uniform() * 2 - 1, b = rng.uniform() * 2 - 1, o = rng.uniform() - 0.5;
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t i = 0; i < 64; ++i) x.data<float>()[(n * 3 + c) * 64 + i] = static_cast<float>(std::tanh(o + 0.15 * (a * (i / 8) + b * (i % 8) + c)));
  }
  double first = 0, last = 0;
  for (int step = 0; step < 40; ++step) {
    m.arena.zero_grad();
    const VqVaeLoss l = vqvae_loss(m, x);
    l.loss.backward();
    {
      NoGradGuard no_grad;
      const Tensor codes = l.quantized.codes.reshape({-1});
      ema.update(l.quantized.rows, codes, m.net.codebook);
      restart.step(l.quantized.rows, codes, m.net.codebook, rng, &ema);
    }
    adam.step(2e-3);
    if (step == 0) first = l.mse;
    last = l.mse;
  }
  CHECK(last < 0.5 * first);
}
