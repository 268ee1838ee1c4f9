#include "kserve/timeout.h"

#include <charconv>
#include <string>

#include "absl/strings/str_cat.h"

namespace peregrine::kserve {

absl::StatusOr<std::chrono::microseconds> ParseTimeout(std::string_view text) {
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  const std::string_view unit = text.substr(ptr - text.data());
  double scale = 1;
  if (unit == "ms") {
    scale = 1e3;
  } else if (unit == "s") {
    scale = 1e6;
  } else if (!unit.empty() && unit != "us") {
    ec = std::errc::invalid_argument;
  }
  if (ec != std::errc() || !(value > 0) || value * scale > 1e12) {
    return absl::InvalidArgumentError(absl::StrCat("invalid timeout '", std::string(text),
                                                   "' (a positive number of microseconds, or with unit us, ms or s)"));
  }
  return std::chrono::microseconds(static_cast<int64_t>(value * scale));
}

}  // namespace peregrine::kserve
