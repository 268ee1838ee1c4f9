// The HTML report of `peregrine bench`: one self-contained page (inline CSS and SVG, no scripts, no
// external resources) that opens offline. Sections: what was run; the verdict (last good level, why the run
// stopped); charts - latency percentiles against throughput, throughput per level, the latency distribution
// of every level (percentile spectrum on a "nines" axis), errors by kind per level; the table of numbers.
#pragma once

#include <string>

#include "loadgen/ramp.h"
#include "loadgen/result.h"

namespace peregrine::loadgen {

std::string HtmlReport(const BenchResult& result, const RampLimits& limits);

}  // namespace peregrine::loadgen
