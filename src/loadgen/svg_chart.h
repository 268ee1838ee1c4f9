// Small self-contained SVG charts for the HTML report: line charts (linear or log axes, optional custom
// tick labels) and stacked bar charts. Output is one <svg> element with inline attributes only - no
// scripts, fonts or external references - so a report opens offline and renders the same everywhere.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace peregrine::loadgen {

struct Series {
  Series() = default;
  Series(std::string name_in, std::string color_in, std::vector<std::pair<double, double>> points_in = {},
         bool markers_in = true)
      : name(std::move(name_in)), color(std::move(color_in)), points(std::move(points_in)), markers(markers_in) {}

  std::string name;
  std::string color;                           // CSS color
  std::vector<std::pair<double, double>> points;  // (x, y), drawn in the given order
  bool markers = true;
  std::vector<std::string> labels;                // optional, one per point: drawn beside its marker
};

struct Axis {
  std::string label;
  bool log = false;                                      // log10 scale (non-positive values are skipped)
  std::vector<std::pair<double, std::string>> ticks;     // custom ticks; empty: chosen automatically
};

struct LineChart {
  std::string title;
  Axis x, y;
  std::vector<Series> series;
  std::vector<std::pair<double, std::string>> y_rules;   // horizontal reference lines (e.g. an SLO)
};

struct BarChart {
  std::string title;
  std::string y_label;
  std::vector<std::string> categories;                   // one bar per category
  std::vector<Series> stacks;                            // points[i].second: the stack's height in bar i
  std::vector<std::pair<double, std::string>> y_rules;
  std::string empty_text;                                // shown in the plot when every bar is empty
};

std::string RenderSvg(const LineChart& chart, int width = 680, int height = 380);
std::string RenderSvg(const BarChart& chart, int width = 680, int height = 380);

// Escapes &, <, >, " and ' for HTML/XML text and attributes.
std::string XmlEscape(const std::string& text);

// The i-th color of a fixed palette that stays distinguishable for ~10 series.
std::string PaletteColor(size_t i);

// "1", "2.5", "10k", "1.2M": compact tick labels.
std::string CompactNumber(double value);

}  // namespace peregrine::loadgen
