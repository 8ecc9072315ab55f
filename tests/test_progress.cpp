// The progress of sampling and evaluation (apps/progress.cpp): plain lines every tenth of the work and no
// '\r' when redirected, a line redrawn in place on a terminal, nothing when quiet.
#include <doctest/doctest.h>

#include <cstdio>
#include <string>

#include "apps/progress.hpp"

using namespace diffuse;

namespace {
// What a Progress of `total` units, advanced one at a time, writes.
std::string output_of(int64_t total, Progress::Options options) {
  std::FILE* f = std::tmpfile();
  REQUIRE(f != nullptr);
  options.out = f;
  {
    Progress progress("evaluate", total, "network evaluations", options);
    for (int64_t i = 0; i < total; ++i) progress.advance();
  }
  std::rewind(f);
  std::string text;
  for (int c; (c = std::fgetc(f)) != EOF;) text += static_cast<char>(c);
  std::fclose(f);
  return text;
}

size_t count(const std::string& text, char c) {
  size_t n = 0;
  for (char x : text) n += x == c;
  return n;
}
}  // namespace

TEST_CASE("redirected, progress prints a line per tenth of the work and never a carriage return") {
  const std::string text = output_of(250, {.terminal = 0});
  CHECK(count(text, '\r') == 0);
  CHECK(count(text, '\n') == 10);
  CHECK(text.find("evaluate: 25/250 network evaluations (10%)") == 0);
  CHECK(text.find("evaluate: 250/250 network evaluations (100%), 00:00:00 elapsed, ETA 00:00:00\n") != std::string::npos);
  // Fewer units than tenths: one line per unit, still ending at 100%.
  const std::string few = output_of(3, {.terminal = 0});
  CHECK(count(few, '\n') == 3);
  CHECK(few.find("3/3 network evaluations (100%)") != std::string::npos);
}

TEST_CASE("on a terminal progress redraws one line in place and ends it") {
  const std::string text = output_of(50, {.terminal = 1});
  CHECK(count(text, '\r') >= 1);
  CHECK(count(text, '\n') == 1);
  CHECK(text.back() == '\n');
  CHECK(text.find("50/50 network evaluations (100%)") != std::string::npos);
}

TEST_CASE("quiet progress, or a process other than 0, prints nothing") {
  CHECK(output_of(100, {.quiet = true, .terminal = 0}).empty());
  CHECK(output_of(100, {.quiet = true, .terminal = 1}).empty());
  CHECK(output_of(100, {.terminal = 0, .report = false}).empty());
  CHECK(format_duration(3725) == "01:02:05");
  CHECK(format_duration(-1) == "--:--:--");
}
