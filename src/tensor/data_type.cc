#include "tensor/data_type.h"

#include <array>
#include <utility>

#include "absl/strings/str_cat.h"

namespace peregrine {
namespace {

struct TypeInfo {
  DataType type;
  absl::string_view name;
  size_t size;
};

constexpr std::array<TypeInfo, 14> kTypes = {{
    {DataType::kFloat32, "float32", 4},   {DataType::kUint8, "uint8", 1},
    {DataType::kInt8, "int8", 1},         {DataType::kUint16, "uint16", 2},
    {DataType::kInt16, "int16", 2},       {DataType::kInt32, "int32", 4},
    {DataType::kInt64, "int64", 8},       {DataType::kString, "string", sizeof(std::string)},
    {DataType::kBool, "bool", 1},         {DataType::kFloat16, "float16", 2},
    {DataType::kFloat64, "float64", 8},   {DataType::kUint32, "uint32", 4},
    {DataType::kUint64, "uint64", 8},     {DataType::kBFloat16, "bfloat16", 2},
}};

const TypeInfo* Find(DataType type) {
  for (const TypeInfo& info : kTypes) {
    if (info.type == type) return &info;
  }
  return nullptr;
}

}  // namespace

size_t ElementSize(DataType type) {
  const TypeInfo* info = Find(type);
  return info ? info->size : 0;
}

absl::string_view DataTypeName(DataType type) {
  const TypeInfo* info = Find(type);
  return info ? info->name : "undefined";
}

absl::StatusOr<DataType> ParseDataType(absl::string_view name) {
  for (const TypeInfo& info : kTypes) {
    if (info.name == name) return info.type;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown data type '", name, "'"));
}

bool IsSupported(int32_t onnx_type) { return Find(static_cast<DataType>(onnx_type)) != nullptr; }

bool IsFloatingPoint(DataType type) {
  return type == DataType::kFloat32 || type == DataType::kFloat64 || type == DataType::kFloat16 ||
         type == DataType::kBFloat16;
}

bool IsInteger(DataType type) {
  switch (type) {
    case DataType::kInt8: case DataType::kUint8: case DataType::kInt16: case DataType::kUint16:
    case DataType::kInt32: case DataType::kUint32: case DataType::kInt64: case DataType::kUint64:
      return true;
    default:
      return false;
  }
}

}  // namespace peregrine
