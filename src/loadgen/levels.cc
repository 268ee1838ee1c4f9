#include "loadgen/levels.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace peregrine::loadgen {
namespace {

constexpr size_t kMaxListedLevels = 10'000;  // a typo like 1:1e9:1 must not build a huge list

absl::StatusOr<double> ParseNumber(const std::string& text, bool integer_only, const std::string& spec) {
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(value) || value <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("bad level '", text, "' in '", spec, "': want a positive number"));
  }
  if (integer_only && value != std::floor(value)) {
    return absl::InvalidArgumentError(absl::StrCat("bad level '", text, "' in '", spec, "': want a whole number"));
  }
  return value;
}

}  // namespace

double LevelList::Level(size_t i) const {
  if (i < values.size()) return values[i];
  if (!open_ended || values.empty()) return 0;
  return values.back() + static_cast<double>(i - values.size() + 1) * step;
}

absl::StatusOr<LevelList> ParseLevels(const std::string& spec, bool integer_only) {
  LevelList list;
  const std::vector<std::string> items = absl::StrSplit(spec, ',');
  for (size_t n = 0; n < items.size(); ++n) {
    const std::vector<std::string> parts = absl::StrSplit(items[n], ':');
    if (parts.size() == 1) {
      ASSIGN_OR_RETURN(double value, ParseNumber(parts[0], integer_only, spec));
      list.values.push_back(value);
      continue;
    }
    if (parts.size() > 3) return absl::InvalidArgumentError(absl::StrCat("bad range '", items[n], "': want start:stop:step"));
    ASSIGN_OR_RETURN(double start, ParseNumber(parts[0], integer_only, spec));
    double step = 1;
    if (parts.size() == 3) {
      ASSIGN_OR_RETURN(step, ParseNumber(parts[2], integer_only, spec));
    }
    if (parts[1].empty()) {
      if (n + 1 != items.size() || parts.size() != 3) {
        return absl::InvalidArgumentError(absl::StrCat("open range '", items[n], "' must be last and name a step"));
      }
      list.values.push_back(start);
      list.open_ended = true;
      list.step = step;
      break;
    }
    ASSIGN_OR_RETURN(double stop, ParseNumber(parts[1], integer_only, spec));
    if (stop < start) return absl::InvalidArgumentError(absl::StrCat("range '", items[n], "' ends before it starts"));
    // Counting steps by index (not by adding) keeps 0.1-sized steps from drifting past the stop.
    const double steps = std::floor((stop - start) / step + 1e-9);
    if (list.values.size() + steps + 1 > kMaxListedLevels) {
      return absl::InvalidArgumentError(absl::StrCat("range '", items[n], "' has too many levels"));
    }
    for (int64_t k = 0; k <= static_cast<int64_t>(steps); ++k) list.values.push_back(start + static_cast<double>(k) * step);
  }
  if (list.values.empty()) return absl::InvalidArgumentError("no levels given");
  return list;
}

absl::StatusOr<int64_t> ParseDurationNs(const std::string& text) {
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  const std::string unit(end ? end : "");
  double scale = 0;
  if (unit.empty() || unit == "ms") scale = 1e6;
  else if (unit == "s") scale = 1e9;
  else if (unit == "us") scale = 1e3;
  else if (unit == "ns") scale = 1;
  else if (unit == "m" || unit == "min") scale = 60e9;
  if (text.empty() || end == text.c_str() || scale == 0 || !std::isfinite(value) || value < 0) {
    return absl::InvalidArgumentError(absl::StrCat("bad duration '", text, "': want e.g. 250ms, 2s, 500us"));
  }
  return static_cast<int64_t>(std::llround(value * scale));
}

std::string FormatDurationNs(double ns) {
  char buffer[32];
  if (ns >= 1e9) std::snprintf(buffer, sizeof(buffer), "%.2f s", ns / 1e9);
  else if (ns >= 1e6) std::snprintf(buffer, sizeof(buffer), "%.2f ms", ns / 1e6);
  else if (ns >= 1e3) std::snprintf(buffer, sizeof(buffer), "%.0f us", ns / 1e3);
  else std::snprintf(buffer, sizeof(buffer), "%.0f ns", ns);
  return buffer;
}

}  // namespace peregrine::loadgen
