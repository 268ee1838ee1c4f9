// Element types of tensors. The numeric values are ONNX's TensorProto.DataType values, so converting
// between the two is a cast that the loader checks with IsSupported().
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include "common/status.h"

namespace peregrine {

enum class DataType : int32_t {
  kUndefined = 0,
  kFloat32 = 1,
  kUint8 = 2,
  kInt8 = 3,
  kUint16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kString = 8,  // elements are std::string objects
  kBool = 9,    // one byte per element, 0 or 1
  kFloat16 = 10,
  kFloat64 = 11,
  kUint32 = 12,
  kUint64 = 13,
  kBFloat16 = 16,
};

// Size in bytes of one element; sizeof(std::string) for kString, 0 for kUndefined.
size_t ElementSize(DataType type);

// Lower-case NumPy-like name: "float32", "int64", "bool", "string", ...
absl::string_view DataTypeName(DataType type);

// Parses a DataTypeName() back; InvalidArgument for an unknown name.
absl::StatusOr<DataType> ParseDataType(absl::string_view name);

// True for the ONNX element types Peregrine can hold (all of the enum above except kUndefined).
bool IsSupported(int32_t onnx_type);

bool IsFloatingPoint(DataType type);
bool IsInteger(DataType type);  // signed or unsigned integers, not bool

// Maps C++ element types to DataType: TypeOf<float>() == DataType::kFloat32.
template <typename T> constexpr DataType TypeOf();
template <> constexpr DataType TypeOf<float>() { return DataType::kFloat32; }
template <> constexpr DataType TypeOf<double>() { return DataType::kFloat64; }
template <> constexpr DataType TypeOf<int8_t>() { return DataType::kInt8; }
template <> constexpr DataType TypeOf<uint8_t>() { return DataType::kUint8; }
template <> constexpr DataType TypeOf<int16_t>() { return DataType::kInt16; }
template <> constexpr DataType TypeOf<uint16_t>() { return DataType::kUint16; }
template <> constexpr DataType TypeOf<int32_t>() { return DataType::kInt32; }
template <> constexpr DataType TypeOf<uint32_t>() { return DataType::kUint32; }
template <> constexpr DataType TypeOf<int64_t>() { return DataType::kInt64; }
template <> constexpr DataType TypeOf<uint64_t>() { return DataType::kUint64; }
template <> constexpr DataType TypeOf<bool>() { return DataType::kBool; }
template <> constexpr DataType TypeOf<std::string>() { return DataType::kString; }

}  // namespace peregrine
