// KServe datatype names. The request decoder is in json_decode.cc, the response encoder in json_encode.cc.
#include "kserve/codec.h"

#include <array>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace peregrine::kserve {
namespace {

constexpr std::array<std::pair<DataType, std::string_view>, 14> kNames = {{
    {DataType::kBool, "BOOL"},     {DataType::kUint8, "UINT8"},     {DataType::kUint16, "UINT16"},
    {DataType::kUint32, "UINT32"}, {DataType::kUint64, "UINT64"},   {DataType::kInt8, "INT8"},
    {DataType::kInt16, "INT16"},   {DataType::kInt32, "INT32"},     {DataType::kInt64, "INT64"},
    {DataType::kFloat16, "FP16"},  {DataType::kFloat32, "FP32"},    {DataType::kFloat64, "FP64"},
    {DataType::kBFloat16, "BF16"}, {DataType::kString, "BYTES"},
}};

}  // namespace

std::string_view DatatypeName(DataType type) {
  for (const auto& [t, name] : kNames) {
    if (t == type) return name;
  }
  return "INVALID";
}

absl::StatusOr<DataType> ParseDatatype(std::string_view name) {
  for (const auto& [t, known] : kNames) {
    if (known == name) return t;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown datatype '", std::string(name), "'"));
}

}  // namespace peregrine::kserve
