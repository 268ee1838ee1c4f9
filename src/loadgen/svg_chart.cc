#include "loadgen/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace peregrine::loadgen {
namespace {

constexpr int kLeft = 72, kRight = 170, kTop = 40, kBottom = 52;
constexpr const char* kFont = "font-family=\"sans-serif\"";

double NiceStep(double raw) {
  if (raw <= 0 || !std::isfinite(raw)) return 1;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / magnitude;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * magnitude;
}

// A data range mapped to pixels, with its ticks.
struct Scale {
  bool log = false;
  double lo = 0, hi = 1;
  double pixel_lo = 0, pixel_hi = 1;
  std::vector<std::pair<double, std::string>> ticks;

  double Map(double v) const {
    double t = log ? (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo)) : (v - lo) / (hi - lo);
    return pixel_lo + t * (pixel_hi - pixel_lo);
  }
  bool Valid(double v) const { return std::isfinite(v) && (!log || v > 0); }
};

Scale MakeScale(const Axis& axis, double dmin, double dmax, double pixel_lo, double pixel_hi, bool from_zero) {
  Scale s;
  s.log = axis.log;
  s.pixel_lo = pixel_lo;
  s.pixel_hi = pixel_hi;
  for (const auto& [v, label] : axis.ticks) {
    dmin = std::min(dmin, v);
    dmax = std::max(dmax, v);
  }
  if (!(dmin <= dmax)) dmin = dmax = s.log ? 1 : 0;  // no data
  if (s.log) {
    dmin = std::max(dmin, 1e-12);
    dmax = std::max(dmax, dmin);
    s.lo = std::pow(10.0, std::floor(std::log10(dmin)));
    s.hi = std::pow(10.0, std::ceil(std::log10(dmax)));
    if (s.hi <= s.lo) s.hi = s.lo * 10;
    const int decades = static_cast<int>(std::lround(std::log10(s.hi / s.lo)));
    for (double p = s.lo; p <= s.hi * 1.0001; p *= 10) {
      for (double m : {1.0, 2.0, 5.0}) {
        if (m != 1.0 && decades > 3) continue;
        if (p * m <= s.hi * 1.0001) s.ticks.emplace_back(p * m, CompactNumber(p * m));
      }
    }
  } else {
    if (from_zero) dmin = std::min(dmin, 0.0);
    if (dmax <= dmin) dmax = dmin + 1;
    const double step = NiceStep((dmax - dmin) / 5);
    s.lo = std::floor(dmin / step) * step;
    s.hi = std::ceil(dmax / step - 1e-9) * step;
    if (s.hi <= s.lo) s.hi = s.lo + step;
    for (double v = s.lo; v <= s.hi + step * 1e-6; v += step) s.ticks.emplace_back(v, CompactNumber(v));
  }
  if (!axis.ticks.empty()) s.ticks = axis.ticks;
  return s;
}

std::string Open(int width, int height, const std::string& title) {
  return absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" "
      "class=\"chart\"><title>%s</title>\n<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n"
      "<text x=\"%d\" y=\"24\" %s font-size=\"15\" font-weight=\"bold\" fill=\"#222\">%s</text>\n",
      width, height, width, height, XmlEscape(title), width, height, kLeft, kFont, XmlEscape(title));
}

std::string XAxis(const Scale& x, double y_pixel, const std::string& label, int width) {
  std::string out;
  for (const auto& [v, text] : x.ticks) {
    if (!x.Valid(v)) continue;
    const double px = x.Map(v);
    absl::StrAppendFormat(&out,
                          "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>"
                          "<text x=\"%.1f\" y=\"%.1f\" %s font-size=\"11\" text-anchor=\"middle\" fill=\"#444\">%s</text>\n",
                          px, kTop, px, y_pixel, px, y_pixel + 16, kFont, XmlEscape(text));
  }
  absl::StrAppendFormat(&out, "<text x=\"%.1f\" y=\"%.1f\" %s font-size=\"12\" text-anchor=\"middle\" fill=\"#222\">%s</text>\n",
                        (kLeft + width - kRight) / 2.0, y_pixel + 36, kFont, XmlEscape(label));
  return out;
}

std::string YAxis(const Scale& y, double x_right, const std::string& label, int height) {
  std::string out;
  for (const auto& [v, text] : y.ticks) {
    if (!y.Valid(v)) continue;
    const double py = y.Map(v);
    absl::StrAppendFormat(&out,
                          "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>"
                          "<text x=\"%d\" y=\"%.1f\" %s font-size=\"11\" text-anchor=\"end\" fill=\"#444\">%s</text>\n",
                          kLeft, py, x_right, py, kLeft - 6, py + 4, kFont, XmlEscape(text));
  }
  const double mid = (kTop + height - kBottom) / 2.0;
  absl::StrAppendFormat(&out,
                        "<text x=\"16\" y=\"%.1f\" %s font-size=\"12\" text-anchor=\"middle\" fill=\"#222\" "
                        "transform=\"rotate(-90 16 %.1f)\">%s</text>\n",
                        mid, kFont, mid, XmlEscape(label));
  return out;
}

std::string Frame(int width, int height) {
  return absl::StrFormat("<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#888\"/>\n", kLeft,
                         kTop, width - kLeft - kRight, height - kTop - kBottom);
}

std::string Legend(const std::vector<Series>& series, int width) {
  std::string out;
  for (size_t i = 0; i < series.size(); ++i) {
    const double y = kTop + 8 + 18.0 * static_cast<double>(i);
    absl::StrAppendFormat(&out,
                          "<rect x=\"%d\" y=\"%.1f\" width=\"12\" height=\"12\" fill=\"%s\"/>"
                          "<text x=\"%d\" y=\"%.1f\" %s font-size=\"12\" fill=\"#222\">%s</text>\n",
                          width - kRight + 14, y, XmlEscape(series[i].color), width - kRight + 32, y + 10, kFont,
                          XmlEscape(series[i].name));
  }
  return out;
}

std::string Rules(const std::vector<std::pair<double, std::string>>& rules, const Scale& y, double x_left, double x_right) {
  std::string out;
  for (const auto& [v, label] : rules) {
    if (!y.Valid(v) || v < y.lo || v > y.hi) continue;
    const double py = y.Map(v);
    absl::StrAppendFormat(&out,
                          "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#c0392b\" stroke-dasharray=\"6 4\"/>"
                          "<text x=\"%.1f\" y=\"%.1f\" %s font-size=\"11\" text-anchor=\"end\" fill=\"#c0392b\">%s</text>\n",
                          x_left, py, x_right, py, x_right - 4, py - 4, kFont, XmlEscape(label));
  }
  return out;
}

}  // namespace

std::string XmlEscape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string PaletteColor(size_t i) {
  static const char* kColors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                  "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  return kColors[i % (sizeof(kColors) / sizeof(kColors[0]))];
}

std::string CompactNumber(double value) {
  const double a = std::fabs(value);
  char buffer[32];
  if (a >= 1e6) std::snprintf(buffer, sizeof(buffer), "%gM", value / 1e6);
  else if (a >= 1e4) std::snprintf(buffer, sizeof(buffer), "%gk", value / 1e3);
  else std::snprintf(buffer, sizeof(buffer), "%g", std::fabs(value) < 1e-12 ? 0.0 : value);
  return buffer;
}

std::string RenderSvg(const LineChart& chart, int width, int height) {
  double x_min = std::numeric_limits<double>::infinity(), x_max = -x_min, y_min = x_min, y_max = -x_min;
  for (const Series& s : chart.series) {
    for (const auto& [x, y] : s.points) {
      if (!std::isfinite(x) || !std::isfinite(y) || (chart.x.log && x <= 0) || (chart.y.log && y <= 0)) continue;
      x_min = std::min(x_min, x);
      x_max = std::max(x_max, x);
      y_min = std::min(y_min, y);
      y_max = std::max(y_max, y);
    }
  }
  for (const auto& rule : chart.y_rules) y_max = std::max(y_max, rule.first);
  const Scale xs = MakeScale(chart.x, x_min, x_max, kLeft, width - kRight, true);
  const Scale ys = MakeScale(chart.y, y_min, y_max, height - kBottom, kTop, true);
  std::string out = Open(width, height, chart.title);
  out += XAxis(xs, height - kBottom, chart.x.label, width);
  out += YAxis(ys, width - kRight, chart.y.label, height);
  out += Frame(width, height);
  out += Rules(chart.y_rules, ys, kLeft, width - kRight);
  for (const Series& s : chart.series) {
    std::string d;
    std::string markers;
    for (size_t i = 0; i < s.points.size(); ++i) {
      const auto [x, y] = s.points[i];
      if (!xs.Valid(x) || !ys.Valid(y)) continue;
      absl::StrAppendFormat(&d, "%s%.1f %.1f", d.empty() ? "M" : " L", xs.Map(x), ys.Map(y));
      if (s.markers) {
        absl::StrAppendFormat(&markers, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>", xs.Map(x), ys.Map(y),
                              XmlEscape(s.color));
      }
      if (i < s.labels.size() && !s.labels[i].empty()) {
        absl::StrAppendFormat(&markers, "<text x=\"%.1f\" y=\"%.1f\" %s font-size=\"10\" fill=\"#555\">%s</text>",
                              xs.Map(x) + 5, ys.Map(y) + 13, kFont, XmlEscape(s.labels[i]));
      }
    }
    if (d.empty()) continue;
    absl::StrAppendFormat(&out, "<path class=\"series\" d=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"><title>%s</title></path>%s\n",
                          d, XmlEscape(s.color), XmlEscape(s.name), markers);
  }
  out += Legend(chart.series, width);
  out += "</svg>\n";
  return out;
}

std::string RenderSvg(const BarChart& chart, int width, int height) {
  const size_t n = chart.categories.size();
  std::vector<double> totals(n, 0.0);
  for (const Series& s : chart.stacks) {
    for (size_t i = 0; i < n && i < s.points.size(); ++i) totals[i] += std::max(0.0, s.points[i].second);
  }
  double y_max = 0;
  for (double t : totals) y_max = std::max(y_max, t);
  for (const auto& rule : chart.y_rules) y_max = std::max(y_max, rule.first);
  if (y_max <= 0) y_max = 1;
  const Scale ys = MakeScale(Axis{chart.y_label, false, {}}, 0, y_max, height - kBottom, kTop, true);
  std::string out = Open(width, height, chart.title);
  out += YAxis(ys, width - kRight, chart.y_label, height);
  out += Frame(width, height);
  const double plot_width = width - kLeft - kRight;
  const double slot = n ? plot_width / static_cast<double>(n) : plot_width;
  for (size_t i = 0; i < n; ++i) {
    const double x = kLeft + slot * (static_cast<double>(i) + 0.2);
    double base = 0;
    for (const Series& s : chart.stacks) {
      const double v = i < s.points.size() ? std::max(0.0, s.points[i].second) : 0.0;
      if (v <= 0) continue;
      const double top = ys.Map(base + v), bottom = ys.Map(base);
      absl::StrAppendFormat(&out, "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>%s: %s</title></rect>",
                            x, top, slot * 0.6, std::max(bottom - top, 0.5), XmlEscape(s.color), XmlEscape(s.name),
                            CompactNumber(v));
      base += v;
    }
    absl::StrAppendFormat(&out, "<text x=\"%.1f\" y=\"%d\" %s font-size=\"11\" text-anchor=\"middle\" fill=\"#444\">%s</text>\n",
                          kLeft + slot * (static_cast<double>(i) + 0.5), height - kBottom + 16, kFont,
                          XmlEscape(chart.categories[i]));
  }
  if (!chart.empty_text.empty() && std::all_of(totals.begin(), totals.end(), [](double t) { return t <= 0; })) {
    absl::StrAppendFormat(&out, "<text x=\"%.1f\" y=\"%.1f\" %s font-size=\"13\" text-anchor=\"middle\" fill=\"#2ca02c\">%s</text>\n",
                          kLeft + plot_width / 2, (kTop + height - kBottom) / 2.0, kFont, XmlEscape(chart.empty_text));
  }
  out += Rules(chart.y_rules, ys, kLeft, width - kRight);
  out += Legend(chart.stacks, width);
  out += "</svg>\n";
  return out;
}

}  // namespace peregrine::loadgen
