#include "diffusion/ddpm_nll.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "diffusion/gaussian_likelihood.hpp"
#include "tensor/autograd.hpp"
#include "tensor/conv2d.hpp"
#include "tensor/ops.hpp"

namespace diffuse::diffusion {

namespace {

void check_images(const Tensor& images, const char* op) {
  if (images.dim() < 2 || images.size(0) < 1 || images.dtype() == DType::I32)
    shape_error(op, "images must be floating [N, C, H, W] with N >= 1, got " + describe(images));
}

int64_t batch_of(int64_t batch_size, int64_t n) { return batch_size > 0 ? std::min(batch_size, n) : n; }

// Mean and its standard error (sample standard deviation / sqrt(n); 0 for one value).
void finish_totals(BpdResult& r) {
  const double n = static_cast<double>(r.per_image_bpd.size());
  double sum = 0;
  for (double v : r.per_image_bpd) sum += v;
  r.total_bpd = sum / n;
  double ss = 0;
  for (double v : r.per_image_bpd) ss += (v - r.total_bpd) * (v - r.total_bpd);
  r.total_stderr = n > 1 ? std::sqrt(ss / (n - 1) / n) : 0.0;
}

}  // namespace

nlohmann::json BpdResult::to_json() const {
  return {{"method", method},       {"num_images", num_images},     {"timesteps", timesteps},
          {"draws", draws},         {"clip_denoised", clip_denoised}, {"total_bpd", total_bpd},
          {"total_stderr", total_stderr}, {"prior_bpd", prior_bpd}, {"terms_bpd", terms_bpd},
          {"x0_mse", x0_mse},       {"per_image_bpd", per_image_bpd}};
}

BpdResult BpdResult::from_json(const nlohmann::json& j) {
  BpdResult r;
  j.at("method").get_to(r.method);
  j.at("num_images").get_to(r.num_images);
  j.at("timesteps").get_to(r.timesteps);
  j.at("draws").get_to(r.draws);
  j.at("clip_denoised").get_to(r.clip_denoised);
  j.at("total_bpd").get_to(r.total_bpd);
  j.at("total_stderr").get_to(r.total_stderr);
  j.at("prior_bpd").get_to(r.prior_bpd);
  j.at("terms_bpd").get_to(r.terms_bpd);
  j.at("x0_mse").get_to(r.x0_mse);
  j.at("per_image_bpd").get_to(r.per_image_bpd);
  return r;
}

BpdResult bpd_exact(const EpsModel& model, const GaussianDiffusion& diffusion, const Tensor& images, Philox& rng,
                    int64_t batch_size, bool clip_denoised, const BpdProgress& progress) {
  check_images(images, "bpd_exact");
  NoGradGuard no_grad;
  FrozenWeights frozen_weights;  // the model is fixed throughout: the ops keep what they derive from its weights
  const int64_t N = images.size(0), T = diffusion.timesteps(), bs = batch_of(batch_size, N);
  BpdResult r;
  r.method = "exact";
  r.num_images = N;
  r.timesteps = T;
  r.clip_denoised = clip_denoised;
  r.terms_bpd.assign(static_cast<size_t>(T), 0.0);
  r.x0_mse.assign(static_cast<size_t>(T), 0.0);
  r.per_image_bpd.assign(static_cast<size_t>(N), 0.0);

  for (int64_t start = 0; start < N; start += bs) {
    const int64_t n = std::min(bs, N - start);
    const Tensor x0 = images.narrow(0, start, n).contiguous();
    const std::vector<double> prior = diffusion.prior_bpd(x0).to_vector();
    for (int64_t b = 0; b < n; ++b) {
      r.per_image_bpd[start + b] = prior[b];
      r.prior_bpd += prior[b];
    }
    for (int64_t t = T; t >= 1; --t) {
      const Tensor step = step_tensor(n, t - 1);
      const Tensor x_t = diffusion.q_sample(x0, step, randn(x0.shape(), rng, x0.dtype()));  // fresh x_t per t
      const Tensor eps = model(x_t, step);
      Tensor x0_hat;
      const std::vector<double> term = diffusion.vb_terms_bpd(eps, x0, x_t, step, clip_denoised, &x0_hat).to_vector();
      const std::vector<double> mse = mean_flat(square(x0_hat - x0)).to_vector();
      for (int64_t b = 0; b < n; ++b) {
        r.per_image_bpd[start + b] += term[b];
        r.terms_bpd[t - 1] += term[b];
        r.x0_mse[t - 1] += mse[b];
      }
      if (progress) progress(start, t);
    }
  }
  for (int64_t step = 0; step < T; ++step) {
    r.terms_bpd[step] /= static_cast<double>(N);
    r.x0_mse[step] /= static_cast<double>(N);
  }
  r.prior_bpd /= static_cast<double>(N);
  finish_totals(r);
  return r;
}

BpdResult bpd_estimate(const EpsModel& model, const GaussianDiffusion& diffusion, const Tensor& images, Philox& rng,
                       int64_t draws, int64_t batch_size, bool clip_denoised, const BpdProgress& progress) {
  check_images(images, "bpd_estimate");
  if (draws < 1) throw std::invalid_argument("bpd_estimate: draws must be at least 1, got " + std::to_string(draws));
  NoGradGuard no_grad;
  FrozenWeights frozen_weights;  // the model is fixed throughout: the ops keep what they derive from its weights
  const int64_t N = images.size(0), T = diffusion.timesteps(), bs = batch_of(batch_size, N);
  BpdResult r;
  r.method = "estimate";
  r.num_images = N;
  r.timesteps = T;
  r.draws = draws;
  r.clip_denoised = clip_denoised;
  r.per_image_bpd.assign(static_cast<size_t>(N), 0.0);

  // Stratified: L_T and L_0 exactly (L_0 alone can be most of a young model's bound, and a uniform t
  // would draw it once in T), plus (T - 1) L_{t-1} at t ~ U{2..T}, averaged over the draws.
  for (int64_t start = 0; start < N; start += bs) {
    const int64_t n = std::min(bs, N - start);
    const Tensor x0 = images.narrow(0, start, n).contiguous();
    const std::vector<double> prior = diffusion.prior_bpd(x0).to_vector();
    for (int64_t b = 0; b < n; ++b) r.prior_bpd += prior[b];
    auto terms_at = [&](const Tensor& step) {
      const Tensor x_t = diffusion.q_sample(x0, step, randn(x0.shape(), rng, x0.dtype()));
      const std::vector<double> term = diffusion.vb_terms_bpd(model(x_t, step), x0, x_t, step, clip_denoised).to_vector();
      if (progress) progress(start, -1);
      return term;
    };
    const std::vector<double> decoder = terms_at(step_tensor(n, 0));  // L_0 at t = 1
    for (int64_t b = 0; b < n; ++b) r.per_image_bpd[start + b] += prior[b] + decoder[b];
    for (int64_t d = 0; T > 1 && d < draws; ++d) {
      const Tensor step = randint({n}, 1, T, rng);  // 0-based 1..T-1: t ~ U{2..T}
      const std::vector<double> term = terms_at(step);
      for (int64_t b = 0; b < n; ++b)
        r.per_image_bpd[start + b] += static_cast<double>(T - 1) * term[b] / static_cast<double>(draws);
    }
  }
  r.prior_bpd /= static_cast<double>(N);
  finish_totals(r);
  return r;
}

BpdResult merge_bpd(const BpdResult& a, const BpdResult& b) {
  if (a.method != b.method || a.timesteps != b.timesteps || a.draws != b.draws || a.clip_denoised != b.clip_denoised)
    throw std::invalid_argument("merge_bpd: results of different methods or settings (" + a.method + ", T " +
                                std::to_string(a.timesteps) + " vs " + b.method + ", T " +
                                std::to_string(b.timesteps) + ")");
  BpdResult r = a;
  const double na = static_cast<double>(a.num_images), nb = static_cast<double>(b.num_images), n = na + nb;
  r.num_images = a.num_images + b.num_images;
  for (size_t i = 0; i < r.terms_bpd.size(); ++i) r.terms_bpd[i] = (na * a.terms_bpd[i] + nb * b.terms_bpd[i]) / n;
  for (size_t i = 0; i < r.x0_mse.size(); ++i) r.x0_mse[i] = (na * a.x0_mse[i] + nb * b.x0_mse[i]) / n;
  r.prior_bpd = (na * a.prior_bpd + nb * b.prior_bpd) / n;
  r.per_image_bpd.insert(r.per_image_bpd.end(), b.per_image_bpd.begin(), b.per_image_bpd.end());
  finish_totals(r);
  return r;
}

RateDistortion progressive_rate_distortion(const BpdResult& r) {
  const size_t T = static_cast<size_t>(r.timesteps);
  if (r.method != "exact" || r.terms_bpd.size() != T || r.x0_mse.size() != T || T == 0)
    throw std::invalid_argument("progressive_rate_distortion: needs every term of the bound (method exact), got method '" +
                                r.method + "' with " + std::to_string(r.terms_bpd.size()) + " terms");
  RateDistortion rd;
  rd.timesteps = r.timesteps;
  rd.num_images = r.num_images;
  rd.total_bpd = r.total_bpd;
  rd.t.resize(T);
  rd.rate_bpd.resize(T);
  rd.distortion_rmse.resize(T);
  double rate = r.prior_bpd;  // L_T: x_T is sent first
  for (size_t t = T; t >= 1; --t) {
    if (t < T) rate += r.terms_bpd[t];  // L_t: sending x_t given x_{t+1}
    rd.t[t - 1] = static_cast<int64_t>(t);
    rd.rate_bpd[t - 1] = rate;
    rd.distortion_rmse[t - 1] = std::sqrt(std::max(r.x0_mse[t - 1], 0.0)) * 127.5;
  }
  return rd;
}

nlohmann::json RateDistortion::to_json() const {
  return {{"timesteps", timesteps}, {"num_images", num_images}, {"total_bpd", total_bpd},
          {"t", t},                 {"rate_bpd", rate_bpd},     {"distortion_rmse", distortion_rmse}};
}

RateDistortion RateDistortion::from_json(const nlohmann::json& j) {
  RateDistortion rd;
  for (const char* key : {"timesteps", "t", "rate_bpd", "distortion_rmse"})
    if (!j.contains(key)) throw std::invalid_argument(std::string("rate-distortion JSON: no \"") + key + "\" field");
  j.at("timesteps").get_to(rd.timesteps);
  rd.num_images = j.value("num_images", int64_t{0});
  rd.total_bpd = j.value("total_bpd", 0.0);
  j.at("t").get_to(rd.t);
  j.at("rate_bpd").get_to(rd.rate_bpd);
  j.at("distortion_rmse").get_to(rd.distortion_rmse);
  if (rd.rate_bpd.size() != rd.t.size() || rd.distortion_rmse.size() != rd.t.size() || rd.t.empty())
    throw std::invalid_argument("rate-distortion JSON: t, rate_bpd and distortion_rmse must be non-empty and of one length");
  return rd;
}

}  // namespace diffuse::diffusion
