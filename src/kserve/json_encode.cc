// EncodeInferResponse and ErrorBody: KServe V2 response bodies written with RapidJSON's Writer.
//
// Numbers are formatted by std::to_chars (shortest text that reads back to the same float or double; FP16 and
// BF16 are widened to float first) and handed to the Writer as raw values. JSON has no NaN or infinity; like
// RapidJSON's kWriteNanAndInfFlag and Python's json module we write NaN, Infinity and -Infinity, which Python
// clients (tritonclient, requests' .json()) read back, rather than silently turning them into null. Negative
// zero is written "-0.0" so that it stays a float.
#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "kserve/codec.h"
#include "kserve/half_float.h"

namespace peregrine::kserve {
namespace {

using serving::InferenceOutput;
using serving::Parameter;
using serving::Parameters;

// A RapidJSON output stream that writes straight into the response body (no StringBuffer to copy out of).
// PutReserve/PutUnsafe below are found by argument-dependent lookup from inside the Writer and replace its
// generic per-character Put with one capacity check per value.
class StringSink {
 public:
  using Ch = char;
  explicit StringSink(std::string& out) : out_(out), pos_(out.size()) { Grow(0); }

  void Reserve(size_t n) {
    if (out_.size() - pos_ < n) Grow(n);
  }
  void PutUnsafe(char c) { data_[pos_++] = c; }
  void Put(char c) {
    Reserve(1);
    PutUnsafe(c);
  }
  void Flush() {}
  // Trims the string to what was written.
  void Finish() { out_.resize(pos_); }

 private:
  void Grow(size_t n) {
    // The first growth takes the capacity the caller reserved; later ones double.
    if (out_.size() - pos_ < n) out_.resize(std::max({out_.capacity(), out_.size() * 2, pos_ + n + 4096}));
    data_ = out_.data();
  }

  std::string& out_;
  size_t pos_;
  char* data_ = nullptr;
};

inline void PutReserve(StringSink& sink, size_t n) { sink.Reserve(n); }
inline void PutUnsafe(StringSink& sink, char c) { sink.PutUnsafe(c); }

using Writer = rapidjson::Writer<StringSink>;

void Key(Writer& w, std::string_view key) { w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size())); }
void String(Writer& w, std::string_view s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); }

template <typename T>
void Number(Writer& w, T value) {
  if constexpr (std::is_floating_point_v<T>) {
    if (!std::isfinite(value)) {
      std::string_view text = std::isnan(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity";
      w.RawValue(text.data(), text.size(), rapidjson::kNumberType);
      return;
    }
  }
  if constexpr (std::is_floating_point_v<T>) {
    // to_chars writes "-0", which JSON parsers (simdjson, Python's json) read as the integer 0: keep the sign.
    if (value == 0 && std::signbit(value)) {
      w.RawValue("-0.0", 4, rapidjson::kNumberType);
      return;
    }
  }
  char buf[40];
  std::to_chars_result result;
  if constexpr (std::is_floating_point_v<T>) {
    // Shortest form, but never a long integer: to_chars writes 1.8e20 as "181139122282794319872", which simdjson
    // (our own decoder) rejects as an integer beyond 64 bits. Like Python's repr, switch to an exponent at 1e16.
    result = std::abs(value) >= T{1e16} ? std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::scientific)
                                        : std::to_chars(buf, buf + sizeof(buf), value);
  } else {
    result = std::to_chars(buf, buf + sizeof(buf), value);
  }
  w.RawValue(buf, static_cast<size_t>(result.ptr - buf), rapidjson::kNumberType);
}

template <typename T>
void Numbers(Writer& w, const Tensor& t) {
  for (T v : t.values<T>()) Number(w, v);
}

void HalfNumbers(Writer& w, const Tensor& t, bool bf16) {
  for (uint16_t bits : t.values<uint16_t>()) Number(w, bf16 ? Bf16BitsToFloat(bits) : Fp16BitsToFloat(bits));
}

void Data(Writer& w, const Tensor& t) {
  w.StartArray();
  switch (t.dtype()) {
    case DataType::kFloat32: Numbers<float>(w, t); break;
    case DataType::kFloat64: Numbers<double>(w, t); break;
    case DataType::kFloat16: HalfNumbers(w, t, /*bf16=*/false); break;
    case DataType::kBFloat16: HalfNumbers(w, t, /*bf16=*/true); break;
    case DataType::kInt8: Numbers<int8_t>(w, t); break;
    case DataType::kInt16: Numbers<int16_t>(w, t); break;
    case DataType::kInt32: Numbers<int32_t>(w, t); break;
    case DataType::kInt64: Numbers<int64_t>(w, t); break;
    case DataType::kUint8: Numbers<uint8_t>(w, t); break;
    case DataType::kUint16: Numbers<uint16_t>(w, t); break;
    case DataType::kUint32: Numbers<uint32_t>(w, t); break;
    case DataType::kUint64: Numbers<uint64_t>(w, t); break;
    case DataType::kBool:
      for (uint8_t v : t.values<uint8_t>()) w.Bool(v != 0);
      break;
    case DataType::kString:
      for (const std::string& s : t.values<std::string>()) String(w, s);
      break;
    default: break;
  }
  w.EndArray();
}

// Binary tensor data of one output: raw elements, or for BYTES each element as a 4-byte little-endian length
// and its bytes.
size_t BinarySize(const Tensor& t) {
  if (t.dtype() != DataType::kString) return t.byte_size();
  size_t size = 0;
  for (const std::string& s : t.values<std::string>()) size += 4 + s.size();
  return size;
}

void AppendBinary(const Tensor& t, std::string& body) {
  if (t.dtype() != DataType::kString) {
    body.append(static_cast<const char*>(t.data()), t.byte_size());
    return;
  }
  for (const std::string& s : t.values<std::string>()) {
    uint32_t length = static_cast<uint32_t>(s.size());
    if constexpr (std::endian::native == std::endian::big) length = __builtin_bswap32(length);
    char prefix[4];
    std::memcpy(prefix, &length, 4);
    body.append(prefix, 4);
    body.append(s);
  }
}

void WriteParameters(Writer& w, const Parameters& parameters) {
  w.StartObject();
  for (const auto& [key, p] : parameters) {
    Key(w, key);
    switch (p.kind) {
      case Parameter::Kind::kBool: w.Bool(p.bool_value); break;
      case Parameter::Kind::kInt: w.Int64(p.int_value); break;
      case Parameter::Kind::kDouble: Number(w, p.double_value); break;
      case Parameter::Kind::kString: String(w, p.string_value); break;
    }
  }
  w.EndObject();
}

// Output tensors own their data by contract; a data-less one is written as zeros rather than read from null.
const Tensor& WithData(const Tensor& t, Tensor& zeros) {
  if (t.data() != nullptr || t.num_elements() == 0) return t;
  zeros = Tensor::Zeros(t.dtype(), t.shape());
  return zeros;
}

// Where an output written into shared memory went; its size as the serialized bytes written there.
void WriteSharedMemoryParameters(Writer& w, const SharedMemoryOutput& shm, size_t written) {
  Key(w, "parameters");
  w.StartObject();
  Key(w, "shared_memory_region");
  String(w, shm.region->name());
  Key(w, "shared_memory_byte_size");
  w.Uint64(written);
  if (shm.offset != 0) {
    Key(w, "shared_memory_offset");
    w.Uint64(shm.offset);
  }
  w.EndObject();
}

// A guess at the JSON size, so the body is allocated once in the common case.
size_t EstimateJsonSize(const serving::InferenceResponse& response) {
  size_t size = 256 + response.id.size();
  for (const InferenceOutput& out : response.outputs) {
    size += 128 + out.name.size() + 24 * out.tensor.shape().size();
    if (!out.binary) size += static_cast<size_t>(out.tensor.num_elements()) * 16;
  }
  return size;
}

}  // namespace

EncodedResponse EncodeInferResponse(const serving::InferenceResponse& response,
                                    const SharedMemoryOutputs* shm_outputs) {
  EncodedResponse encoded;
  // Outputs in shared memory carry neither JSON data nor binary data.
  auto in_body_as_binary = [shm_outputs](const InferenceOutput& out) {
    return out.binary && FindSharedMemoryOutput(shm_outputs, out.name) == nullptr;
  };
  size_t binary_size = 0;
  for (const InferenceOutput& out : response.outputs) {
    if (in_body_as_binary(out)) binary_size += BinarySize(out.tensor);
  }
  encoded.body.reserve(EstimateJsonSize(response) + binary_size);

  StringSink sink(encoded.body);
  Writer w(sink);
  w.StartObject();
  Key(w, "model_name");
  String(w, response.model);
  Key(w, "model_version");
  String(w, std::to_string(response.version));
  if (!response.id.empty()) {
    Key(w, "id");
    String(w, response.id);
  }
  if (!response.parameters.empty()) {
    Key(w, "parameters");
    WriteParameters(w, response.parameters);
  }
  Key(w, "outputs");
  w.StartArray();
  bool any_binary = false;
  Tensor zeros;
  for (const InferenceOutput& out : response.outputs) {
    const Tensor& t = WithData(out.tensor, zeros);
    w.StartObject();
    Key(w, "name");
    String(w, out.name);
    Key(w, "datatype");
    String(w, DatatypeName(t.dtype()));
    Key(w, "shape");
    w.StartArray();
    for (int64_t d : t.shape()) w.Int64(d);
    w.EndArray();
    if (const SharedMemoryOutput* shm = FindSharedMemoryOutput(shm_outputs, out.name)) {
      WriteSharedMemoryParameters(w, *shm, BinarySize(t));
    } else if (out.binary) {
      any_binary = true;
      Key(w, "parameters");
      w.StartObject();
      Key(w, "binary_data_size");
      w.Uint64(BinarySize(t));
      w.EndObject();
    } else {
      Key(w, "data");
      Data(w, t);
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  sink.Finish();

  if (any_binary) {
    encoded.json_length = encoded.body.size();
    for (const InferenceOutput& out : response.outputs) {
      if (in_body_as_binary(out)) AppendBinary(WithData(out.tensor, zeros), encoded.body);
    }
  }
  return encoded;
}

std::string ErrorBody(std::string_view message) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartObject();
  w.Key("error");
  w.String(message.data(), static_cast<rapidjson::SizeType>(message.size()));
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace peregrine::kserve
