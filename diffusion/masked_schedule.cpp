#include "diffusion/masked_schedule.hpp"

#include <cmath>
#include <numbers>
#include <sstream>
#include <stdexcept>

namespace diffuse::diffusion {

MaskedSchedule MaskedSchedule::make(const std::string& name, double eps, double exponent) {
  MaskedSchedule s;
  if (name == "linear") s.kind = MaskedScheduleKind::Linear;
  else if (name == "cosine") s.kind = MaskedScheduleKind::Cosine;
  else if (name == "polynomial") s.kind = MaskedScheduleKind::Polynomial;
  else if (name == "loglinear") s.kind = MaskedScheduleKind::LogLinear;
  else
    throw std::invalid_argument("diffusion.schedule: '" + name +
                                "' is not a masking schedule (linear, cosine, polynomial, loglinear)");
  auto shown = [](double v) {
    std::ostringstream o;
    o << v;
    return o.str();
  };
  if (!(eps > 0 && eps < 0.5))
    throw std::invalid_argument("diffusion.eps: the clipping of the schedule's ends must be in (0, 0.5), got " + shown(eps));
  if (!(exponent > 0)) throw std::invalid_argument("diffusion.exponent: must be positive, got " + shown(exponent));
  s.eps = eps;
  s.exponent = exponent;
  return s;
}

std::string MaskedSchedule::name() const {
  switch (kind) {
    case MaskedScheduleKind::Linear: return "linear";
    case MaskedScheduleKind::Cosine: return "cosine";
    case MaskedScheduleKind::Polynomial: return "polynomial";
    case MaskedScheduleKind::LogLinear: return "loglinear";
  }
  return "";
}

double MaskedSchedule::alpha(double t) const {
  const double squeeze = 1.0 - 2.0 * eps;
  switch (kind) {
    case MaskedScheduleKind::Linear: return squeeze * (1.0 - t) + eps;
    case MaskedScheduleKind::Cosine: return squeeze * (1.0 - std::cos(std::numbers::pi / 2 * (1.0 - t))) + eps;
    case MaskedScheduleKind::Polynomial: return squeeze * (1.0 - std::pow(t, exponent)) + eps;
    case MaskedScheduleKind::LogLinear: return 1.0 - (1.0 - eps) * t;
  }
  return 0;
}

double MaskedSchedule::alpha_prime(double t) const {
  const double squeeze = 1.0 - 2.0 * eps;
  switch (kind) {
    case MaskedScheduleKind::Linear: return -squeeze;
    case MaskedScheduleKind::Cosine: return -squeeze * std::numbers::pi / 2 * std::sin(std::numbers::pi / 2 * (1.0 - t));
    case MaskedScheduleKind::Polynomial: return t == 0 && exponent < 1 ? -INFINITY : -squeeze * exponent * std::pow(t, exponent - 1.0);
    case MaskedScheduleKind::LogLinear: return -(1.0 - eps);
  }
  return 0;
}

double MaskedSchedule::time_of_alpha(double target) const {
  double lo = 0, hi = 1;  // alpha decreases from alpha(0) to alpha(1)
  for (int i = 0; i < 60; ++i) {
    const double mid = 0.5 * (lo + hi);
    (alpha(mid) > target ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

double MaskedSchedule::weight(double t) const {
  const double masked = 1.0 - alpha(t);
  return masked > 0 ? -alpha_prime(t) / masked : 0.0;
}

}  // namespace diffuse::diffusion
