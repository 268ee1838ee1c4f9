// Tests of the KServe V2 body codec (src/kserve/codec.h): request decoding (JSON and binary tensor data, every
// datatype, every error), response encoding read back with simdjson, and number formatting.
#include "kserve/codec.h"

#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <simdjson.h>

#include "kserve/half_float.h"

namespace peregrine::kserve {
namespace {

namespace dom = simdjson::dom;
using serving::InferenceOutput;
using serving::InferenceRequest;
using serving::InferenceResponse;
using serving::Parameter;
using ::testing::HasSubstr;

absl::StatusOr<InferenceRequest> Decode(const std::string& json) {
  return DecodeInferRequest(std::make_shared<const std::string>(json), std::nullopt);
}

absl::StatusOr<InferenceRequest> DecodeBinary(const std::string& json, const std::string& binary) {
  return DecodeInferRequest(std::make_shared<const std::string>(json + binary), json.size());
}

std::string Bytes(const void* p, size_t n) { return std::string(static_cast<const char*>(p), n); }

template <typename T>
std::string Bytes(const std::vector<T>& v) {
  return Bytes(v.data(), v.size() * sizeof(T));
}

std::string LengthPrefixed(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) {
    const uint32_t n = static_cast<uint32_t>(s.size());
    out += Bytes(&n, 4);  // the test machines are little-endian, as the format is
    out += s;
  }
  return out;
}

// Expects InvalidArgument whose message contains every one of `parts`.
void ExpectInvalid(const absl::StatusOr<InferenceRequest>& result, std::vector<std::string> parts) {
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << result.status();
  for (const std::string& part : parts) EXPECT_THAT(std::string(result.status().message()), HasSubstr(part));
}

std::string OneInput(const std::string& datatype, const std::string& shape, const std::string& data) {
  return R"({"inputs":[{"name":"x","datatype":")" + datatype + R"(","shape":)" + shape + R"(,"data":)" + data + "}]}";
}

std::string OneBinaryInput(const std::string& datatype, const std::string& shape, size_t size) {
  return R"({"inputs":[{"name":"x","datatype":")" + datatype + R"(","shape":)" + shape +
         R"(,"parameters":{"binary_data_size":)" + std::to_string(size) + "}}]}";
}

// ---- Datatype names ----------------------------------------------------------------------------------------

TEST(CodecDatatypeTest, NamesRoundTrip) {
  const std::vector<std::pair<DataType, std::string>> expected = {
      {DataType::kBool, "BOOL"},     {DataType::kUint8, "UINT8"},   {DataType::kUint16, "UINT16"},
      {DataType::kUint32, "UINT32"}, {DataType::kUint64, "UINT64"}, {DataType::kInt8, "INT8"},
      {DataType::kInt16, "INT16"},   {DataType::kInt32, "INT32"},   {DataType::kInt64, "INT64"},
      {DataType::kFloat16, "FP16"},  {DataType::kFloat32, "FP32"},  {DataType::kFloat64, "FP64"},
      {DataType::kBFloat16, "BF16"}, {DataType::kString, "BYTES"}};
  for (const auto& [type, name] : expected) {
    EXPECT_EQ(DatatypeName(type), name);
    auto parsed = ParseDatatype(name);
    ASSERT_TRUE(parsed.ok()) << name;
    EXPECT_EQ(*parsed, type);
  }
  EXPECT_EQ(ParseDatatype("FLOAT32").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseDatatype("fp32").status().code(), absl::StatusCode::kInvalidArgument);
}

// ---- Round trips: response encoder -> request decoder, for every datatype -----------------------------------

// One tensor of each datatype with awkward values: extremes, negative zero, subnormals, long and escaped strings.
std::vector<Tensor> SampleTensors() {
  std::vector<Tensor> t;
  t.push_back(Tensor::FromVector<float>({2, 3}, {0.1f, -0.0f, 1e-45f, 3.4028235e38f, -1.17549435e-38f, 16777217.0f}));
  t.push_back(Tensor::FromVector<double>({5}, {0.1, -1e-320, 1.7976931348623157e308, 1.0 / 3, -1.8113912228279432e20}));
  t.push_back(Tensor::FromVector<int8_t>({3}, {-128, 0, 127}));
  t.push_back(Tensor::FromVector<int16_t>({3}, {-32768, 1, 32767}));
  using I32 = std::numeric_limits<int32_t>;
  using I64 = std::numeric_limits<int64_t>;
  t.push_back(Tensor::FromVector<int32_t>({3}, {I32::min(), -1, I32::max()}));
  t.push_back(Tensor::FromVector<int64_t>({3}, {I64::min(), 9007199254740993, I64::max()}));
  t.push_back(Tensor::FromVector<uint8_t>({2}, {0, 255}));
  t.push_back(Tensor::FromVector<uint16_t>({2}, {0, 65535}));
  t.push_back(Tensor::FromVector<uint32_t>({2}, {0, 4294967295u}));
  t.push_back(Tensor::FromVector<uint64_t>({3}, {0, 9223372036854775808ull, std::numeric_limits<uint64_t>::max()}));
  t.push_back(Tensor::FromVector<bool>({1, 3}, {true, false, true}));
  t.push_back(Tensor::FromVector<std::string>({2, 2}, {"", "h\xc3\xa9llo \"q\" \\ \n\t", std::string("a\0b", 3),
                                                        std::string(300, 'z')}));
  // FP16 and BF16: every finite value of the format.
  std::vector<uint16_t> halves, bfloats;
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    if (!IsInfiniteOrNanFp16(static_cast<uint16_t>(bits))) halves.push_back(static_cast<uint16_t>(bits));
    if (!IsInfiniteOrNanBf16(static_cast<uint16_t>(bits))) bfloats.push_back(static_cast<uint16_t>(bits));
  }
  Tensor half = Tensor::Zeros(DataType::kFloat16, {static_cast<int64_t>(halves.size())});
  std::memcpy(half.data(), halves.data(), halves.size() * 2);
  t.push_back(half);
  Tensor bf16 = Tensor::Zeros(DataType::kBFloat16, {static_cast<int64_t>(bfloats.size())});
  std::memcpy(bf16.data(), bfloats.data(), bfloats.size() * 2);
  t.push_back(bf16);
  t.push_back(Tensor::Zeros(DataType::kFloat32, {0, 5}));  // no elements
  t.push_back(Tensor::Scalar<int32_t>(42));                 // rank 0
  return t;
}

std::string TensorName(size_t i) {
  std::string name = "t";  // appended, not "t" + ...: GCC 12 gives a false -Wrestrict warning on that
  name += std::to_string(i);
  return name;
}

void ExpectSameTensor(const Tensor& actual, const Tensor& expected, const std::string& what) {
  ASSERT_EQ(actual.dtype(), expected.dtype()) << what;
  ASSERT_EQ(actual.shape(), expected.shape()) << what;
  if (expected.dtype() == DataType::kString) {
    for (int64_t i = 0; i < expected.num_elements(); ++i) {
      EXPECT_EQ(actual.data_as<std::string>()[i], expected.data_as<std::string>()[i]) << what << " element " << i;
    }
    return;
  }
  // Bit for bit: -0.0, subnormals and the last digit of doubles must all survive.
  EXPECT_EQ(Bytes(actual.data(), actual.byte_size()), Bytes(expected.data(), expected.byte_size())) << what;
}

// Builds a request whose inputs are the encoder's output objects, verbatim: "data" stays the encoder's JSON text;
// binary outputs' parameters carry binary_data_size, and their bytes follow in order, as a client would send
// them. "outputs" is the last field the encoder writes.
std::string RequestFromResponse(const EncodedResponse& encoded) {
  const size_t json_size = encoded.json_length.value_or(encoded.body.size());
  const std::string key = R"("outputs":)";
  const size_t start = encoded.body.find(key);
  EXPECT_NE(start, std::string::npos);
  return R"({"inputs":)" + encoded.body.substr(start + key.size(), json_size - start - key.size());
}

std::vector<int64_t> Int64s(simdjson::simdjson_result<dom::element> e) {
  std::vector<int64_t> out;
  const dom::array array = e.get_array().value();  // named: a temporary's value() would dangle in the loop
  for (dom::element v : array) out.push_back(v.get_int64().value());
  return out;
}

TEST(CodecRoundTripTest, EveryDatatypeAsJson) {
  InferenceResponse response;
  const std::vector<Tensor> tensors = SampleTensors();
  for (size_t i = 0; i < tensors.size(); ++i) response.outputs.push_back({TensorName(i), tensors[i], false});
  const EncodedResponse encoded = EncodeInferResponse(response);
  EXPECT_FALSE(encoded.json_length.has_value());
  auto request = Decode(RequestFromResponse(encoded));
  ASSERT_TRUE(request.ok()) << request.status();
  ASSERT_EQ(request->inputs.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_EQ(request->inputs[i].name, TensorName(i));
    EXPECT_TRUE(request->inputs[i].tensor.owns_data());
    ExpectSameTensor(request->inputs[i].tensor, tensors[i], std::string(DatatypeName(tensors[i].dtype())));
  }
}

TEST(CodecRoundTripTest, EveryDatatypeAsBinary) {
  InferenceResponse response;
  const std::vector<Tensor> tensors = SampleTensors();
  for (size_t i = 0; i < tensors.size(); ++i) response.outputs.push_back({TensorName(i), tensors[i], true});
  const EncodedResponse encoded = EncodeInferResponse(response);
  ASSERT_TRUE(encoded.json_length.has_value());
  const std::string json = RequestFromResponse(encoded);
  auto request = DecodeBinary(json, encoded.body.substr(*encoded.json_length));
  ASSERT_TRUE(request.ok()) << request.status();
  ASSERT_EQ(request->inputs.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    ExpectSameTensor(request->inputs[i].tensor, tensors[i], std::string(DatatypeName(tensors[i].dtype())));
  }
}

TEST(CodecRoundTripTest, MixedJsonAndBinaryOutputsKeepOrder) {
  InferenceResponse response;
  response.outputs.push_back({"a", Tensor::FromVector<int32_t>({2}, {1, 2}), true});
  response.outputs.push_back({"b", Tensor::FromVector<float>({1}, {0.5f}), false});
  response.outputs.push_back({"c", Tensor::FromVector<std::string>({2}, {"xy", ""}), true});
  const EncodedResponse encoded = EncodeInferResponse(response);
  ASSERT_TRUE(encoded.json_length.has_value());
  EXPECT_EQ(encoded.body.substr(*encoded.json_length), Bytes(std::vector<int32_t>{1, 2}) + LengthPrefixed({"xy", ""}));
  dom::parser parser;
  dom::element root = parser.parse(encoded.body.data(), *encoded.json_length).value();
  dom::array outputs = root["outputs"].get_array().value();
  std::vector<dom::element> out(outputs.begin(), outputs.end());
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0]["parameters"]["binary_data_size"].get_uint64().value(), 8u);
  EXPECT_TRUE(out[0]["data"].error() == simdjson::NO_SUCH_FIELD);
  EXPECT_EQ(out[1]["data"].at(0).get_double().value(), 0.5);
  EXPECT_TRUE(out[1]["parameters"].error() == simdjson::NO_SUCH_FIELD);
  EXPECT_EQ(out[2]["parameters"]["binary_data_size"].get_uint64().value(), 10u);
  EXPECT_EQ(std::string(out[2]["datatype"].get_string().value()), "BYTES");
}

// ---- JSON decoding ----------------------------------------------------------------------------------------

TEST(CodecDecodeTest, NestedAndFlatDataAreRowMajor) {
  for (const std::string data :
       {"[1,2,3,4,5,6]", "[[1,2,3],[4,5,6]]", "[[[1],[2],[3]],[[4],[5],[6]]]", "[[1,2],[3,4,5,6]]"}) {
    auto request = Decode(OneInput("INT32", "[2,3]", data));
    ASSERT_TRUE(request.ok()) << data << ": " << request.status();
    const Tensor& t = request->inputs[0].tensor;
    EXPECT_EQ(t.shape(), (Shape{2, 3}));
    EXPECT_EQ(std::vector<int32_t>(t.values<int32_t>().begin(), t.values<int32_t>().end()),
              (std::vector<int32_t>{1, 2, 3, 4, 5, 6}))
        << data;
  }
}

TEST(CodecDecodeTest, RequestFieldsAndParameters) {
  auto request = Decode(R"({"id":"req-7","parameters":{"timeout":1500,"priority":1.5,"tag":"t","flag":false,
      "binary_data_output":true},
      "inputs":[{"datatype":"FP32","data":[1.5],"name":"in","shape":[1]}],
      "outputs":[{"name":"o1"},{"name":"o2","parameters":{"binary_data":false}}]})");
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->id, "req-7");
  EXPECT_TRUE(request->binary_outputs);
  ASSERT_EQ(request->outputs.size(), 2u);
  EXPECT_EQ(request->outputs[0].name, "o1");
  EXPECT_TRUE(request->outputs[0].binary);  // the request-wide default
  EXPECT_EQ(request->outputs[1].name, "o2");
  EXPECT_FALSE(request->outputs[1].binary);
  ASSERT_EQ(request->parameters.size(), 4u);
  EXPECT_EQ(request->parameters[0].first, "timeout");
  EXPECT_EQ(request->parameters[0].second.kind, Parameter::Kind::kInt);
  EXPECT_EQ(request->parameters[0].second.int_value, 1500);
  EXPECT_EQ(request->parameters[1].second.kind, Parameter::Kind::kDouble);
  EXPECT_EQ(request->parameters[1].second.double_value, 1.5);
  EXPECT_EQ(request->parameters[2].second.kind, Parameter::Kind::kString);
  EXPECT_EQ(request->parameters[2].second.string_value, "t");
  EXPECT_EQ(request->parameters[3].second.kind, Parameter::Kind::kBool);
  EXPECT_FALSE(request->parameters[3].second.bool_value);
  ASSERT_EQ(request->inputs.size(), 1u);
  EXPECT_EQ(request->inputs[0].tensor.data_as<float>()[0], 1.5f);
  EXPECT_EQ(request->keep_alive, nullptr);  // nothing borrows from the body
}

TEST(CodecDecodeTest, NoOutputsMeansAllAndBinaryFlagDefaultsOff) {
  auto request = Decode(OneInput("BOOL", "[2]", "[true,false]"));
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_TRUE(request->outputs.empty());
  EXPECT_FALSE(request->binary_outputs);
  EXPECT_TRUE(request->id.empty());
  EXPECT_EQ(request->inputs[0].tensor.data_as<uint8_t>()[0], 1);
  EXPECT_EQ(request->inputs[0].tensor.data_as<uint8_t>()[1], 0);
}

TEST(CodecDecodeTest, Fp32FromSeventeenDigitAndShortestText) {
  // A client that holds float32 values writes either their double repr (Python's json.dumps after
  // tolist(): ~17 digits) or their shortest float repr; both must give back the same float.
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-3.0f, 3.0f);
  std::vector<float> values(5000);
  for (float& v : values) v = dist(rng) * std::pow(10.0f, static_cast<float>(static_cast<int>(rng() % 60) - 30));
  for (bool shortest : {false, true}) {
    std::string data = "[";
    for (size_t i = 0; i < values.size(); ++i) {
      char buf[64];
      // Python's repr switches to an exponent at 1e16.
      const auto format = std::abs(values[i]) >= 1e16f ? std::chars_format::scientific : std::chars_format{};
      auto r = shortest ? (format == std::chars_format{} ? std::to_chars(buf, buf + 64, values[i])
                                                         : std::to_chars(buf, buf + 64, values[i], format))
                        : (format == std::chars_format{} ? std::to_chars(buf, buf + 64, double{values[i]})
                                                         : std::to_chars(buf, buf + 64, double{values[i]}, format));
      if (i) data += ",";
      data.append(buf, r.ptr);
    }
    data += "]";
    auto request = Decode(OneInput("FP32", "[5000]", data));
    ASSERT_TRUE(request.ok()) << request.status();
    EXPECT_EQ(Bytes(request->inputs[0].tensor.data(), 5000 * 4), Bytes(values)) << "shortest=" << shortest;
  }
}

TEST(CodecDecodeTest, IntegersAcceptIntegralDoublesAndFloatsAcceptIntegers) {
  auto ints = Decode(OneInput("INT64", "[3]", "[1e3, 2.0, -4]"));
  ASSERT_TRUE(ints.ok()) << ints.status();
  EXPECT_EQ(ints->inputs[0].tensor.data_as<int64_t>()[0], 1000);
  EXPECT_EQ(ints->inputs[0].tensor.data_as<int64_t>()[1], 2);
  auto floats = Decode(OneInput("FP64", "[2]", "[7, 18446744073709551615]"));
  ASSERT_TRUE(floats.ok()) << floats.status();
  EXPECT_EQ(floats->inputs[0].tensor.data_as<double>()[0], 7.0);
  EXPECT_EQ(floats->inputs[0].tensor.data_as<double>()[1], 18446744073709551615.0);
}

TEST(CodecDecodeTest, HalfFloatsRoundToNearestEvenFromTheDouble) {
  const double ulp16 = std::ldexp(1.0, -10);
  // 1 + ulp/2 is a tie: to even (1.0). 1 + ulp/2 + 2^-40 is above the tie; through float it would become the
  // tie and wrongly round down, so this checks the direct rounding.
  ASSERT_EQ(1.0 + ulp16 / 2, 1.00048828125);
  ASSERT_EQ(1.0004882812509094947, 1.0 + ulp16 / 2 + std::ldexp(1.0, -40));
  const std::string data = "[1.00048828125,1.00146484375,1.0004882812509094947,65504,65519,"
                           "5.9604644775390625e-8,2.98023223876953125e-8,-0.0]";
  auto request = Decode(OneInput("FP16", "[8]", data));
  ASSERT_TRUE(request.ok()) << request.status();
  const uint16_t* h = request->inputs[0].tensor.data_as<uint16_t>();
  EXPECT_EQ(h[0], 0x3c00);  // 1.0
  EXPECT_EQ(h[1], 0x3c02);  // 1 + 2^-9
  EXPECT_EQ(h[2], 0x3c01);  // 1 + 2^-10: above the tie by 2^-40, which float would have dropped
  EXPECT_EQ(h[3], 0x7bff);  // 65504, the largest half
  EXPECT_EQ(h[4], 0x7bff);  // below 65520 rounds down to it
  EXPECT_EQ(h[5], 0x0001);  // the smallest subnormal
  EXPECT_EQ(h[6], 0x0000);  // half of it: a tie, to even (zero)
  EXPECT_EQ(h[7], 0x8000);  // -0.0 keeps its sign

  auto bf = Decode(OneInput("BF16", "[4]", "[1.00390625, 1.0039062500000002, 3.0, -1e30]"));
  ASSERT_TRUE(bf.ok()) << bf.status();
  const uint16_t* b = bf->inputs[0].tensor.data_as<uint16_t>();
  EXPECT_EQ(b[0], 0x3f80);  // 1 + 2^-8: a tie, to even
  EXPECT_EQ(b[1], 0x3f81);  // just above the tie
  EXPECT_EQ(b[2], 0x4040);
  EXPECT_NEAR(Bf16BitsToFloat(b[3]), -1e30, 1e30 / 256);
}

TEST(CodecDecodeTest, LargeDocumentUsesItsOwnParser) {
  // Above the per-thread parser's retained size: decoded all the same.
  const int n = 200000;
  std::string data = "[";
  for (int i = 0; i < n; ++i) data += (i ? ",0.125" : "0.125");
  data += "]";
  auto request = Decode(OneInput("FP32", "[" + std::to_string(n) + "]", data));
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->inputs[0].tensor.data_as<float>()[n - 1], 0.125f);
  // And a small one afterwards still decodes on the per-thread parser.
  EXPECT_TRUE(Decode(OneInput("FP32", "[1]", "[2]")).ok());
}

TEST(CodecDecodeTest, BodiesWithAndWithoutPaddingDecodeAlike) {
  const std::string json = OneInput("INT16", "[3]", "[1,-2,3]");
  auto tight = std::make_shared<std::string>(json);
  tight->shrink_to_fit();
  auto roomy = std::make_shared<std::string>(json);
  roomy->reserve(json.size() + 256);
  for (const auto& body : {tight, roomy}) {
    auto request = DecodeInferRequest(body, std::nullopt);
    ASSERT_TRUE(request.ok()) << request.status();
    EXPECT_EQ(request->inputs[0].tensor.data_as<int16_t>()[1], -2);
  }
}

// ---- Binary decoding ----------------------------------------------------------------------------------------

TEST(CodecBinaryTest, AlignedDataIsBorrowedAndKeptAlive) {
  const std::vector<float> values = {1.5f, -2.0f, 3.25f, 0.0f};
  // Pad the JSON with spaces until the binary data lands on a 4-byte boundary of the body's buffer.
  auto body = std::make_shared<std::string>();
  std::string json = OneBinaryInput("FP32", "[2,2]", 16);
  body->reserve(json.size() + 64 + 16);
  while ((reinterpret_cast<uintptr_t>(body->data()) + json.size()) % 4 != 0) json += ' ';
  body->assign(json);  // assign, not operator=: keeps the buffer whose alignment was just measured
  body->append(Bytes(values));
  const void* expected_data = body->data() + json.size();
  std::weak_ptr<std::string> weak = body;
  auto request = DecodeInferRequest(std::move(body), json.size());
  ASSERT_TRUE(request.ok()) << request.status();
  const Tensor& t = request->inputs[0].tensor;
  EXPECT_FALSE(t.owns_data());
  EXPECT_EQ(t.data(), expected_data);
  EXPECT_EQ(Bytes(t.data(), 16), Bytes(values));
  EXPECT_FALSE(weak.expired());  // the request's keep_alive holds the body
  request->keep_alive.reset();
  EXPECT_TRUE(weak.expired());
}

TEST(CodecBinaryTest, MisalignedDataIsCopied) {
  const std::vector<int64_t> values = {-1, 1LL << 40, 7};
  auto body = std::make_shared<std::string>();
  std::string json = OneBinaryInput("INT64", "[3]", 24);
  body->reserve(json.size() + 64 + 24);
  while ((reinterpret_cast<uintptr_t>(body->data()) + json.size()) % 8 != 3) json += ' ';
  body->assign(json);
  body->append(Bytes(values));
  ASSERT_EQ((reinterpret_cast<uintptr_t>(body->data()) + json.size()) % 8, 3u);
  auto request = DecodeInferRequest(body, json.size());
  ASSERT_TRUE(request.ok()) << request.status();
  const Tensor& t = request->inputs[0].tensor;
  EXPECT_TRUE(t.owns_data());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data()) % 8, 0u);
  EXPECT_EQ(Bytes(t.data(), 24), Bytes(values));
}

TEST(CodecBinaryTest, SeveralInputsTakeTheirBytesInOrder) {
  const std::string json = R"({"inputs":[
      {"name":"a","datatype":"UINT8","shape":[3],"parameters":{"binary_data_size":3}},
      {"name":"j","datatype":"INT32","shape":[1],"data":[9]},
      {"name":"s","datatype":"BYTES","shape":[2],"parameters":{"binary_data_size":11}},
      {"name":"b","datatype":"BOOL","shape":[2],"parameters":{"binary_data_size":2}}]})";
  auto request = DecodeBinary(json, "\x01\x02\x03" + LengthPrefixed({"abc", ""}) + std::string("\x01\x00", 2));
  ASSERT_TRUE(request.ok()) << request.status();
  ASSERT_EQ(request->inputs.size(), 4u);
  EXPECT_EQ(request->inputs[0].tensor.data_as<uint8_t>()[2], 3);
  EXPECT_EQ(request->inputs[1].tensor.data_as<int32_t>()[0], 9);
  EXPECT_EQ(request->inputs[2].tensor.data_as<std::string>()[0], "abc");
  EXPECT_EQ(request->inputs[2].tensor.data_as<std::string>()[1], "");
  EXPECT_EQ(request->inputs[3].tensor.data_as<uint8_t>()[0], 1);
  EXPECT_EQ(request->inputs[3].tensor.data_as<uint8_t>()[1], 0);
}

// ---- Errors -------------------------------------------------------------------------------------------------

TEST(CodecErrorTest, MalformedAndTruncatedJson) {
  ExpectInvalid(Decode(""), {"malformed JSON"});
  ExpectInvalid(Decode(R"({"inputs": [)"), {"malformed JSON"});
  const std::string good = OneInput("FP32", "[2]", "[1.0, 2.0]");
  ASSERT_TRUE(Decode(good).ok());
  for (size_t cut : {size_t{1}, good.size() / 2, good.size() - 1}) {
    ExpectInvalid(Decode(good.substr(0, cut)), {"malformed JSON"});
  }
  ExpectInvalid(Decode(good + " x"), {"malformed JSON"});
  ExpectInvalid(Decode(R"({"inputs":[],"x":[1,2,tru]})"), {"malformed JSON"});  // even in fields we ignore
  ExpectInvalid(Decode("[1,2]"), {"JSON object"});
}

TEST(CodecErrorTest, MissingFields) {
  ExpectInvalid(Decode(R"({"id":"a"})"), {"\"inputs\""});
  ExpectInvalid(Decode(R"({"inputs":{}})"), {"\"inputs\" must be an array"});
  ExpectInvalid(Decode(R"({"inputs":[{"datatype":"FP32","shape":[1],"data":[1]}]})"), {"inputs[0]", "name"});
  ExpectInvalid(Decode(R"({"inputs":[{"name":"x","shape":[1],"data":[1]}]})"), {"'x'", "datatype"});
  ExpectInvalid(Decode(R"({"inputs":[{"name":"x","datatype":"FP32","data":[1]}]})"), {"'x'", "shape"});
  ExpectInvalid(Decode(R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1]}]})"), {"'x'", "neither"});
  ExpectInvalid(Decode(R"({"inputs":[1]})"), {"inputs[0]"});
}

TEST(CodecErrorTest, BadDatatypeAndShape) {
  ExpectInvalid(Decode(OneInput("FLOAT", "[1]", "[1]")), {"'x'", "unknown datatype 'FLOAT'"});
  ExpectInvalid(Decode(OneInput("FP32", "[2,-1]", "[1,2]")), {"'x'", "negative dimension -1"});
  ExpectInvalid(Decode(OneInput("FP32", "[1.5]", "[1]")), {"'x'", "shape"});
  ExpectInvalid(Decode(OneInput("FP32", "2", "[1,2]")), {"'x'", "shape"});
  ExpectInvalid(Decode(OneInput("FP32", "[18446744073709551615]", "[1]")), {"'x'", "out of range"});
  ExpectInvalid(Decode(OneInput("FP32", "[4294967296,4294967296]", "[1]")), {"'x'", "too large"});
  // Does not overflow, but is far more than the body can hold: rejected before anything is allocated.
  ExpectInvalid(Decode(OneInput("FP32", "[1000000000000]", "[1]")), {"'x'", "1 values", "needs 1000000000000"});
}

TEST(CodecErrorTest, ElementCountDiffersFromShape) {
  ExpectInvalid(Decode(OneInput("FP32", "[2,3]", "[1,2,3,4,5]")), {"'x'", "5 values", "[2, 3]", "needs 6"});
  ExpectInvalid(Decode(OneInput("FP32", "[2,3]", "[1,2,3,4,5,6,7]")), {"'x'", "7 values", "needs 6"});
  ExpectInvalid(Decode(OneInput("INT8", "[2,2]", "[[1,2],[3]]")), {"'x'", "3 values", "needs 4"});
  ExpectInvalid(Decode(OneInput("BYTES", "[0]", R"(["a"])")), {"'x'", "1 values", "needs 0"});
}

TEST(CodecErrorTest, WrongValueKinds) {
  ExpectInvalid(Decode(OneInput("FP32", "[2]", R"([1,"2"])")), {"'x'", "value 1", "expected a number"});
  ExpectInvalid(Decode(OneInput("INT32", "[1]", "[true]")), {"'x'", "expected a number"});
  ExpectInvalid(Decode(OneInput("FP32", "[1]", "[null]")), {"'x'", "expected a number"});
  ExpectInvalid(Decode(OneInput("FP32", "[1]", "[{}]")), {"'x'", "expected a number"});
  ExpectInvalid(Decode(OneInput("BOOL", "[2]", "[true,1]")), {"'x'", "value 1", "true or false"});
  ExpectInvalid(Decode(OneInput("BYTES", "[2]", R"(["a",1])")), {"'x'", "expected a string"});
}

TEST(CodecErrorTest, IntegersOutOfRangeOrNonIntegral) {
  ExpectInvalid(Decode(OneInput("INT8", "[1]", "[128]")), {"'x'", "out of range", "INT8"});
  ExpectInvalid(Decode(OneInput("INT8", "[1]", "[-129]")), {"'x'", "out of range"});
  ExpectInvalid(Decode(OneInput("UINT8", "[1]", "[-1]")), {"'x'", "out of range"});
  ExpectInvalid(Decode(OneInput("UINT16", "[1]", "[65536]")), {"'x'", "out of range"});
  ExpectInvalid(Decode(OneInput("INT32", "[1]", "[2147483648]")), {"'x'", "out of range"});
  ExpectInvalid(Decode(OneInput("UINT32", "[1]", "[4294967296]")), {"'x'", "out of range"});
  ExpectInvalid(Decode(OneInput("INT64", "[1]", "[9223372036854775808]")), {"'x'", "out of range"});
  ExpectInvalid(Decode(OneInput("INT64", "[1]", "[9.3e18]")), {"'x'", "out of range"});
  ExpectInvalid(Decode(OneInput("UINT64", "[1]", "[-1]")), {"'x'", "out of range"});
  ExpectInvalid(Decode(OneInput("UINT64", "[1]", "[1.9e19]")), {"'x'", "out of range"});
  ExpectInvalid(Decode(OneInput("INT32", "[2]", "[1, 1.5]")), {"'x'", "value 1", "integer"});
  ExpectInvalid(Decode(OneInput("UINT8", "[1]", "[0.001]")), {"'x'", "integer"});
  // The edges themselves are fine.
  EXPECT_TRUE(Decode(OneInput("INT64", "[2]", "[-9223372036854775808, 9223372036854775807]")).ok());
  EXPECT_TRUE(Decode(OneInput("UINT64", "[1]", "[18446744073709551615]")).ok());
}

TEST(CodecErrorTest, NumbersTheFloatTypeCannotHold) {
  ExpectInvalid(Decode(OneInput("FP32", "[1]", "[1e39]")), {"'x'", "out of range", "FP32"});
  ExpectInvalid(Decode(OneInput("FP32", "[1]", "[-3.5e38]")), {"'x'", "out of range"});
  ExpectInvalid(Decode(OneInput("FP16", "[1]", "[65520]")), {"'x'", "out of range", "FP16"});
  ExpectInvalid(Decode(OneInput("BF16", "[1]", "[3.4e38]")), {"'x'", "out of range", "BF16"});
  // Beyond double: JSON cannot say infinity, and simdjson refuses the number outright.
  ExpectInvalid(Decode(OneInput("FP64", "[1]", "[1e999]")), {"malformed JSON", "number"});
  ExpectInvalid(Decode(OneInput("FP32", "[1]", "[NaN]")), {"malformed JSON"});
  ExpectInvalid(Decode(OneInput("FP32", "[1]", "[Infinity]")), {"malformed JSON"});
  EXPECT_TRUE(Decode(OneInput("FP32", "[1]", "[3.4028235e38]")).ok());
  // An integer literal beyond 64 bits is refused by simdjson even for a float tensor; the message says how to
  // write it instead.
  ExpectInvalid(Decode(OneInput("FP32", "[1]", "[181139122282794319872]")), {"malformed JSON", "exponent"});
  EXPECT_TRUE(Decode(OneInput("FP32", "[1]", "[1.8113912228279432e+20]")).ok());
}

TEST(CodecErrorTest, BinarySizes) {
  // binary_data_size that does not match shape * element size.
  ExpectInvalid(DecodeBinary(OneBinaryInput("FP32", "[2,2]", 12), std::string(12, '\0')),
                {"'x'", "binary_data_size 12", "[2, 2]", "FP32"});
  // More bytes after the JSON than the inputs claim, and fewer.
  ExpectInvalid(DecodeBinary(OneBinaryInput("FP32", "[2]", 8), std::string(9, '\0')), {"8 bytes", "9 bytes"});
  ExpectInvalid(DecodeBinary(OneBinaryInput("FP32", "[2]", 8), std::string(7, '\0')), {"'x'", "past the end"});
  ExpectInvalid(DecodeBinary(OneInput("FP32", "[1]", "[1]"), "abc"), {"0 bytes", "3 bytes"});
  // Both data and binary_data_size.
  ExpectInvalid(DecodeBinary(R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1],
                                 "parameters":{"binary_data_size":4}}]})",
                             std::string(4, '\0')),
                {"'x'", "both"});
  // binary_data_size without any binary section (no Inference-Header-Content-Length).
  ExpectInvalid(Decode(OneBinaryInput("FP32", "[1]", 4)), {"'x'", "no binary data"});
  ExpectInvalid(Decode(R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],
                             "parameters":{"binary_data_size":-4}}]})"),
                {"'x'", "binary_data_size"});
}

TEST(CodecErrorTest, JsonLengthLargerThanBody) {
  auto body = std::make_shared<const std::string>(OneInput("FP32", "[1]", "[1]"));
  auto result = DecodeInferRequest(body, body->size() + 1);
  ExpectInvalid(result, {"Inference-Header-Content-Length", "larger than the body"});
  // A json_length that cuts the JSON short is malformed JSON.
  ExpectInvalid(DecodeInferRequest(body, body->size() - 3), {"malformed JSON"});
}

TEST(CodecErrorTest, BadBinaryContent) {
  ExpectInvalid(DecodeBinary(OneBinaryInput("BOOL", "[2]", 2), std::string("\x01\x02", 2)), {"'x'", "0 or 1"});
  // BYTES: a length that runs past the data, a cut length prefix, bytes left over.
  std::string strings = LengthPrefixed({"abc"});
  ExpectInvalid(DecodeBinary(OneBinaryInput("BYTES", "[1]", 6), strings.substr(0, 6)), {"'x'", "inside element 0"});
  ExpectInvalid(DecodeBinary(OneBinaryInput("BYTES", "[2]", 9), strings + std::string("\x01\x00", 2)),
                {"'x'", "element 1"});
  ExpectInvalid(DecodeBinary(OneBinaryInput("BYTES", "[1]", 8), strings + "z"), {"'x'", "1 bytes left over"});
  ExpectInvalid(DecodeBinary(OneBinaryInput("BYTES", "[3]", 7), strings), {"'x'", "cannot hold"});
}

TEST(CodecErrorTest, BadRequestLevelFields) {
  ExpectInvalid(Decode(R"({"id":5,"inputs":[]})"), {"\"id\""});
  ExpectInvalid(Decode(R"({"parameters":[],"inputs":[]})"), {"\"parameters\""});
  ExpectInvalid(Decode(R"({"parameters":{"binary_data_output":1},"inputs":[]})"), {"binary_data_output"});
  ExpectInvalid(Decode(R"({"parameters":{"p":[1]},"inputs":[]})"), {"'p'"});
  ExpectInvalid(Decode(R"({"inputs":[],"outputs":[{"nam":"y"}]})"), {"outputs[0]"});
  ExpectInvalid(Decode(R"({"inputs":[],"outputs":[{"name":"y","parameters":{"binary_data":"yes"}}]})"),
                {"'y'", "binary_data"});
  ExpectInvalid(Decode(R"({"inputs":[],"outputs":[{"name":"y"},{"name":"y"}]})"), {"'y'", "twice"});
  const std::string twice = R"({"inputs":[{"name":"x","datatype":"INT8","shape":[1],"data":[1]},
                                          {"name":"x","datatype":"INT8","shape":[1],"data":[2]}]})";
  ExpectInvalid(Decode(twice), {"'x'", "twice"});
  ExpectInvalid(DecodeInferRequest(nullptr, std::nullopt), {"empty"});
}

// ---- Response encoding --------------------------------------------------------------------------------------

TEST(CodecEncodeTest, ResponseFieldsReadBack) {
  InferenceResponse response;
  response.model = "m\"odel";
  response.version = 3;
  response.id = "abc";
  Parameter p;
  p.kind = Parameter::Kind::kInt;
  p.int_value = -5;
  response.parameters.push_back({"count", p});
  response.outputs.push_back({"out", Tensor::FromVector<float>({2, 2}, {1.0f, 0.5f, -2.0f, 0.1f}), false});
  const EncodedResponse encoded = EncodeInferResponse(response);
  EXPECT_FALSE(encoded.json_length.has_value());
  dom::parser parser;
  dom::element root = parser.parse(encoded.body).value();
  EXPECT_EQ(std::string(root["model_name"].get_string().value()), "m\"odel");
  EXPECT_EQ(std::string(root["model_version"].get_string().value()), "3");  // a string, as KServe says
  EXPECT_EQ(std::string(root["id"].get_string().value()), "abc");
  EXPECT_EQ(root["parameters"]["count"].get_int64().value(), -5);
  dom::element out = root["outputs"].at(0).value();
  EXPECT_EQ(std::string(out["name"].get_string().value()), "out");
  EXPECT_EQ(std::string(out["datatype"].get_string().value()), "FP32");
  EXPECT_EQ(Int64s(out["shape"]), (std::vector<int64_t>{2, 2}));
  std::vector<float> data;
  const dom::array array = out["data"].get_array().value();
  for (dom::element v : array) data.push_back(static_cast<float>(v.get_double().value()));
  EXPECT_EQ(data, (std::vector<float>{1.0f, 0.5f, -2.0f, 0.1f}));
  EXPECT_THAT(encoded.body, HasSubstr(R"("data":[1,0.5,-2,0.1])"));
}

TEST(CodecEncodeTest, NoIdOrParametersWhenEmpty) {
  InferenceResponse response;
  response.model = "m";
  const EncodedResponse encoded = EncodeInferResponse(response);
  EXPECT_EQ(encoded.body, R"({"model_name":"m","model_version":"0","outputs":[]})");
}

TEST(CodecEncodeTest, ShortestFloatFormatting) {
  InferenceResponse response;
  const std::vector<float> floats = {0.1f, 1e-45f, 3.4028235e38f, 1e10f, 123456.0f, -0.0f};
  const std::vector<double> doubles = {0.1, 5e-324, 1.8113912228279432e20, 123456789012345.0};
  response.outputs.push_back({"f", Tensor::FromVector<float>({6}, floats), false});
  response.outputs.push_back({"d", Tensor::FromVector<double>({4}, doubles), false});
  Tensor half = Tensor::Zeros(DataType::kFloat16, {1});
  half.data_as<uint16_t>()[0] = 0x3555;  // 0.333251953125
  response.outputs.push_back({"h", half, false});
  const std::string body = EncodeInferResponse(response).body;
  EXPECT_THAT(body, HasSubstr(R"("data":[0.1,1e-45,3.4028235e+38,1e+10,123456,-0.0])"));
  EXPECT_THAT(body, HasSubstr(R"("data":[0.1,5e-324,1.8113912228279432e+20,123456789012345])"));
  EXPECT_THAT(body, HasSubstr(R"("data":[0.33325195])"));  // the float's shortest form
}

TEST(CodecEncodeTest, NonFiniteFloatsUsePythonSpelling) {
  InferenceResponse response;
  const float inf = std::numeric_limits<float>::infinity();
  response.outputs.push_back({"f", Tensor::FromVector<float>({3}, {std::nanf(""), inf, -inf}), false});
  EXPECT_THAT(EncodeInferResponse(response).body, HasSubstr(R"("data":[NaN,Infinity,-Infinity])"));
}

TEST(CodecEncodeTest, BinaryOutputsSetJsonLength) {
  InferenceResponse response;
  response.model = "m";
  response.version = 12;
  const std::vector<double> values = {0.25, -8.0};
  response.outputs.push_back({"y", Tensor::FromVector<double>({2}, values), true});
  const EncodedResponse encoded = EncodeInferResponse(response);
  ASSERT_TRUE(encoded.json_length.has_value());
  ASSERT_EQ(encoded.body.size(), *encoded.json_length + 16);
  EXPECT_EQ(encoded.body.substr(*encoded.json_length), Bytes(values));
  dom::parser parser;
  dom::element root = parser.parse(encoded.body.data(), *encoded.json_length).value();
  EXPECT_EQ(std::string(root["model_version"].get_string().value()), "12");
  dom::element out = root["outputs"].at(0).value();
  EXPECT_EQ(out["parameters"]["binary_data_size"].get_uint64().value(), 16u);
  EXPECT_EQ(std::string(out["datatype"].get_string().value()), "FP64");
}

TEST(CodecEncodeTest, LargeOutputGrowsTheBody) {
  // Longer numbers than the size estimate allows for: the sink must grow and keep every byte.
  InferenceResponse response;
  std::vector<double> values(20000, -1.2345678901234567e-300);
  response.outputs.push_back({"y", Tensor::FromVector<double>({20000}, values), false});
  const EncodedResponse encoded = EncodeInferResponse(response);
  dom::parser parser;
  dom::element root = parser.parse(encoded.body).value();
  dom::array data = root["outputs"].at(0)["data"].get_array().value();
  size_t n = 0;
  for (dom::element e : data) {
    EXPECT_EQ(e.get_double().value(), values[0]);
    ++n;
  }
  EXPECT_EQ(n, values.size());
}

TEST(CodecEncodeTest, ErrorBodyEscapes) {
  const std::string message = "input 'x': bad \"value\"\n\\ end";
  const std::string body = ErrorBody(message);
  dom::parser parser;
  EXPECT_EQ(std::string(parser.parse(body)["error"].get_string().value()), message);
  EXPECT_EQ(ErrorBody("plain"), R"({"error":"plain"})");
}

}  // namespace
}  // namespace peregrine::kserve
