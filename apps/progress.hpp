// Progress with an ETA for long work (sampling, the bound's evaluation) of every model family, on stderr so
// that stdout (--json, the samples) stays clean.
//
// On a terminal the line is redrawn in place ('\r', at most five times a second):
//   evaluate: 3400/20000 network evaluations (17%), 41 s, ETA 00:03:22
// Redirected to a file or a pipe it never writes '\r': one line each time another tenth of the work is done
// (10%, 20%, ..., 100%), so that a log holds ten lines however long the work. --quiet silences it, and only
// process 0 of an MPI job reports.
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

namespace diffuse {

class Progress {
 public:
  struct Options {
    bool quiet = false;
    int terminal = -1;            // 1: redraw in place, 0: plain lines, -1: whether stderr is a terminal
    std::FILE* out = nullptr;     // nullptr: stderr
    bool report = true;           // false: count but print nothing (the processes of a job other than 0)
  };
  // `what` names the work ("sample", "evaluate"), `unit` what is counted ("network evaluations").
  Progress(std::string what, int64_t total, std::string unit, Options options);
  Progress(std::string what, int64_t total, std::string unit = "network evaluations");  // default options
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void advance(int64_t n = 1);  // n more units done
  void finish();                // ends the terminal line (called by the destructor too)
  int64_t done() const { return done_; }

 private:
  void draw(bool final_line);

  std::string what_, unit_;
  int64_t total_, done_ = 0;
  bool quiet_, terminal_;
  std::FILE* out_;
  int next_tenth_ = 1;          // plain lines: the next multiple of 10% to report
  bool line_open_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

// "HH:MM:SS" of a number of seconds (negative or non-finite: "--:--:--").
std::string format_duration(double seconds);

}  // namespace diffuse
