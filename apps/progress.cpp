#include "apps/progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <utility>

namespace diffuse {

namespace {
double seconds_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}
}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--:--";
  const long long s = std::llround(seconds);
  char text[32];
  std::snprintf(text, sizeof(text), "%02lld:%02lld:%02lld", s / 3600, (s / 60) % 60, s % 60);
  return text;
}

Progress::Progress(std::string what, int64_t total, std::string unit, Options options)
    : what_(std::move(what)), unit_(std::move(unit)), total_(std::max<int64_t>(total, 0)),
      quiet_(options.quiet || !options.report),
      terminal_(options.terminal < 0 ? ::isatty(STDERR_FILENO) != 0 : options.terminal != 0),
      out_(options.out ? options.out : stderr), start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

Progress::Progress(std::string what, int64_t total, std::string unit) : Progress(std::move(what), total, std::move(unit), Options{}) {}

Progress::~Progress() { finish(); }

void Progress::advance(int64_t n) {
  done_ += n;
  if (quiet_ || total_ == 0) return;
  if (terminal_) {
    const auto now = std::chrono::steady_clock::now();
    if (done_ < total_ && seconds_between(last_draw_, now) < 0.2) return;
    last_draw_ = now;
    draw(false);
    if (done_ >= total_) finish();
    return;
  }
  // Plain lines: one per tenth of the work crossed (several tenths at once print one line).
  const int tenth = static_cast<int>(std::min<int64_t>(10, done_ * 10 / total_));
  if (tenth < next_tenth_) return;
  next_tenth_ = tenth + 1;
  draw(true);
}

void Progress::finish() {
  if (!line_open_) return;
  std::fputc('\n', out_);
  std::fflush(out_);
  line_open_ = false;
}

void Progress::draw(bool final_line) {
  const double elapsed = seconds_between(start_, std::chrono::steady_clock::now());
  const double share = static_cast<double>(std::min(done_, total_)) / static_cast<double>(total_);
  const double eta = done_ > 0 ? elapsed / share * (1 - share) : -1;
  char line[256];
  std::snprintf(line, sizeof(line), "%s: %lld/%lld %s (%.0f%%), %s elapsed, ETA %s", what_.c_str(),
                static_cast<long long>(done_), static_cast<long long>(total_), unit_.c_str(), 100 * share,
                format_duration(elapsed).c_str(), format_duration(eta).c_str());
  if (final_line) {
    std::fprintf(out_, "%s\n", line);
  } else {
    std::fprintf(out_, "\r%s\033[K", line);  // \033[K clears what a longer previous line left
    line_open_ = true;
  }
  std::fflush(out_);
}

}  // namespace diffuse
