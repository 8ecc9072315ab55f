// Negative log-likelihood bound of a DDPM in bits per dimension (Ho et al. eq. 5, the paper's Table 1
// number; docs/math.md §2.8; reference code `calc_bpd_loop`).
//
//   L = L_T + sum_{t=2..T} L_{t-1} + L_0,   every term averaged over the D dimensions and divided by ln 2,
//   L_T = KL(q(x_T | x0) || N(0, I)),  L_{t-1} = KL(q(x_{t-1} | x_t, x0) || p_theta(x_{t-1} | x_t)),
//   L_0 = -log p_theta(x0 | x1) (discretized Gaussian decoder),  x0_hat clipped to [-1, 1] by default.
//
// Two methods, and the result always says which was used and on how many images:
//   exact:    every t = T..1, each at a fresh x_t ~ q(x_t | x0): T network evaluations per batch of images
//             (as the reference; "exact" means every term is evaluated, each with one x_t sample).
//   estimate: L_T + L_0 (at a fresh x_1) + the mean over `draws` draws of (T - 1) L_{t-1} at
//             t ~ U{2..T} and x_t ~ q(x_t | x0). Since E_t[(T - 1) L_{t-1}] = sum_{t=2..T} L_{t-1}, it is
//             an unbiased estimate of the bound at 1 + draws network evaluations per image. L_0 is taken
//             out of the draw because it can be most of the bound (a young model's decoder term), and a
//             uniform t would see it once in T draws.
// Both run under NoGradGuard. Images are [N, C, H, W] on the 256-level grid of [-1, 1] (x/127.5 - 1).
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "diffusion/gaussian_diffusion.hpp"
#include "tensor/random.hpp"

namespace diffuse::diffusion {

struct BpdResult {
  std::string method;        // "exact" or "estimate"
  int64_t num_images = 0;
  int64_t timesteps = 0;     // T
  int64_t draws = 0;         // estimate: draws per image; exact: 0
  bool clip_denoised = true;
  // exact only, T entries each, entry step = t - 1 for the paper's t, averaged over the images:
  std::vector<double> terms_bpd;  // L_{t-1} in bits/dim (entry 0 is L_0, the decoder term)
  std::vector<double> x0_mse;     // mean over dimensions of (x0_hat - x0)^2 at that t
  double prior_bpd = 0;           // L_T, averaged over the images
  double total_bpd = 0;           // the bound, averaged over the images
  double total_stderr = 0;        // standard error of total_bpd across images (estimate: of the per-image means)
  std::vector<double> per_image_bpd;  // each image's bound (estimate: the mean of its draws)

  nlohmann::json to_json() const;  // every field, for writing next to a run's outputs
  static BpdResult from_json(const nlohmann::json& j);  // the inverse of to_json
};

// Called after each network evaluation: the batch's first image index and the paper's t just evaluated
// (bpd_estimate passes -1: its t is drawn at random per example).
using BpdProgress = std::function<void(int64_t first_image, int64_t t)>;

// batch_size 0 evaluates all images in one batch. bpd_exact: every term of Ho et al. eq. 5; bpd_estimate:
// the stratified estimate of it (docs/math.md §2.8).
BpdResult bpd_exact(const EpsModel& model, const GaussianDiffusion& diffusion, const Tensor& images, Philox& rng,
                    int64_t batch_size = 0, bool clip_denoised = true, const BpdProgress& progress = {});
BpdResult bpd_estimate(const EpsModel& model, const GaussianDiffusion& diffusion, const Tensor& images, Philox& rng,
                       int64_t draws = 1, int64_t batch_size = 0, bool clip_denoised = true,
                       const BpdProgress& progress = {});

// Progressive lossy decoding (Ho et al. 2020 §4.3, Algorithms 3-4, Fig. 5), read off an exact result. A
// receiver that has been sent x_T, x_{T-1}, ..., x_t has received
//   rate(t) = L_T + sum_{s=t+1..T} L_{s-1} = L_T + L_{T-1} + ... + L_t   bits/dim,
// and its guess of x0 is x0_hat(x_t) (eq. 15: x0_hat as the bound computes it, clipped to [-1, 1] unless
// clip_denoised is off), at the distortion
//   distortion(t) = sqrt(mean over images and dimensions of (x0_hat - x0)^2) * 127.5,
// the RMSE on the [0, 255] scale (x0_mse is on [-1, 1]). At t = 1 the rate is the bound less L_0, the
// paper's "rate" of 1.78 bits/dim beside the distortion L_0 (§4.3). As the bound, every t draws its own
// x_t ~ q(x_t | x0) rather than following one chain: the same marginals, hence the same expectations.
struct RateDistortion {
  int64_t timesteps = 0, num_images = 0;
  double total_bpd = 0;                 // the whole bound (rate(1) + L_0)
  std::vector<int64_t> t;               // 1..T
  std::vector<double> rate_bpd;         // rate(t), entry t - 1
  std::vector<double> distortion_rmse;  // distortion(t), entry t - 1

  nlohmann::json to_json() const;
  static RateDistortion from_json(const nlohmann::json& j);  // throws naming the missing or inconsistent field
};
// Throws std::invalid_argument unless r is an exact result (an estimate has no per-t terms).
RateDistortion progressive_rate_distortion(const BpdResult& r);

// Combines results of one method on disjoint image sets (e.g. chunks of a test set), weighting by
// num_images. Throws if the methods, T, draws or clipping differ.
BpdResult merge_bpd(const BpdResult& a, const BpdResult& b);

}  // namespace diffuse::diffusion
