// Line charts in PNG files, drawn by PLplot (Debian's libplplot-dev) through its pngcairo driver (Debian's
// plplot-driver-cairo), with no display needed. The one unit that calls PLplot: apps/plot.cpp composes the
// figures of `diffuse plot` from Panels.
//
// A Figure is one PNG of width x height pixels holding `columns` panels side by side. A Panel is a box with
// its axes (each linear or log10), lines with a legend, and optionally a second y axis on the right, whose
// lines are drawn dashed against it (a share in percent beside per-t terms, say). On a log axis values
// <= 0 cannot be drawn: they are raised to the axis's lower end (the panel's caller says so in its labels).
#pragma once
#include <string>
#include <vector>


namespace diffuse {

struct Line {
  std::string label;        // in the legend; empty: not listed
  std::vector<double> x, y;
  int color = -1;           // an index into the palette; -1: the next one
  bool points = false;      // also mark each point (few points, or a strided bound)
};

struct Axis {
  std::string label;
  bool log = false;
  double min = 0, max = 0;  // min == max: from the data (log: whole half-decades around it)
};

// Auto: of the corners and the side middles, the place the lines cross least (ties: in the order listed).
enum class LegendAt { Auto, TopRight, TopLeft, BottomRight, BottomLeft, Right, Left, None };

struct Panel {
  std::string title;
  Axis x, y;
  std::vector<Line> lines;
  Axis y2;                  // the right-hand axis of lines2 (unused when lines2 is empty)
  std::vector<Line> lines2;
  LegendAt legend = LegendAt::Auto;  // inside the box
};

class Figure {
 public:
  // Opens `path` for a width x height PNG of `columns` panels; throws naming what is missing when PLplot
  // has no pngcairo driver.
  Figure(const std::string& path, int width, int height, int columns = 1);
  ~Figure();  // ends the PLplot stream (writing the file if finish was not called)
  Figure(const Figure&) = delete;
  Figure& operator=(const Figure&) = delete;

  void draw(const Panel& panel);  // the next panel, left to right
  void finish();                  // writes the file

 private:
  bool open_ = false;
  int columns_ = 1;
};

// Where draw puts the panel's legend: panel.legend, or for Auto the place it resolves to.
LegendAt legend_place(const Panel& panel);

// The number of colours lines can take before they repeat.
int palette_size();

}  // namespace diffuse
