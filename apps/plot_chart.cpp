#include "apps/plot_chart.hpp"

#include <plplot.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace diffuse {

namespace {
// Colour map 0: white (0, the background), near black (1, axes and text), light grey (2, the grid), then
// the lines' colours (Tableau 10).
constexpr int kBackground = 0, kInk = 1, kGrid = 2, kFirstLine = 3;
constexpr int kPalette[][3] = {{31, 119, 180}, {214, 39, 40},   {44, 160, 44},   {255, 127, 14}, {148, 103, 189},
                               {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207}};
constexpr int kColors = static_cast<int>(std::size(kPalette));
constexpr const char* kMarker = "#(728)";  // a Hershey glyph: a small star marking each point

bool has_device(const char* name) {
  int count = 256;
  std::vector<const char*> menu(static_cast<size_t>(count)), devices(static_cast<size_t>(count));
  const char** m = menu.data();
  const char** d = devices.data();
  plgDevs(&m, &d, &count);
  for (int i = 0; i < count; ++i)
    if (d[i] && std::strcmp(d[i], name) == 0) return true;
  return false;
}

struct Range {
  double lo, hi;  // in plotting coordinates (log axes: log10)
};

// The axis's range: given, or around the finite values of the lines (log: the positive ones, in half decades).
Range axis_range(const Axis& axis, const std::vector<Line>& lines, bool is_x) {
  if (axis.min != axis.max) {
    if (!axis.log) return {axis.min, axis.max};
    return {std::log10(std::max(axis.min, 1e-300)), std::log10(std::max(axis.max, 1e-300))};
  }
  double lo = INFINITY, hi = -INFINITY;
  for (const Line& line : lines)
    for (double v : is_x ? line.x : line.y)
      if (std::isfinite(v) && (!axis.log || v > 0)) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
  if (axis.log) {
    if (!(lo <= hi)) return {0, 1};
    Range r{std::floor(2 * std::log10(lo)) / 2, std::ceil(2 * std::log10(hi)) / 2};  // half decades
    if (r.hi <= r.lo) r.hi = r.lo + 0.5;
    return r;
  }
  if (!(lo <= hi)) return {0, 1};
  if (hi == lo) return {lo - std::max(std::abs(lo) * 0.1, 0.5), hi + std::max(std::abs(hi) * 0.1, 0.5)};
  const double pad = is_x ? 0 : 0.04 * (hi - lo);
  return {lo - pad, hi + pad};
}

// A value in plotting coordinates: log10 on a log axis, raised to the axis's lower end when <= 0.
double coordinate(double v, bool log, const Range& range) {
  if (!log) return v;
  return v > 0 ? std::log10(v) : range.lo;
}

int line_color(const Line& line, int index) { return kFirstLine + (line.color >= 0 ? line.color : index) % kColors; }

// The line's runs of finite points, drawn in the current window.
void draw_line(const Line& line, int color, bool dashed, const Axis& x, const Range& xr, const Axis& y, const Range& yr) {
  plcol0(color);
  pllsty(dashed ? 2 : 1);
  plwidth(2.0);
  std::vector<PLFLT> xs, ys;
  auto flush = [&] {
    if (xs.size() > 1) plline(static_cast<PLINT>(xs.size()), xs.data(), ys.data());
    if (line.points && !xs.empty()) plstring(static_cast<PLINT>(xs.size()), xs.data(), ys.data(), kMarker);
    xs.clear();
    ys.clear();
  };
  const size_t n = std::min(line.x.size(), line.y.size());
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(line.x[i]) || !std::isfinite(line.y[i])) {
      flush();
      continue;
    }
    xs.push_back(coordinate(line.x[i], x.log, xr));
    ys.push_back(coordinate(line.y[i], y.log, yr));
  }
  flush();
  pllsty(1);
  plwidth(1.0);
}

// Where the legend covers least: of the four corners and the middles of the left and right sides (each a
// region of 40% of the width by 35% of the height, about a legend's size), the one the lines cross least, in
// plotting coordinates. Each segment between two points counts at 8 places along it, so that a line that only
// passes through a region counts too; ties go to the corners, in the order listed.
LegendAt emptiest_place(const Panel& panel, const Range& xr, const Range& yr) {
  if (panel.legend != LegendAt::Auto) return panel.legend;
  struct Place {
    LegendAt at;
    double u0, u1, v0, v1;  // the region, as fractions of the axes
  };
  const Place places[6] = {{LegendAt::TopRight, 0.6, 1, 0.65, 1},  {LegendAt::TopLeft, 0, 0.4, 0.65, 1},
                           {LegendAt::BottomRight, 0.6, 1, 0, 0.35}, {LegendAt::BottomLeft, 0, 0.4, 0, 0.35},
                           {LegendAt::Right, 0.6, 1, 0.325, 0.675},  {LegendAt::Left, 0, 0.4, 0.325, 0.675}};
  int crossings[6] = {};
  const auto at = [](double v, bool log, const Range& r) { return ((log ? std::log10(v) : v) - r.lo) / (r.hi - r.lo); };
  const auto count = [&](double u, double v) {
    for (int p = 0; p < 6; ++p)
      crossings[p] += u >= places[p].u0 && u <= places[p].u1 && v >= places[p].v0 && v <= places[p].v1;
  };
  for (const Line& line : panel.lines) {
    double pu = NAN, pv = NAN;
    for (size_t i = 0; i < line.x.size() && i < line.y.size(); ++i) {
      const double u = at(line.x[i], panel.x.log, xr), v = at(line.y[i], panel.y.log, yr);
      if (!std::isfinite(u) || !std::isfinite(v)) {
        pu = pv = NAN;
        continue;
      }
      if (std::isfinite(pu))
        for (int k = 1; k < 8; ++k) count(pu + (u - pu) * k / 8, pv + (v - pv) * k / 8);
      count(u, v);
      pu = u;
      pv = v;
    }
  }
  int best = 0;
  for (int p = 1; p < 6; ++p)
    if (crossings[p] < crossings[best]) best = p;
  return places[best].at;
}

void draw_legend(const Panel& panel, LegendAt where) {
  struct Entry {
    std::string text;
    int color, style, symbol;
  };
  std::vector<Entry> entries;
  for (size_t i = 0; i < panel.lines.size(); ++i)
    if (!panel.lines[i].label.empty())
      entries.push_back({panel.lines[i].label, line_color(panel.lines[i], static_cast<int>(i)), 1, panel.lines[i].points});
  for (size_t i = 0; i < panel.lines2.size(); ++i)
    if (!panel.lines2[i].label.empty())
      entries.push_back({panel.lines2[i].label, line_color(panel.lines2[i], static_cast<int>(panel.lines.size() + i)), 2,
                         panel.lines2[i].points});
  if (entries.empty() || where == LegendAt::None) return;
  const PLINT n = static_cast<PLINT>(entries.size());
  std::vector<PLINT> opts, text_colors, line_colors, line_styles, box_colors(n, 0), box_patterns(n, 0), symbol_colors,
      symbol_numbers(n, 1);
  std::vector<PLFLT> line_widths(n, 2.0), box_scales(n, 1.0), box_widths(n, 1.0), symbol_scales(n, 1.0);
  std::vector<const char*> texts, symbols;
  for (const Entry& e : entries) {
    opts.push_back(PL_LEGEND_LINE | (e.symbol ? PL_LEGEND_SYMBOL : 0));
    text_colors.push_back(kInk);
    line_colors.push_back(e.color);
    line_styles.push_back(e.style);
    symbol_colors.push_back(e.color);
    texts.push_back(e.text.c_str());
    symbols.push_back(kMarker);
  }
  PLINT position = PL_POSITION_INSIDE;
  switch (where) {
    case LegendAt::Auto:  // resolved by draw()
    case LegendAt::TopRight: position |= PL_POSITION_TOP | PL_POSITION_RIGHT; break;
    case LegendAt::TopLeft: position |= PL_POSITION_TOP | PL_POSITION_LEFT; break;
    case LegendAt::BottomRight: position |= PL_POSITION_BOTTOM | PL_POSITION_RIGHT; break;
    case LegendAt::BottomLeft: position |= PL_POSITION_BOTTOM | PL_POSITION_LEFT; break;
    case LegendAt::Right: position |= PL_POSITION_RIGHT; break;
    case LegendAt::Left: position |= PL_POSITION_LEFT; break;
    case LegendAt::None: return;
  }
  PLFLT width = 0, height = 0;
  pllegend(&width, &height, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX, position, 0.02, 0.02, 0.08, kBackground, kInk,
           1, 0, 0, n, opts.data(), 1.0, 0.8, 2.0, 0.0, text_colors.data(), texts.data(), box_colors.data(),
           box_patterns.data(), box_scales.data(), box_widths.data(), line_colors.data(), line_styles.data(),
           line_widths.data(), symbol_colors.data(), symbol_scales.data(), symbol_numbers.data(), symbols.data());
}
}  // namespace

int palette_size() { return kColors; }

Figure::Figure(const std::string& path, int width, int height, int columns) {
  if (width < 100 || height < 100 || width > 20000 || height > 20000)
    throw std::invalid_argument("--width / --height: each must be in 100..20000 pixels, got " + std::to_string(width) + " x " +
                                std::to_string(height));
  if (!has_device("pngcairo"))
    throw std::runtime_error("PLplot has no pngcairo output driver: install Debian's plplot-driver-cairo (scripts/setup.sh)");
  {  // PLplot's driver would exit the program on a file it cannot open: say which file, and why, first
    std::FILE* probe = std::fopen(path.c_str(), "wb");
    if (!probe) throw std::runtime_error(path + ": cannot write (" + std::strerror(errno) + ")");
    std::fclose(probe);
  }
  plsdev("pngcairo");
  plsfnam(path.c_str());
  plspage(0, 0, width, height, 0, 0);
  plscmap0n(16);
  plscol0(kBackground, 255, 255, 255);
  plscol0(kInk, 30, 30, 30);
  plscol0(kGrid, 225, 225, 225);
  for (int i = 0; i < kColors; ++i) plscol0(kFirstLine + i, kPalette[i][0], kPalette[i][1], kPalette[i][2]);
  columns_ = std::max(columns, 1);
  plssub(columns_, 1);
  plinit();
  open_ = true;
}

Figure::~Figure() { finish(); }

void Figure::finish() {
  if (!open_) return;
  plend();
  open_ = false;
}

namespace {
// The x range of every line (both axes') and the y range of the left axis' lines.
std::pair<Range, Range> panel_ranges(const Panel& panel) {
  std::vector<Line> all = panel.lines;
  all.insert(all.end(), panel.lines2.begin(), panel.lines2.end());
  return {axis_range(panel.x, all, true), axis_range(panel.y, panel.lines, false)};
}
}  // namespace

LegendAt legend_place(const Panel& panel) {
  const auto [xr, yr] = panel_ranges(panel);
  return emptiest_place(panel, xr, yr);
}

void Figure::draw(const Panel& panel) {
  const bool right = !panel.lines2.empty();
  const auto [xr, yr] = panel_ranges(panel);
  pladv(0);
  // Narrower panels keep room for the axes' labels: the margins are shares of the panel's width.
  const double scale = columns_ == 1 ? 1.0 : 0.8, side = std::min(0.11 * columns_ * scale, 0.3);
  plschr(0, 0.85 * scale);
  plvpor(side, right ? 1 - side : 1 - 0.04 * columns_, 0.12, 0.89);
  plwind(xr.lo, xr.hi, yr.lo, yr.hi);
  const std::string xl = panel.x.log ? "l" : "", yl = panel.y.log ? "l" : "";
  plcol0(kGrid);
  plbox(("g" + xl).c_str(), 0, 0, ("g" + yl).c_str(), 0, 0);
  plcol0(kInk);
  plbox(("bcnst" + xl).c_str(), 0, 0, ((right ? "bnstv" : "bcnstv") + yl).c_str(), 0, 0);
  plmtex("b", 3.0, 0.5, 0.5, panel.x.label.c_str());
  plmtex("l", 5.0, 0.5, 0.5, panel.y.label.c_str());
  plmtex("t", 1.8, 0.5, 0.5, panel.title.c_str());
  for (size_t i = 0; i < panel.lines.size(); ++i)
    draw_line(panel.lines[i], line_color(panel.lines[i], static_cast<int>(i)), false, panel.x, xr, panel.y, yr);
  if (right) {
    const Range r2 = axis_range(panel.y2, panel.lines2, false);
    plwind(xr.lo, xr.hi, r2.lo, r2.hi);
    plcol0(kInk);
    plbox("", 0, 0, (panel.y2.log ? "cmstvl" : "cmstv"), 0, 0);
    plmtex("r", 4.0, 0.5, 0.5, panel.y2.label.c_str());
    for (size_t i = 0; i < panel.lines2.size(); ++i)
      draw_line(panel.lines2[i], line_color(panel.lines2[i], static_cast<int>(panel.lines.size() + i)), true, panel.x, xr,
                panel.y2, r2);
  }
  draw_legend(panel, emptiest_place(panel, xr, yr));
}

}  // namespace diffuse
