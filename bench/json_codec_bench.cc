// Throughput of the KServe V2 body codec (src/kserve/codec.h) on the seed-001 request: one FP32 tensor of shape
// [1, 1, 40, 241] (9,640 values, torch.randn-like). Bytes/s counts the whole body.
//
//   Decode/Json17Digits  - values as Python's json.dumps writes float32 values turned into Python floats
//                          (tensor.tolist()): the double's shortest repr, ~17 significant digits
//   Decode/JsonShortest  - values in their shortest float32 form (~9 digits), as a careful client writes them
//   Decode/JsonUnpadded  - Json17Digits in a body without spare capacity, so simdjson copies it first
//   Decode/JsonNested17Digits - Json17Digits nested as tolist() writes the array: [[[[...], [...], ...]]]
//   Decode/Binary        - Triton's binary tensor extension: a small JSON header and the raw 38,560 bytes
//   Encode/Json, Encode/Binary - the response with one output of the same size
#include <benchmark/benchmark.h>

#include <charconv>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kserve/codec.h"

namespace peregrine::kserve {
namespace {

constexpr int64_t kElements = 1 * 1 * 40 * 241;

std::vector<float> SeedValues() {
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> values(kElements);
  for (float& v : values) v = normal(rng);
  return values;
}

// A request body the way json.dumps lays it out (", " and ": " separators); `nested` as tolist() of the
// [1, 1, 40, 241] array gives it, else flat.
std::string JsonRequest(bool shortest_float, bool nested = false) {
  std::string body = R"({"inputs": [{"name": "input", "shape": [1, 1, 40, 241], "datatype": "FP32", "data": )";
  body += nested ? "[[[[" : "[";
  char buf[64];
  int64_t i = 0;
  for (float v : SeedValues()) {
    auto r = shortest_float ? std::to_chars(buf, buf + sizeof(buf), v)
                            : std::to_chars(buf, buf + sizeof(buf), double{v});
    if (i > 0) body += nested && i % 241 == 0 ? "], [" : ", ";
    body.append(buf, r.ptr);
    ++i;
  }
  body += nested ? "]]]]}]}" : "]}]}";
  return body;
}

// The HTTP layer is expected to leave SIMDJSON_PADDING (64) bytes of spare capacity after the body.
std::shared_ptr<const std::string> WithCapacity(const std::string& s, size_t extra) {
  auto body = std::make_shared<std::string>();
  body->reserve(s.size() + extra);
  body->assign(s);
  return body;
}

void DecodeJson(benchmark::State& state, bool shortest, size_t extra_capacity, bool nested = false) {
  const auto body = WithCapacity(JsonRequest(shortest, nested), extra_capacity);
  for (auto _ : state) {
    auto request = DecodeInferRequest(body, std::nullopt);
    if (!request.ok()) state.SkipWithError(std::string(request.status().message()).c_str());
    benchmark::DoNotOptimize(request);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(body->size()));
  state.counters["body_bytes"] = static_cast<double>(body->size());
}

void BM_DecodeJson17Digits(benchmark::State& state) { DecodeJson(state, false, 64); }
void BM_DecodeJsonShortest(benchmark::State& state) { DecodeJson(state, true, 64); }
void BM_DecodeJsonUnpadded(benchmark::State& state) { DecodeJson(state, false, 0); }
void BM_DecodeJsonNested(benchmark::State& state) { DecodeJson(state, false, 64, /*nested=*/true); }

void BM_DecodeBinary(benchmark::State& state) {
  const std::vector<float> values = SeedValues();
  const std::string json = R"({"inputs":[{"name":"input","shape":[1,1,40,241],"datatype":"FP32",)"
                           R"("parameters":{"binary_data_size":38560}}]})";
  const std::string data(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  const auto body = WithCapacity(json + data, 64);
  for (auto _ : state) {
    auto request = DecodeInferRequest(body, json.size());
    if (!request.ok()) state.SkipWithError(std::string(request.status().message()).c_str());
    benchmark::DoNotOptimize(request);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(body->size()));
}

void Encode(benchmark::State& state, bool binary) {
  serving::InferenceResponse response;
  response.model = "seed001";
  response.version = 1;
  response.outputs.push_back({"output", Tensor::FromVector<float>({1, 1, 40, 241}, SeedValues()), binary});
  size_t size = 0;
  for (auto _ : state) {
    EncodedResponse encoded = EncodeInferResponse(response);
    size = encoded.body.size();
    benchmark::DoNotOptimize(encoded);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(size));
  state.counters["body_bytes"] = static_cast<double>(size);
}

void BM_EncodeJson(benchmark::State& state) { Encode(state, false); }
void BM_EncodeBinary(benchmark::State& state) { Encode(state, true); }

BENCHMARK(BM_DecodeJson17Digits)->Name("Decode/Json17Digits");
BENCHMARK(BM_DecodeJsonShortest)->Name("Decode/JsonShortest");
BENCHMARK(BM_DecodeJsonUnpadded)->Name("Decode/JsonUnpadded");
BENCHMARK(BM_DecodeJsonNested)->Name("Decode/JsonNested17Digits");
BENCHMARK(BM_DecodeBinary)->Name("Decode/Binary");
BENCHMARK(BM_EncodeJson)->Name("Encode/Json");
BENCHMARK(BM_EncodeBinary)->Name("Encode/Binary");

}  // namespace
}  // namespace peregrine::kserve

BENCHMARK_MAIN();
