#include "engine/precision.h"

#include <string>

#include "oneapi/dnnl/dnnl.hpp"

namespace peregrine::engine {

absl::StatusOr<Precision> ParsePrecision(std::string_view name) {
  if (name == "fp32") return Precision::kFloat32;
  if (name == "bf16") return Precision::kBfloat16;
  return absl::InvalidArgumentError("unknown precision \"" + std::string(name) + "\" (expected fp32 or bf16)");
}

std::string_view PrecisionName(Precision precision) {
  return precision == Precision::kBfloat16 ? "bf16" : "fp32";
}

bool HasNativeBfloat16() {
  // oneDNN's ISA values are bit sets: a level includes every bit of the levels below it.
  const auto bf16 = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_bf16);
  return (static_cast<unsigned>(dnnl::get_effective_cpu_isa()) & bf16) == bf16;
}

Precision EffectivePrecision(Precision requested) {
  if (requested == Precision::kBfloat16 && HasNativeBfloat16()) return Precision::kBfloat16;
  return Precision::kFloat32;
}

}  // namespace peregrine::engine
