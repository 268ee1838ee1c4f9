// Prepared requests from model metadata: shapes, generated data, files, binary tensors, the wire bytes.
#include "loadgen/workload.h"

#include <cstdio>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <simdjson.h>

#include "tensor/npy.h"

namespace peregrine::loadgen {
namespace {

const char* kSimple =
    R"({"name":"simple","versions":["1"],"platform":"onnx","inputs":[{"name":"INPUT0","datatype":"INT32","shape":[-1,16]},)"
    R"({"name":"INPUT1","datatype":"INT32","shape":[-1,16]}],"outputs":[{"name":"OUTPUT0","datatype":"INT32","shape":[-1,16]}]})";

WorkloadOptions Options() {
  WorkloadOptions o;
  o.model = "simple";
  return o;
}

TEST(WorkloadTest, JsonFromMetadataWithBatchSize) {
  WorkloadOptions o = Options();
  o.batch_size = 2;
  o.version = "1";
  auto w = BuildInferWorkload(kSimple, o);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->path, "/v2/models/simple/versions/1/infer");
  simdjson::dom::parser parser;
  simdjson::dom::element body = parser.parse(w->body);
  simdjson::dom::array inputs = body["inputs"];
  ASSERT_EQ(inputs.size(), 2u);
  simdjson::dom::element first = inputs.at(0);
  EXPECT_EQ(std::string_view(first["datatype"]), "INT32");
  EXPECT_EQ(simdjson::dom::array(first["shape"]).size(), 2u);
  EXPECT_EQ(int64_t(first["shape"].at(0)), 2);
  simdjson::dom::array data = first["data"];
  EXPECT_EQ(data.size(), 32u);
  for (simdjson::dom::element v : data) {
    EXPECT_GE(int64_t(v), 0);
    EXPECT_LT(int64_t(v), 10);
  }
  EXPECT_EQ(w->summary, "INPUT0 INT32 [2,16], INPUT1 INT32 [2,16]; JSON; " + std::to_string(w->body.size()) + " bytes");
}

TEST(WorkloadTest, ZeroDataAndSeedsAreDeterministic) {
  WorkloadOptions o = Options();
  o.data = "zero";
  auto zero = BuildInferWorkload(kSimple, o);
  ASSERT_TRUE(zero.ok());
  EXPECT_NE(zero->body.find("\"data\":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]"), std::string::npos);
  o.data = "random";
  EXPECT_EQ(BuildInferWorkload(kSimple, o)->body, BuildInferWorkload(kSimple, o)->body);
  WorkloadOptions other = o;
  other.seed = 2;
  EXPECT_NE(BuildInferWorkload(kSimple, o)->body, BuildInferWorkload(kSimple, other)->body);
}

TEST(WorkloadTest, BinaryTensors) {
  WorkloadOptions o = Options();
  o.binary = true;
  auto w = BuildInferWorkload(kSimple, o);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(w->json_length.has_value());
  EXPECT_EQ(w->body.size(), *w->json_length + 2 * 16 * 4);
  const std::string header = w->body.substr(0, *w->json_length);
  EXPECT_NE(header.find("\"binary_data_size\":64"), std::string::npos);
  EXPECT_NE(header.find("\"binary_data_output\":true"), std::string::npos);
  const std::string wire = WireRequest(Endpoint{"127.0.0.1", 8000, ""}, *w);
  EXPECT_NE(wire.find("Inference-Header-Content-Length: " + std::to_string(*w->json_length) + "\r\n"), std::string::npos);
}

TEST(WorkloadTest, ValuesFromJsonAndNpyFiles) {
  const std::string dir = ::testing::TempDir();
  const std::string json_path = dir + "/input0.json";
  std::ofstream(json_path) << "[[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]]";
  const std::string npy_path = dir + "/input1.npy";
  ASSERT_TRUE(WriteNpy(npy_path, Tensor::FromVector<int32_t>({1, 16}, std::vector<int32_t>(16, 7))).ok());
  WorkloadOptions o = Options();
  o.input_files = {"INPUT0=" + json_path, "INPUT1=" + npy_path};
  auto w = BuildInferWorkload(kSimple, o);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_NE(w->body.find("\"data\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]"), std::string::npos) << w->body;
  EXPECT_NE(w->body.find("\"data\":[7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7]"), std::string::npos) << w->body;
  o.input_files = {"NOPE=" + json_path};
  EXPECT_FALSE(BuildInferWorkload(kSimple, o).ok());
  std::ofstream(json_path) << "[1,2,3]";
  o.input_files = {"INPUT0=" + json_path};
  EXPECT_FALSE(BuildInferWorkload(kSimple, o).ok());  // 3 values for [1,16]
}

TEST(WorkloadTest, ShapeOverrideAndFloats) {
  const char* meta = R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1,-1]},{"name":"h","datatype":"FP16","shape":[2]}]})";
  WorkloadOptions o = Options();
  o.shapes = {"x=1,3"};
  auto w = BuildInferWorkload(meta, o);
  ASSERT_TRUE(w.ok()) << w.status();
  simdjson::dom::parser parser;
  simdjson::dom::element body = parser.parse(w->body);
  simdjson::dom::element x = body["inputs"].at(0);
  EXPECT_EQ(simdjson::dom::array(x["data"]).size(), 3u);
  for (simdjson::dom::element v : simdjson::dom::array(x["data"])) {
    EXPECT_GE(double(v), 0.0);
    EXPECT_LT(double(v), 1.0);
  }
  EXPECT_EQ(std::string_view(body["inputs"].at(1)["datatype"]), "FP16");
  o.shapes = {"x=1,a"};
  EXPECT_FALSE(BuildInferWorkload(meta, o).ok());
  EXPECT_FALSE(BuildInferWorkload("{\"inputs\": 3}", Options()).ok());
}

TEST(WorkloadTest, GenerateRequestAndWireBytes) {
  WorkloadOptions o = Options();
  o.model = "textgen";
  o.generate_prompt = "say \"hi\"\n";
  o.max_tokens = 8;
  auto w = BuildGenerateWorkload(o);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->path, "/v2/models/textgen/generate");
  EXPECT_EQ(w->body, R"({"text_input":"say \"hi\"\u000a","parameters":{"max_tokens":8}})");
  const std::string wire = WireRequest(Endpoint{"localhost", 8000, "/base"}, *w);
  EXPECT_EQ(wire, "POST /base/v2/models/textgen/generate HTTP/1.1\r\nHost: localhost:8000\r\nUser-Agent: peregrine-bench\r\n"
                  "Content-Type: application/json\r\nContent-Length: " + std::to_string(w->body.size()) + "\r\n\r\n" + w->body);
}

TEST(WorkloadTest, Urls) {
  auto e = ParseUrl("http://127.0.0.1:8000");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->host, "127.0.0.1");
  EXPECT_EQ(e->port, 8000);
  EXPECT_EQ(e->base_path, "");
  e = ParseUrl("example.com/kserve/");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->port, 80);
  EXPECT_EQ(e->base_path, "/kserve");
  EXPECT_EQ(e->HostHeader(), "example.com");
  EXPECT_FALSE(ParseUrl("https://x").ok());
  EXPECT_FALSE(ParseUrl("http://x:99999").ok());
  EXPECT_FALSE(ParseUrl("http://:80").ok());
  e = ParseUrl("http://[::1]:8001/p");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->host, "::1");  // as the resolver takes it
  EXPECT_EQ(e->port, 8001);
  EXPECT_EQ(e->base_path, "/p");
  EXPECT_EQ(e->HostHeader(), "[::1]:8001");
  e = ParseUrl("[::1]");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->port, 80);
  EXPECT_EQ(e->HostHeader(), "[::1]");
  EXPECT_FALSE(ParseUrl("http://[::1").ok());
  EXPECT_FALSE(ParseUrl("http://[::1]x").ok());
}

}  // namespace
}  // namespace peregrine::loadgen
