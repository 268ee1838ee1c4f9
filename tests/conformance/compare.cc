#include "compare.h"

#include <cmath>
#include <cstring>
#include <sstream>

#include "absl/strings/str_format.h"

namespace peregrine::conformance {

float HalfToFloat(uint16_t bits) {
  const uint32_t sign = (bits >> 15) & 1;
  const uint32_t exponent = (bits >> 10) & 0x1f;
  const uint32_t mantissa = bits & 0x3ff;
  float magnitude;
  if (exponent == 0) {
    magnitude = std::ldexp(static_cast<float>(mantissa), -24);  // subnormal
  } else if (exponent == 31) {
    magnitude = mantissa == 0 ? INFINITY : NAN;
  } else {
    magnitude = std::ldexp(static_cast<float>(mantissa | 0x400), static_cast<int>(exponent) - 25);
  }
  return sign ? -magnitude : magnitude;
}

float BFloat16ToFloat(uint16_t bits) {
  const uint32_t word = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &word, sizeof f);
  return f;
}

namespace {

double FloatingAt(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DataType::kFloat16: return HalfToFloat(t.data_as<uint16_t>()[i]);
    case DataType::kBFloat16: return BFloat16ToFloat(t.data_as<uint16_t>()[i]);
    case DataType::kFloat32: return t.data_as<float>()[i];
    default: return t.data_as<double>()[i];
  }
}

std::string ElementToString(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DataType::kString: return "\"" + t.data_as<std::string>()[i] + "\"";
    case DataType::kBool: return t.data_as<uint8_t>()[i] ? "true" : "false";
    case DataType::kInt64: return std::to_string(t.data_as<int64_t>()[i]);
    case DataType::kUint64: return std::to_string(t.data_as<uint64_t>()[i]);
    case DataType::kFloat16:
    case DataType::kBFloat16:
    case DataType::kFloat32:
    case DataType::kFloat64: return absl::StrFormat("%.9g", FloatingAt(t, i));
    default: return absl::StrFormat("%.0f", t.GetAsDouble(i));
  }
}

// "[1, 2]" - the multi-dimensional position of flat index i.
std::string PositionOf(const Shape& shape, int64_t i) {
  std::vector<int64_t> position(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    if (shape[d] == 0) break;
    position[d] = i % shape[d];
    i /= shape[d];
  }
  return ShapeToString(position);
}

bool ElementsEqual(const Tensor& a, const Tensor& b, int64_t i) {
  if (a.dtype() == DataType::kString) return a.data_as<std::string>()[i] == b.data_as<std::string>()[i];
  const size_t size = ElementSize(a.dtype());
  const auto* pa = static_cast<const char*>(a.data()) + i * size;
  const auto* pb = static_cast<const char*>(b.data()) + i * size;
  if (a.dtype() == DataType::kBool) return (*pa != 0) == (*pb != 0);
  return std::memcmp(pa, pb, size) == 0;
}

// Whether one floating element pair is close enough; updates the running maxima.
bool FloatingClose(double expected, double got, Tolerance tol, Comparison& result) {
  if (std::isnan(expected) || std::isnan(got)) return std::isnan(expected) && std::isnan(got);
  if (std::isinf(expected) || std::isinf(got)) return expected == got;
  const double abs_error = std::fabs(got - expected);
  result.max_abs_error = std::max(result.max_abs_error, abs_error);
  if (expected != 0) result.max_rel_error = std::max(result.max_rel_error, abs_error / std::fabs(expected));
  return abs_error <= tol.atol + tol.rtol * std::fabs(expected);
}

}  // namespace

Comparison CompareTensors(const Tensor& expected, const Tensor& got, Tolerance tolerance) {
  Comparison result;
  if (expected.dtype() != got.dtype()) {
    result.ok = false;
    result.message = absl::StrFormat("dtype: expected %s, got %s", DataTypeName(expected.dtype()),
                                     DataTypeName(got.dtype()));
    return result;
  }
  if (expected.shape() != got.shape()) {
    result.ok = false;
    result.message = "shape: expected " + ShapeToString(expected.shape()) + ", got " + ShapeToString(got.shape());
    return result;
  }
  const int64_t n = expected.num_elements();
  if (n > 0 && (expected.data() == nullptr || got.data() == nullptr)) {
    result.ok = false;
    result.message = got.data() == nullptr ? "output has no data" : "expected tensor has no data";
    return result;
  }
  const bool floating = IsFloatingPoint(expected.dtype());
  int64_t mismatches = 0, first = -1;
  for (int64_t i = 0; i < n; ++i) {
    const bool same = floating ? FloatingClose(FloatingAt(expected, i), FloatingAt(got, i), tolerance, result)
                               : ElementsEqual(expected, got, i);
    if (!same && mismatches++ == 0) first = i;
  }
  if (mismatches == 0) return result;
  result.ok = false;
  result.message = absl::StrFormat("%d of %d values differ; first at %s (index %d): expected %s, got %s", mismatches,
                                   n, PositionOf(expected.shape(), first), first, ElementToString(expected, first),
                                   ElementToString(got, first));
  if (floating) {
    result.message += absl::StrFormat("; max abs error %.3g, max rel error %.3g (rtol %g, atol %g)",
                                      result.max_abs_error, result.max_rel_error, tolerance.rtol, tolerance.atol);
  }
  return result;
}

}  // namespace peregrine::conformance
