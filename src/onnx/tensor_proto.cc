#include "onnx/tensor_proto.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "onnx/onnx_pb.h"

namespace peregrine::onnx_import {
namespace {

namespace fs = std::filesystem;

absl::Status SizeMismatch(const onnx::TensorProto& proto, int64_t expected, int64_t got) {
  return absl::InvalidArgumentError(absl::StrCat("tensor '", proto.name(), "': dims need ", expected,
                                                 " elements but the data holds ", got));
}

// Copies a repeated field of type S into elements of type D.
template <typename D, typename S>
absl::Status CopyField(const onnx::TensorProto& proto, const google::protobuf::RepeatedField<S>& field, Tensor& out) {
  if (field.size() != out.num_elements()) return SizeMismatch(proto, out.num_elements(), field.size());
  D* dst = out.data_as<D>();
  for (int i = 0; i < field.size(); ++i) dst[i] = static_cast<D>(field.Get(i));
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadExternal(const onnx::TensorProto& proto, const std::string& base_dir) {
  std::string location;
  int64_t offset = 0;
  int64_t length = -1;
  for (const auto& entry : proto.external_data()) {
    if (entry.key() == "location") location = entry.value();
    const bool number_ok = (entry.key() != "offset" || absl::SimpleAtoi(entry.value(), &offset)) &&
                           (entry.key() != "length" || absl::SimpleAtoi(entry.value(), &length));
    if (!number_ok) return absl::InvalidArgumentError(absl::StrCat("tensor '", proto.name(), "': bad external data ", entry.key()));
  }
  // External files must live beside the model: a path that climbs out of it is refused.
  fs::path rel(location);
  if (location.empty() || rel.is_absolute() || rel.lexically_normal().string().rfind("..", 0) == 0) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", proto.name(), "': bad external data location '", location, "'"));
  }
  fs::path path = fs::path(base_dir) / rel;
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("tensor '", proto.name(), "': cannot open external data ", path.string()));
  in.seekg(0, std::ios::end);
  const int64_t file_size = in.tellg();
  if (offset < 0 || offset > file_size) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", proto.name(), "': external data offset is past the end of ", path.string()));
  }
  if (length < 0) length = file_size - offset;
  if (length > file_size - offset) {  // not offset + length: both come from the file and may overflow
    return absl::InvalidArgumentError(absl::StrCat("tensor '", proto.name(), "': external data range is past the end of ", path.string()));
  }
  std::string bytes(static_cast<size_t>(length), '\0');
  in.seekg(offset);
  in.read(bytes.data(), length);
  return bytes;
}

absl::Status CopyTypedFields(const onnx::TensorProto& proto, Tensor& out) {
  switch (out.dtype()) {
    case DataType::kFloat32: return CopyField<float>(proto, proto.float_data(), out);
    case DataType::kFloat64: return CopyField<double>(proto, proto.double_data(), out);
    case DataType::kInt64: return CopyField<int64_t>(proto, proto.int64_data(), out);
    case DataType::kUint32: return CopyField<uint32_t>(proto, proto.uint64_data(), out);
    case DataType::kUint64: return CopyField<uint64_t>(proto, proto.uint64_data(), out);
    case DataType::kInt32: return CopyField<int32_t>(proto, proto.int32_data(), out);
    case DataType::kInt16: return CopyField<int16_t>(proto, proto.int32_data(), out);
    case DataType::kUint16: case DataType::kFloat16: case DataType::kBFloat16:
      return CopyField<uint16_t>(proto, proto.int32_data(), out);
    case DataType::kInt8: return CopyField<int8_t>(proto, proto.int32_data(), out);
    case DataType::kUint8: case DataType::kBool: return CopyField<uint8_t>(proto, proto.int32_data(), out);
    case DataType::kString: {
      if (proto.string_data_size() != out.num_elements()) return SizeMismatch(proto, out.num_elements(), proto.string_data_size());
      for (int i = 0; i < proto.string_data_size(); ++i) out.data_as<std::string>()[i] = proto.string_data(i);
      return absl::OkStatus();
    }
    default: return absl::InvalidArgumentError(absl::StrCat("tensor '", proto.name(), "': unsupported type"));
  }
}

// Element count of a tensor's dims; InvalidArgument for a negative dimension or a count that
// would overflow (even when a later zero dimension makes the tensor empty).
absl::StatusOr<int64_t> CheckedElements(const onnx::TensorProto& proto, const Shape& shape) {
  constexpr int64_t kMaxElements = int64_t{1} << 48;
  int64_t elements = 1;
  for (int64_t d : shape) {
    if (d < 0) return absl::InvalidArgumentError(absl::StrCat("tensor '", proto.name(), "': negative dimension"));
    if (d > 0 && elements > kMaxElements / d) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", proto.name(), "': dims ", ShapeToString(shape), " are too large"));
    }
    elements *= d;
  }
  return elements;
}

// How many elements the typed data field used for `dtype` holds.
int64_t TypedFieldSize(const onnx::TensorProto& proto, DataType dtype) {
  switch (dtype) {
    case DataType::kFloat32: return proto.float_data_size();
    case DataType::kFloat64: return proto.double_data_size();
    case DataType::kInt64: return proto.int64_data_size();
    case DataType::kUint32: case DataType::kUint64: return proto.uint64_data_size();
    case DataType::kString: return proto.string_data_size();
    default: return proto.int32_data_size();
  }
}

}  // namespace

absl::StatusOr<Tensor> TensorFromProto(const onnx::TensorProto& proto, const std::string& base_dir) {
  if (!IsSupported(proto.data_type())) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", proto.name(), "': unsupported element type ", proto.data_type()));
  }
  const DataType dtype = static_cast<DataType>(proto.data_type());
  Shape shape(proto.dims().begin(), proto.dims().end());
  // The dims come from the file: check them before anything multiplies or allocates them, so a
  // few bytes cannot ask for an overflowing element count or terabytes of zeros.
  ASSIGN_OR_RETURN(const int64_t elements, CheckedElements(proto, shape));

  const bool external = proto.data_location() == onnx::TensorProto::EXTERNAL;
  if (external || proto.has_raw_data()) {
    if (dtype == DataType::kString) return absl::InvalidArgumentError(absl::StrCat("tensor '", proto.name(), "': raw string data"));
    std::string external_bytes;
    if (external) {
      ASSIGN_OR_RETURN(external_bytes, ReadExternal(proto, base_dir));
    }
    const std::string& raw = external ? external_bytes : proto.raw_data();
    const size_t element_size = ElementSize(dtype);
    if (raw.size() != static_cast<size_t>(elements) * element_size) {
      return SizeMismatch(proto, elements, static_cast<int64_t>(raw.size() / std::max<size_t>(1, element_size)));
    }
    Tensor out = Tensor::Zeros(dtype, shape);
    if (!raw.empty()) std::memcpy(out.data(), raw.data(), raw.size());  // ONNX raw data is little-endian, as is x86
    return out;
  }
  const int64_t stored = TypedFieldSize(proto, dtype);
  if (stored != elements) return SizeMismatch(proto, elements, stored);
  Tensor out = Tensor::Zeros(dtype, shape);
  RETURN_IF_ERROR(CopyTypedFields(proto, out));
  return out;
}

absl::StatusOr<Tensor> LoadTensorFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  onnx::TensorProto proto;
  if (!proto.ParseFromString(buffer.str())) return absl::InvalidArgumentError(absl::StrCat(path, " is not a serialized TensorProto"));
  return TensorFromProto(proto, std::filesystem::path(path).parent_path().string());
}

}  // namespace peregrine::onnx_import
