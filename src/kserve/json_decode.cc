// DecodeInferRequest: a KServe V2 request body (JSON, optionally followed by binary tensor data) into an
// InferenceRequest.
//
// Why simdjson's DOM API rather than On-Demand: the DOM parse validates the whole document (a syntax error in
// a field we never look at is still an error), lets fields come in any order ("data" before "shape"), and
// is dispatched at run time to the best SIMD kernel of the machine whatever flags we were built with. Its
// tape costs one extra pass over the numbers, which still leaves the seed request well above the 300 MB/s
// target (see bench/json_codec_bench.cc).
//
// Numbers: simdjson parses every JSON number to int64, uint64 or a correctly rounded double; FP32 values are
// the double rounded to float. That is exact for the ~17-digit text clients write from float32 values (the
// double is the float itself) and, checked over all 2^32 floats, for the shortest float32 text of every finite
// float but one: 7.038531e-26 (and its negative) rounds onto a float midpoint as a double and lands one ulp
// off. DOM numbers keep no text to parse as float instead; one value in four billion is the price. FP16 and
// BF16 are rounded from the double directly. JSON numbers too large for a double (1e999) fail the parse, and so do
// integers written without an exponent beyond 64 bits (100000000000000000000): simdjson 3.0's DOM refuses them.
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <simdjson.h>

#include "absl/strings/str_cat.h"
#include "kserve/codec.h"
#include "kserve/half_float.h"
#include "tensor/shape.h"

namespace peregrine::kserve {
namespace {

namespace dom = simdjson::dom;
using serving::InferenceInput;
using serving::InferenceRequest;
using serving::Parameter;
using serving::RequestedOutput;

// JSON documents up to this size are parsed by a per-thread parser that keeps its buffers between requests
// (no allocation in the steady state). simdjson's buffers are about 14x the document, so larger documents
// get a parser of their own that is freed afterwards instead of pinning that memory to the thread forever.
constexpr size_t kMaxRetainedJsonBytes = size_t{1} << 20;

absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

template <typename... Parts>
absl::Status InputError(std::string_view input, const Parts&... parts) {
  return absl::InvalidArgumentError(absl::StrCat("input '", Sv(input), "': ", parts...));
}

// ---- Values ---------------------------------------------------------------------------------------------

enum class ValueError { kNone, kNotNumber, kOutOfRange, kNotIntegral, kNotBool, kNotString };

const char* Describe(ValueError error) {
  switch (error) {
    case ValueError::kNotNumber: return "expected a number";
    case ValueError::kOutOfRange: return "number out of range";
    case ValueError::kNotIntegral: return "expected an integer";
    case ValueError::kNotBool: return "expected true or false";
    case ValueError::kNotString: return "expected a string";
    case ValueError::kNone: break;
  }
  return "invalid value";
}

template <typename T>
ValueError ToFloating(dom::element e, T* out) {
  double d;
  if (e.get_double().get(d)) return ValueError::kNotNumber;
  if constexpr (std::is_same_v<T, float>) {
    const float f = static_cast<float>(d);
    if (std::isinf(f)) return ValueError::kOutOfRange;  // finite in double, too large for float
    *out = f;
  } else {
    *out = d;
  }
  return ValueError::kNone;
}

template <bool kBf16>
ValueError ToHalf(dom::element e, uint16_t* out) {
  double d;
  if (e.get_double().get(d)) return ValueError::kNotNumber;
  const uint16_t bits = kBf16 ? DoubleToBf16Bits(d) : DoubleToFp16Bits(d);
  if (kBf16 ? IsInfiniteOrNanBf16(bits) : IsInfiniteOrNanFp16(bits)) return ValueError::kOutOfRange;
  *out = bits;
  return ValueError::kNone;
}

// Integers accept JSON integers and doubles with an integral value (1e3, 2.0), each range-checked.
template <typename T>
ValueError ToInteger(dom::element e, T* out) {
  using Limits = std::numeric_limits<T>;
  switch (e.type()) {
    case dom::element_type::INT64: {
      const int64_t v = e.get_int64().value_unsafe();
      if constexpr (std::is_signed_v<T>) {
        if (v < static_cast<int64_t>(Limits::min()) || v > static_cast<int64_t>(Limits::max())) {
          return ValueError::kOutOfRange;
        }
      } else {
        if (v < 0 || static_cast<uint64_t>(v) > static_cast<uint64_t>(Limits::max())) return ValueError::kOutOfRange;
      }
      *out = static_cast<T>(v);
      return ValueError::kNone;
    }
    case dom::element_type::UINT64: {  // simdjson uses this only above INT64_MAX
      const uint64_t v = e.get_uint64().value_unsafe();
      if (v > static_cast<uint64_t>(Limits::max())) return ValueError::kOutOfRange;
      *out = static_cast<T>(v);
      return ValueError::kNone;
    }
    case dom::element_type::DOUBLE: {
      const double d = e.get_double().value_unsafe();
      if (d != std::trunc(d)) return ValueError::kNotIntegral;
      // -2^(bits-1) and 2^bits are exact doubles; compare against them rather than against max(), which a
      // double cannot hold for 64-bit types.
      const double lo = std::is_signed_v<T> ? -std::ldexp(1.0, Limits::digits) : 0.0;
      const double hi = std::ldexp(1.0, Limits::digits);
      if (!(d >= lo && d < hi)) return ValueError::kOutOfRange;
      *out = static_cast<T>(d);
      return ValueError::kNone;
    }
    default:
      return ValueError::kNotNumber;
  }
}

ValueError ToBool(dom::element e, uint8_t* out) {
  bool b;
  if (e.get_bool().get(b)) return ValueError::kNotBool;
  *out = b ? 1 : 0;
  return ValueError::kNone;
}

ValueError ToString(dom::element e, std::string* out) {
  std::string_view s;
  if (e.get_string().get(s)) return ValueError::kNotString;
  out->assign(s.data(), s.size());
  return ValueError::kNone;
}

// ---- "data" ---------------------------------------------------------------------------------------------

// Writes the leaves of a (possibly nested) JSON array, row-major, into `out`, stopping at the first bad
// value or at the first value beyond `capacity`.
template <typename T, ValueError (*kConvert)(dom::element, T*)>
struct Filler {
  T* out;
  int64_t capacity;
  int64_t count = 0;
  ValueError error = ValueError::kNone;
  bool too_many = false;

  bool Leaf(dom::element e) {
    if (count == capacity) {
      too_many = true;
      return false;
    }
    error = kConvert(e, out + count);
    if (error != ValueError::kNone) return false;
    ++count;
    return true;
  }

  // Recursion depth is bounded by simdjson's maximum nesting depth (1024).
  bool Array(dom::array array) {
    for (dom::element e : array) {
      if (e.type() == dom::element_type::ARRAY) {
        if (!Array(e.get_array().value_unsafe())) return false;
      } else if (!Leaf(e)) {
        return false;
      }
    }
    return true;
  }
};

int64_t CountLeaves(dom::element e) {
  if (e.type() != dom::element_type::ARRAY) return 1;
  int64_t n = 0;
  const dom::array array = e.get_array().value_unsafe();  // a named copy: the range must outlive the loop
  for (dom::element child : array) n += CountLeaves(child);
  return n;
}

absl::Status CountMismatch(std::string_view name, dom::element data, const Shape& shape, int64_t expected) {
  return InputError(name, "data has ", CountLeaves(data), " values but shape ", ShapeToString(shape), " needs ",
                    expected);
}

template <typename T, ValueError (*kConvert)(dom::element, T*)>
absl::Status FillTensor(std::string_view name, DataType type, dom::element data, Tensor& tensor) {
  Filler<T, kConvert> filler{tensor.data_as<T>(), tensor.num_elements()};
  if (data.type() == dom::element_type::ARRAY) {
    filler.Array(data.get_array().value_unsafe());
  } else {
    filler.Leaf(data);  // a bare scalar stands for a one-element list
  }
  if (filler.error != ValueError::kNone) {
    return InputError(name, "data value ", filler.count, ": ", Describe(filler.error), " for ",
                      Sv(DatatypeName(type)));
  }
  if (filler.too_many || filler.count != tensor.num_elements()) {
    return CountMismatch(name, data, tensor.shape(), tensor.num_elements());
  }
  return absl::OkStatus();
}

absl::StatusOr<Tensor> DecodeJsonData(std::string_view name, DataType type, Shape shape, int64_t count,
                                      dom::element data, size_t json_size) {
  // Every JSON value takes at least one byte: a count beyond the document size cannot match, and checking
  // it first keeps a huge shape from allocating a huge tensor.
  if (static_cast<uint64_t>(count) > json_size) return CountMismatch(name, data, shape, count);
  // A tensor larger than the JSON text (short numbers, strings at 32 bytes each) is allocated only once the
  // values are counted, so a lying shape cannot make a small body allocate many times its size. The count is
  // a walk over simdjson's tape; the usual float request (4 bytes per ~10-20 characters) never needs it.
  if (static_cast<uint64_t>(count) * ElementSize(type) > json_size && CountLeaves(data) != count) {
    return CountMismatch(name, data, shape, count);
  }
  Tensor tensor = Tensor::Zeros(type, std::move(shape));
  absl::Status status;
  switch (type) {
    case DataType::kFloat32: status = FillTensor<float, ToFloating<float>>(name, type, data, tensor); break;
    case DataType::kFloat64: status = FillTensor<double, ToFloating<double>>(name, type, data, tensor); break;
    case DataType::kFloat16: status = FillTensor<uint16_t, ToHalf<false>>(name, type, data, tensor); break;
    case DataType::kBFloat16: status = FillTensor<uint16_t, ToHalf<true>>(name, type, data, tensor); break;
    case DataType::kInt8: status = FillTensor<int8_t, ToInteger<int8_t>>(name, type, data, tensor); break;
    case DataType::kInt16: status = FillTensor<int16_t, ToInteger<int16_t>>(name, type, data, tensor); break;
    case DataType::kInt32: status = FillTensor<int32_t, ToInteger<int32_t>>(name, type, data, tensor); break;
    case DataType::kInt64: status = FillTensor<int64_t, ToInteger<int64_t>>(name, type, data, tensor); break;
    case DataType::kUint8: status = FillTensor<uint8_t, ToInteger<uint8_t>>(name, type, data, tensor); break;
    case DataType::kUint16: status = FillTensor<uint16_t, ToInteger<uint16_t>>(name, type, data, tensor); break;
    case DataType::kUint32: status = FillTensor<uint32_t, ToInteger<uint32_t>>(name, type, data, tensor); break;
    case DataType::kUint64: status = FillTensor<uint64_t, ToInteger<uint64_t>>(name, type, data, tensor); break;
    case DataType::kBool: status = FillTensor<uint8_t, ToBool>(name, type, data, tensor); break;
    case DataType::kString: status = FillTensor<std::string, ToString>(name, type, data, tensor); break;
    default: return InputError(name, "unsupported datatype");
  }
  if (!status.ok()) return status;
  return tensor;
}

// ---- Binary tensor data ---------------------------------------------------------------------------------

// The bytes after the JSON, handed out to binary inputs in input order.
struct BinarySection {
  const char* data = nullptr;
  size_t size = 0;
  size_t used = 0;
  bool present = false;  // json_length was given
};

absl::StatusOr<Tensor> DecodeBinaryStrings(std::string_view name, Shape shape, int64_t count, const char* p,
                                           size_t size) {
  // Each element takes at least its 4-byte length.
  if (static_cast<uint64_t>(count) > size / 4) {
    return InputError(name, "binary BYTES data of ", size, " bytes cannot hold the ", count, " elements of shape ",
                      ShapeToString(shape));
  }
  Tensor tensor = Tensor::Zeros(DataType::kString, std::move(shape));
  std::string* out = tensor.data_as<std::string>();
  size_t pos = 0;
  for (int64_t i = 0; i < count; ++i) {
    if (size - pos < 4) return InputError(name, "binary BYTES data ends inside the length of element ", i);
    uint32_t length;
    std::memcpy(&length, p + pos, 4);
    if constexpr (std::endian::native == std::endian::big) length = __builtin_bswap32(length);
    pos += 4;
    if (size - pos < length) return InputError(name, "binary BYTES data ends inside element ", i);
    out[i].assign(p + pos, length);
    pos += length;
  }
  if (pos != size) {
    return InputError(name, "binary BYTES data has ", size - pos, " bytes left over after ", count, " elements");
  }
  return tensor;
}

// Raw bytes of one input - binary tensor data or shared memory - into a tensor: BYTES elements are copied
// out, other types borrowed when aligned (setting *borrowed). `size_name` names the size in messages.
absl::StatusOr<Tensor> TensorFromBytes(std::string_view name, DataType type, Shape shape, int64_t count, const char* p,
                                       size_t size, std::string_view size_name, bool* borrowed) {
  if (type == DataType::kString) return DecodeBinaryStrings(name, std::move(shape), count, p, size);

  const size_t element_size = ElementSize(type);
  if (static_cast<uint64_t>(count) > size / element_size || static_cast<size_t>(count) * element_size != size) {
    return InputError(name, Sv(size_name), " ", size, " does not match shape ", ShapeToString(shape), " of ",
                      Sv(DatatypeName(type)), " (", count, " elements of ", element_size, " bytes)");
  }
  if (type == DataType::kBool) {
    for (size_t i = 0; i < size; ++i) {
      if (static_cast<uint8_t>(p[i]) > 1) return InputError(name, "binary BOOL value ", i, " is not 0 or 1");
    }
  }
  // Borrowing needs the element type's natural alignment: tensor users (kernels, data_as<T>()) dereference
  // typed pointers, and a misaligned one is undefined behaviour. The data's offset in the body is the JSON
  // length plus the sizes of earlier binary inputs, which the client chooses freely (a 301-byte JSON header
  // before FP32 data is normal), so an unlucky offset is copied into an owned, aligned tensor instead.
  if (reinterpret_cast<uintptr_t>(p) % element_size != 0) {
    Tensor tensor = Tensor::Zeros(type, std::move(shape));
    if (size > 0) std::memcpy(tensor.data(), p, size);
    return tensor;
  }
  *borrowed = true;
  // The request treats its inputs as read-only; Tensor's API is not const-aware, hence the cast.
  return Tensor::Borrow(type, std::move(shape), const_cast<char*>(p));
}

absl::StatusOr<Tensor> DecodeBinary(std::string_view name, DataType type, Shape shape, int64_t count,
                                    uint64_t binary_size, BinarySection& binary, bool* borrowed) {
  if (binary_size > binary.size - binary.used) {
    if (!binary.present) {
      return InputError(name, "parameters.binary_data_size is set but the request has no binary data "
                              "(no Inference-Header-Content-Length)");
    }
    return InputError(name, "binary_data_size ", binary_size, " runs past the end of the body (",
                      binary.size - binary.used, " bytes left)");
  }
  const char* p = binary.data + binary.used;
  const size_t size = static_cast<size_t>(binary_size);
  binary.used += size;
  return TensorFromBytes(name, type, std::move(shape), count, p, size, "binary_data_size", borrowed);
}

// ---- Shared memory --------------------------------------------------------------------------------------

// The shared-memory parameters of an input or output tensor (Triton's system shared memory extension).
struct SharedMemoryParameters {
  std::optional<std::string_view> region;
  std::optional<uint64_t> offset;
  std::optional<uint64_t> byte_size;
};

// Takes `field` when it is one of the shared-memory parameters; false otherwise. `what` is "input 'X'" or
// "output 'X'".
absl::StatusOr<bool> TakeSharedMemoryParameter(std::string_view what, dom::key_value_pair field,
                                               SharedMemoryParameters& shm) {
  if (field.key == "shared_memory_region") {
    std::string_view region;
    if (field.value.get_string().get(region)) {
      return absl::InvalidArgumentError(absl::StrCat(Sv(what), ": parameters.shared_memory_region must be a string"));
    }
    shm.region = region;
    return true;
  }
  std::optional<uint64_t>* target = field.key == "shared_memory_offset"      ? &shm.offset
                                    : field.key == "shared_memory_byte_size" ? &shm.byte_size
                                                                             : nullptr;
  if (target == nullptr) return false;
  uint64_t value;
  if (field.value.get_uint64().get(value)) {
    return absl::InvalidArgumentError(
        absl::StrCat(Sv(what), ": parameters.", Sv(field.key), " must be a non-negative integer"));
  }
  *target = value;
  return true;
}

// The bytes a tensor's shared-memory parameters name, and the region that holds them.
struct SharedMemoryBytes {
  std::shared_ptr<const SharedMemoryRegion> region;
  uint64_t offset = 0;
  uint64_t byte_size = 0;
  char* data = nullptr;
};

absl::StatusOr<SharedMemoryBytes> ResolveSharedMemory(std::string_view what, const SharedMemoryParameters& shm,
                                                      const SharedMemoryRegistry* registry) {
  if (!shm.region) {
    const char* given = shm.offset ? "shared_memory_offset" : "shared_memory_byte_size";
    return absl::InvalidArgumentError(
        absl::StrCat(Sv(what), ": parameters.", given, " is set without parameters.shared_memory_region"));
  }
  if (!shm.byte_size) {
    return absl::InvalidArgumentError(
        absl::StrCat(Sv(what), ": parameters.shared_memory_region needs parameters.shared_memory_byte_size"));
  }
  if (registry == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(Sv(what), ": shared memory is not available here"));
  }
  auto region = registry->Find(std::string(*shm.region));
  if (!region.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(Sv(what), ": ", region.status().message(),
                                                   " (see /v2/systemsharedmemory/status)"));
  }
  SharedMemoryBytes bytes{*std::move(region), shm.offset.value_or(0), *shm.byte_size};
  auto data = bytes.region->Bytes(bytes.offset, bytes.byte_size);
  if (!data.ok()) return absl::InvalidArgumentError(absl::StrCat(Sv(what), ": ", data.status().message()));
  bytes.data = *data;
  return bytes;
}

// What borrowed input tensors point into, besides the body: the shared-memory regions they were read from.
struct SharedMemoryInputs {
  const SharedMemoryRegistry* registry = nullptr;
  std::vector<std::shared_ptr<const void>> held;
};

// ---- Inputs ---------------------------------------------------------------------------------------------

absl::StatusOr<Shape> DecodeShape(std::string_view name, dom::element e) {
  dom::array array;
  if (e.get_array().get(array)) return InputError(name, "\"shape\" must be an array of integers");
  Shape shape;
  for (dom::element dim : array) {
    int64_t d;
    if (dim.type() != dom::element_type::INT64 || dim.get_int64().get(d)) {
      if (dim.type() == dom::element_type::UINT64) return InputError(name, "shape dimension out of range");
      return InputError(name, "\"shape\" must be an array of integers");
    }
    if (d < 0) return InputError(name, "negative dimension ", d, " in shape");
    shape.push_back(d);
  }
  return shape;
}

absl::StatusOr<int64_t> CheckedElementCount(std::string_view name, const Shape& shape) {
  int64_t count = 1;
  for (int64_t d : shape) {
    if (d == 0) return 0;
  }
  for (int64_t d : shape) {
    if (__builtin_mul_overflow(count, d, &count)) {
      return InputError(name, "shape ", ShapeToString(shape), " is too large");
    }
  }
  return count;
}

struct InputParameters {
  std::optional<uint64_t> binary_size;
  SharedMemoryParameters shm;
  bool uses_shm() const { return shm.region || shm.offset || shm.byte_size; }
};

absl::StatusOr<InputParameters> DecodeInputParameters(std::string_view name, dom::element e) {
  dom::object params;
  if (e.get_object().get(params)) return InputError(name, "\"parameters\" must be an object");
  InputParameters parsed;
  const std::string what = absl::StrCat("input '", Sv(name), "'");
  for (dom::key_value_pair field : params) {
    ASSIGN_OR_RETURN(bool taken, TakeSharedMemoryParameter(what, field, parsed.shm));
    if (taken || field.key != "binary_data_size") continue;
    uint64_t size;
    if (field.value.get_uint64().get(size)) {
      return InputError(name, "parameters.binary_data_size must be a non-negative integer");
    }
    parsed.binary_size = size;
  }
  return parsed;
}

absl::StatusOr<Tensor> DecodeSharedMemoryInput(std::string_view name, DataType type, Shape shape, int64_t count,
                                               const SharedMemoryParameters& parameters, SharedMemoryInputs& shm) {
  ASSIGN_OR_RETURN(SharedMemoryBytes bytes,
                   ResolveSharedMemory(absl::StrCat("input '", Sv(name), "'"), parameters, shm.registry));
  bool borrowed = false;
  ASSIGN_OR_RETURN(Tensor tensor, TensorFromBytes(name, type, std::move(shape), count, bytes.data,
                                                  static_cast<size_t>(bytes.byte_size), "shared_memory_byte_size",
                                                  &borrowed));
  if (borrowed) shm.held.push_back(std::move(bytes.region));
  return tensor;
}

struct InputFields {
  std::optional<dom::element> name, datatype, shape, data, parameters;
};

absl::StatusOr<InferenceInput> DecodeInput(size_t index, dom::element e, size_t json_size, BinarySection& binary,
                                           bool* borrowed, SharedMemoryInputs& shm) {
  dom::object object;
  if (e.get_object().get(object)) {
    return absl::InvalidArgumentError(absl::StrCat("inputs[", index, "] must be an object"));
  }
  InputFields f;
  for (dom::key_value_pair field : object) {
    if (field.key == "name") f.name = field.value;
    else if (field.key == "datatype") f.datatype = field.value;
    else if (field.key == "shape") f.shape = field.value;
    else if (field.key == "data") f.data = field.value;
    else if (field.key == "parameters") f.parameters = field.value;
  }
  std::string_view name;
  if (!f.name || f.name->get_string().get(name)) {
    return absl::InvalidArgumentError(absl::StrCat("inputs[", index, "] has no \"name\" string"));
  }
  std::string_view datatype_name;
  if (!f.datatype || f.datatype->get_string().get(datatype_name)) return InputError(name, "missing \"datatype\"");
  auto type = ParseDatatype(datatype_name);
  if (!type.ok()) return InputError(name, "unknown datatype '", Sv(datatype_name), "'");
  if (!f.shape) return InputError(name, "missing \"shape\"");
  ASSIGN_OR_RETURN(Shape shape, DecodeShape(name, *f.shape));
  ASSIGN_OR_RETURN(int64_t count, CheckedElementCount(name, shape));
  InputParameters parameters;
  if (f.parameters) {
    ASSIGN_OR_RETURN(parameters, DecodeInputParameters(name, *f.parameters));
  }
  const std::optional<uint64_t>& binary_size = parameters.binary_size;

  InferenceInput input;
  input.name.assign(name.data(), name.size());
  if (f.data && binary_size) return InputError(name, "has both \"data\" and parameters.binary_data_size");
  if (parameters.uses_shm()) {
    if (f.data || binary_size) {
      return InputError(name, "has both shared memory parameters and ",
                        f.data ? "\"data\"" : "parameters.binary_data_size");
    }
    ASSIGN_OR_RETURN(input.tensor, DecodeSharedMemoryInput(name, *type, std::move(shape), count, parameters.shm, shm));
  } else if (f.data) {
    ASSIGN_OR_RETURN(input.tensor, DecodeJsonData(name, *type, std::move(shape), count, *f.data, json_size));
  } else if (binary_size) {
    ASSIGN_OR_RETURN(input.tensor, DecodeBinary(name, *type, std::move(shape), count, *binary_size, binary, borrowed));
  } else {
    return InputError(name, "has neither \"data\" nor parameters.binary_data_size nor "
                            "parameters.shared_memory_region");
  }
  return input;
}

// ---- Request-level fields -------------------------------------------------------------------------------

absl::StatusOr<Parameter> DecodeParameter(std::string_view key, dom::element e) {
  Parameter p;
  switch (e.type()) {
    case dom::element_type::BOOL:
      p.kind = Parameter::Kind::kBool;
      p.bool_value = e.get_bool().value_unsafe();
      return p;
    case dom::element_type::INT64:
      p.kind = Parameter::Kind::kInt;
      p.int_value = e.get_int64().value_unsafe();
      return p;
    case dom::element_type::UINT64:
    case dom::element_type::DOUBLE:
      p.kind = Parameter::Kind::kDouble;
      p.double_value = e.get_double().value_unsafe();
      return p;
    case dom::element_type::STRING: {
      p.kind = Parameter::Kind::kString;
      std::string_view s = e.get_string().value_unsafe();
      p.string_value.assign(s.data(), s.size());
      return p;
    }
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("parameter '", Sv(key), "' must be a boolean, a number or a string"));
  }
}

absl::Status DecodeRequestParameters(dom::element e, InferenceRequest& request) {
  dom::object params;
  if (e.get_object().get(params)) return absl::InvalidArgumentError("\"parameters\" must be an object");
  for (dom::key_value_pair field : params) {
    if (field.key == "binary_data_output") {
      if (field.value.get_bool().get(request.binary_outputs)) {
        return absl::InvalidArgumentError("parameter 'binary_data_output' must be a boolean");
      }
      continue;
    }
    ASSIGN_OR_RETURN(Parameter p, DecodeParameter(field.key, field.value));
    request.parameters.emplace_back(std::string(field.key), std::move(p));
  }
  return absl::OkStatus();
}

// An output's parameters: "binary_data", or the shared-memory ones (recorded in `shm_outputs`).
absl::Status DecodeOutputParameters(std::string_view name, dom::element e, const SharedMemoryRegistry* registry,
                                    RequestedOutput& requested, SharedMemoryOutputs* shm_outputs) {
  const std::string what = absl::StrCat("output '", Sv(name), "'");
  dom::object params;
  if (e.get_object().get(params)) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": \"parameters\" must be an object"));
  }
  SharedMemoryParameters shm;
  std::optional<bool> binary;
  for (dom::key_value_pair field : params) {
    ASSIGN_OR_RETURN(bool taken, TakeSharedMemoryParameter(what, field, shm));
    if (taken || field.key != "binary_data") continue;
    bool value;
    if (field.value.get_bool().get(value)) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": parameters.binary_data must be a boolean"));
    }
    binary = value;
  }
  if (!shm.region && !shm.offset && !shm.byte_size) {
    if (binary) requested.binary = *binary;
    return absl::OkStatus();
  }
  if (binary.value_or(false)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": parameters.binary_data and shared memory parameters exclude each other"));
  }
  ASSIGN_OR_RETURN(SharedMemoryBytes bytes, ResolveSharedMemory(what, shm, shm_outputs ? registry : nullptr));
  requested.binary = false;  // the response carries no data for it
  shm_outputs->push_back({requested.name, std::move(bytes.region), bytes.offset, bytes.byte_size});
  return absl::OkStatus();
}

absl::Status DecodeOutputs(dom::element e, const SharedMemoryRegistry* registry, SharedMemoryOutputs* shm_outputs,
                           InferenceRequest& request) {
  dom::array outputs;
  if (e.get_array().get(outputs)) return absl::InvalidArgumentError("\"outputs\" must be an array");
  size_t index = 0;
  for (dom::element out : outputs) {
    dom::object object;
    std::string_view name;
    if (out.get_object().get(object) || object["name"].get_string().get(name)) {
      return absl::InvalidArgumentError(absl::StrCat("outputs[", index, "] must be an object with a \"name\""));
    }
    RequestedOutput requested;
    requested.name.assign(name.data(), name.size());
    requested.binary = request.binary_outputs;  // the request-wide default; a per-output parameter wins
    for (const RequestedOutput& earlier : request.outputs) {
      if (earlier.name == requested.name) {
        return absl::InvalidArgumentError(absl::StrCat("output '", Sv(name), "' is requested twice"));
      }
    }
    dom::element params;
    if (!object["parameters"].get(params)) {
      RETURN_IF_ERROR(DecodeOutputParameters(name, params, registry, requested, shm_outputs));
    }
    request.outputs.push_back(std::move(requested));
    ++index;
  }
  return absl::OkStatus();
}

absl::Status DecodeInputs(dom::element e, size_t json_size, BinarySection& binary, bool* borrowed,
                          SharedMemoryInputs& shm, InferenceRequest& request) {
  dom::array inputs;
  if (e.get_array().get(inputs)) return absl::InvalidArgumentError("\"inputs\" must be an array");
  size_t index = 0;
  for (dom::element in : inputs) {
    ASSIGN_OR_RETURN(InferenceInput input, DecodeInput(index++, in, json_size, binary, borrowed, shm));
    for (const InferenceInput& earlier : request.inputs) {
      if (earlier.name == input.name) {
        return absl::InvalidArgumentError(absl::StrCat("input '", input.name, "' is given twice"));
      }
    }
    request.inputs.push_back(std::move(input));
  }
  if (binary.used != binary.size) {
    return absl::InvalidArgumentError(absl::StrCat("the binary data of the inputs adds up to ", binary.used,
                                                   " bytes but the body has ", binary.size,
                                                   " bytes after the JSON"));
  }
  return absl::OkStatus();
}

simdjson::dom::parser& ThreadParser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

}  // namespace

absl::StatusOr<InferenceRequest> DecodeInferRequest(std::shared_ptr<const std::string> body,
                                                    std::optional<size_t> json_length,
                                                    const SharedMemoryRegistry* shared_memory,
                                                    SharedMemoryOutputs* shm_outputs) {
  if (body == nullptr) return absl::InvalidArgumentError("empty request body");
  size_t json_size = body->size();
  if (json_length) {
    if (*json_length > body->size()) {
      return absl::InvalidArgumentError(absl::StrCat("Inference-Header-Content-Length ", *json_length,
                                                     " is larger than the body (", body->size(), " bytes)"));
    }
    json_size = *json_length;
  }
  BinarySection binary{body->data() + json_size, body->size() - json_size, 0, json_length.has_value()};

  std::optional<simdjson::dom::parser> own_parser;
  simdjson::dom::parser& parser = json_size <= kMaxRetainedJsonBytes ? ThreadParser() : own_parser.emplace();
  // simdjson reads up to SIMDJSON_PADDING bytes past the JSON. When the body's allocation (its capacity, or
  // the binary data that follows the JSON) already provides them, parse in place; otherwise simdjson copies
  // the JSON into the parser's own padded buffer, which it keeps for the next request.
  const bool padded = body->capacity() - json_size >= simdjson::SIMDJSON_PADDING;
  dom::element root;
  if (auto error = parser.parse(body->data(), json_size, /*realloc_if_needed=*/!padded).get(root)) {
    if (error == simdjson::NUMBER_ERROR) {
      // simdjson's DOM refuses integers beyond 64 bits (and numbers beyond double): say so, since a client may
      // well have written a large float as a long integer (JavaScript does below 1e21).
      return absl::InvalidArgumentError(
          "malformed JSON in request: a number is malformed or out of range (beyond double, or an integer beyond "
          "64 bits; write large values with an exponent, e.g. 1.5e20)");
    }
    return absl::InvalidArgumentError(absl::StrCat("malformed JSON in request: ", simdjson::error_message(error)));
  }
  dom::object object;
  if (root.get_object().get(object)) return absl::InvalidArgumentError("the request body must be a JSON object");

  InferenceRequest request;
  std::optional<dom::element> inputs, outputs;
  for (dom::key_value_pair field : object) {
    if (field.key == "id") {
      std::string_view id;
      if (field.value.get_string().get(id)) return absl::InvalidArgumentError("\"id\" must be a string");
      request.id.assign(id.data(), id.size());
    } else if (field.key == "parameters") {
      RETURN_IF_ERROR(DecodeRequestParameters(field.value, request));
    } else if (field.key == "inputs") {
      inputs = field.value;
    } else if (field.key == "outputs") {
      outputs = field.value;
    }
  }
  if (!inputs) return absl::InvalidArgumentError("the request has no \"inputs\"");
  bool borrowed = false;
  SharedMemoryInputs shm{shared_memory, {}};
  RETURN_IF_ERROR(DecodeInputs(*inputs, json_size, binary, &borrowed, shm, request));
  // After the parameters: binary_data_output is the default of every requested output.
  SharedMemoryOutputs decoded_shm_outputs;
  if (outputs) {
    RETURN_IF_ERROR(DecodeOutputs(*outputs, shared_memory, shm_outputs ? &decoded_shm_outputs : nullptr, request));
  }
  if (shm_outputs != nullptr) *shm_outputs = std::move(decoded_shm_outputs);
  // Borrowed inputs point into the body or into shared-memory regions: the request keeps all of them alive.
  if (borrowed) shm.held.push_back(std::move(body));
  if (shm.held.size() == 1) {
    request.keep_alive = std::move(shm.held.front());
  } else if (shm.held.size() > 1) {
    request.keep_alive = std::make_shared<const std::vector<std::shared_ptr<const void>>>(std::move(shm.held));
  }
  return request;
}

}  // namespace peregrine::kserve
