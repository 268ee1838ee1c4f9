// The Timeout request header, shared by the infer and generate endpoints.
#pragma once

#include <chrono>
#include <string_view>

#include "common/status.h"

namespace peregrine::kserve {

// A number with an optional unit (us, ms, s); a bare number is microseconds, as Triton's "timeout"
// request parameter is. InvalidArgument for anything else, zero, or over about 11 days.
absl::StatusOr<std::chrono::microseconds> ParseTimeout(std::string_view text);

}  // namespace peregrine::kserve
