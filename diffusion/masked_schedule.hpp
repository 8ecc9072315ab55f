// The masking schedules of continuous-time masked diffusion (MD4: Shi et al. 2024, §2 and Table 1 of its
// appendix; MDLM: Sahoo et al. 2024, §3.1): alpha_t, the probability that a token is still unmasked at
// time t in [0, 1], decreasing from about 1 at t = 0 to about 0 at t = 1. docs/math.md §6.1.
//
// Each is clipped by eps at its ends, as the reference codes do, in double precision with alpha_t and its
// derivative alpha'_t in closed form:
//   linear       alpha_t = (1 - 2 eps) (1 - t) + eps                         (MD4)
//   cosine       alpha_t = (1 - 2 eps) (1 - cos(pi/2 (1 - t))) + eps          (MD4)
//   polynomial   alpha_t = (1 - 2 eps) (1 - t^w) + eps                       (MD4's poly<w>)
//   loglinear    alpha_t = 1 - (1 - eps) t,  i.e. sigma(t) = -log(1 - (1 - eps) t)   (MDLM)
// The bound's weight is w(t) = -alpha'_t / (1 - alpha_t) >= 0 (MD4 eq. 5).
#pragma once
#include <string>

namespace diffuse::diffusion {

enum class MaskedScheduleKind { Linear, Cosine, Polynomial, LogLinear };

struct MaskedSchedule {
  MaskedScheduleKind kind = MaskedScheduleKind::Linear;
  double eps = 1e-4;      // the clipping at the ends
  double exponent = 1.0;  // w of the polynomial schedule

  // Throws std::invalid_argument naming the --set key (diffusion.schedule, diffusion.eps,
  // diffusion.exponent) for an unknown name, eps outside (0, 0.5), or an exponent <= 0.
  static MaskedSchedule make(const std::string& name, double eps, double exponent);
  std::string name() const;  // "linear", "cosine", "polynomial", "loglinear"

  double alpha(double t) const;        // alpha_t, t in [0, 1]
  double alpha_prime(double t) const;  // d alpha_t / dt (<= 0)
  // w(t) = -alpha'_t / (1 - alpha_t); 0 where nothing can be masked (alpha_t = 1).
  double weight(double t) const;
  // The t in [0, 1] at which alpha_t = alpha (clamped to the schedule's range), by bisection: the time a
  // sequence with a share 1 - alpha of masks is at (MaskGIT decoding asks a network that reads t).
  double time_of_alpha(double alpha) const;
};

}  // namespace diffuse::diffusion
