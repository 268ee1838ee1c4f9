// Tests of Triton's system shared memory extension: the registry (src/kserve/shared_memory.h) over real POSIX
// shared-memory objects, the codec's shared-memory tensors (codec.h), writing outputs, and the HTTP endpoint
// function (shared_memory_http.h).
#include "kserve/shared_memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "kserve/codec.h"
#include "kserve/shared_memory_http.h"

namespace peregrine::kserve {
namespace {

using serving::InferenceOutput;
using serving::InferenceRequest;
using serving::InferenceResponse;
using ::testing::HasSubstr;

// A POSIX shared-memory object of `size` bytes, mapped here too; unlinked and unmapped at the end.
class ShmObject {
 public:
  explicit ShmObject(size_t size) : size_(size) {
    static std::atomic<int> counter{0};
    key_ = "/peregrine_shm_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
    const int fd = ::shm_open(key_.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    EXPECT_GE(fd, 0) << std::strerror(errno);
    EXPECT_EQ(::ftruncate(fd, static_cast<off_t>(size)), 0);
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    EXPECT_NE(p, MAP_FAILED);
    data_ = static_cast<char*>(p);
    ::close(fd);
  }
  ~ShmObject() {
    ::munmap(data_, size_);
    ::shm_unlink(key_.c_str());
  }
  const std::string& key() const { return key_; }
  char* data() const { return data_; }

 private:
  std::string key_;
  size_t size_;
  char* data_ = nullptr;
};

// Whether this process maps the object `key` (/dev/shm/<key> in /proc/self/maps).
bool Mapped(const std::string& key) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.find("/dev/shm" + key) != std::string::npos) return true;
  }
  return false;
}

void ExpectInvalid(const absl::Status& status, std::vector<std::string> parts) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  for (const std::string& part : parts) EXPECT_THAT(std::string(status.message()), HasSubstr(part));
}

// ---- Registry -------------------------------------------------------------------------------------------

TEST(SharedMemoryRegistryTest, MapsTheRangeAtAnyOffsetAndSharesWritesBothWays) {
  ShmObject object(3 * 4096);
  SharedMemoryRegistry registry;
  // 4196: not page-aligned, and in the second page.
  ASSERT_TRUE(registry.Register("r", object.key(), 4196, 64).ok());
  auto region = registry.Find("r");
  ASSERT_TRUE(region.ok());
  EXPECT_EQ((*region)->name(), "r");
  EXPECT_EQ((*region)->key(), object.key());
  EXPECT_EQ((*region)->offset(), 4196u);
  EXPECT_EQ((*region)->byte_size(), 64u);

  std::memcpy(object.data() + 4196 + 8, "hello", 5);
  auto bytes = (*region)->Bytes(8, 5);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(std::string(*bytes, 5), "hello");
  std::memcpy(*bytes, "HELLO", 5);
  EXPECT_EQ(std::string(object.data() + 4196 + 8, 5), "HELLO");
}

TEST(SharedMemoryRegistryTest, BytesChecksTheRange) {
  ShmObject object(4096);
  SharedMemoryRegistry registry;
  ASSERT_TRUE(registry.Register("r", object.key(), 0, 100).ok());
  auto region = *registry.Find("r");
  EXPECT_TRUE(region->Bytes(0, 100).ok());
  EXPECT_TRUE(region->Bytes(100, 0).ok());
  EXPECT_TRUE(region->Bytes(60, 40).ok());
  ExpectInvalid(region->Bytes(60, 41).status(), {"'r'", "100 bytes", "offset 60", "41"});
  ExpectInvalid(region->Bytes(101, 0).status(), {"'r'"});
  ExpectInvalid(region->Bytes(8, std::numeric_limits<uint64_t>::max()).status(), {"'r'"});
  ExpectInvalid(region->Bytes(std::numeric_limits<uint64_t>::max(), 2).status(), {"'r'"});
}

TEST(SharedMemoryRegistryTest, RegisterErrors) {
  ShmObject object(4096);
  SharedMemoryRegistry registry;
  ExpectInvalid(registry.Register("", object.key(), 0, 16), {"name"});
  ExpectInvalid(registry.Register("r", "", 0, 16), {"'r'", "key", "empty"});
  ExpectInvalid(registry.Register("r", "/peregrine_no_such_object_x", 0, 16),
                {"'r'", "/peregrine_no_such_object_x", "no such shared-memory object"});
  ExpectInvalid(registry.Register("r", "/a/b", 0, 16), {"'r'", "/a/b"});
  ExpectInvalid(registry.Register("r", object.key(), 0, 0), {"'r'", "byte_size must be positive"});
  ExpectInvalid(registry.Register("r", object.key(), 0, 4097), {"'r'", "beyond the 4096 bytes"});
  ExpectInvalid(registry.Register("r", object.key(), 4000, 97), {"'r'", "offset 4000", "byte_size 97"});
  ExpectInvalid(registry.Register("r", object.key(), std::numeric_limits<uint64_t>::max(), 2), {"'r'", "beyond"});
  ExpectInvalid(registry.Register("r", object.key(), 1, std::numeric_limits<uint64_t>::max()), {"'r'", "beyond"});
  EXPECT_TRUE(registry.List().empty());

  ASSERT_TRUE(registry.Register("r", object.key(), 0, 4096).ok());
  ExpectInvalid(registry.Register("r", object.key(), 0, 16), {"'r'", "already registered"});
  EXPECT_EQ((*registry.Find("r"))->byte_size(), 4096u);  // the first registration stands
}

TEST(SharedMemoryRegistryTest, FindListAndUnregister) {
  ShmObject object(4096);
  SharedMemoryRegistry registry;
  EXPECT_EQ(registry.Find("r").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(registry.Register("b", object.key(), 0, 16).ok());
  ASSERT_TRUE(registry.Register("a", object.key(), 16, 32).ok());  // two regions of one object
  auto list = registry.List();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0]->name(), "a");
  EXPECT_EQ(list[1]->name(), "b");
  EXPECT_TRUE(registry.Unregister("a"));
  EXPECT_FALSE(registry.Unregister("a"));
  EXPECT_FALSE(registry.Unregister("never"));
  EXPECT_EQ(registry.Find("a").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(registry.Find("b").ok());
  registry.UnregisterAll();
  EXPECT_TRUE(registry.List().empty());
}

TEST(SharedMemoryRegistryTest, UnregisterWhileInUseKeepsTheMappingUntilTheLastUserLetsGo) {
  // An object this test does not map itself, so that /proc/self/maps shows only the registry's mapping.
  const std::string key = "/peregrine_shm_test_unmap_" + std::to_string(::getpid());
  const int fd = ::shm_open(key.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 4096), 0);
  ASSERT_EQ(::pwrite(fd, "data", 4, 0), 4);
  ::close(fd);

  SharedMemoryRegistry registry;
  ASSERT_TRUE(registry.Register("r", key, 0, 4096).ok());
  ::shm_unlink(key.c_str());
  EXPECT_TRUE(Mapped(key));
  std::shared_ptr<const SharedMemoryRegion> in_use = *registry.Find("r");
  EXPECT_TRUE(registry.Unregister("r"));
  EXPECT_EQ(registry.Find("r").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(Mapped(key));  // the request still reads it
  EXPECT_EQ(std::string(*in_use->Bytes(0, 4), 4), "data");
  in_use.reset();
  EXPECT_FALSE(Mapped(key));  // unmapped with the last reference
}

TEST(SharedMemoryRegistryTest, ANameCanBeRegisteredAgainOnceUnregistered) {
  ShmObject first(4096), second(8192);
  SharedMemoryRegistry registry;
  ASSERT_TRUE(registry.Register("r", first.key(), 0, 4096).ok());
  auto old_region = *registry.Find("r");
  registry.Unregister("r");
  ASSERT_TRUE(registry.Register("r", second.key(), 0, 8192).ok());
  EXPECT_EQ((*registry.Find("r"))->key(), second.key());
  EXPECT_EQ(old_region->key(), first.key());  // the old one still serves its user
}

TEST(SharedMemoryRegistryTest, ConcurrentRegistrationsOfOneNameLetExactlyOneWin) {
  ShmObject object(4096);
  SharedMemoryRegistry registry;
  std::atomic<int> successes{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      if (registry.Register("r", object.key(), 0, 64).ok()) ++successes;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(successes.load(), 1);
  EXPECT_EQ(registry.List().size(), 1u);
}

// ---- Writing outputs ------------------------------------------------------------------------------------

TEST(SharedMemoryOutputsTest, WritesRawAndBytesOutputs) {
  ShmObject object(4096);
  SharedMemoryRegistry registry;
  ASSERT_TRUE(registry.Register("out", object.key(), 0, 256).ok());
  auto region = *registry.Find("out");
  InferenceResponse response;
  response.outputs.push_back({"a", Tensor::FromVector<int32_t>({3}, {1, -2, 3}), false});
  response.outputs.push_back({"s", Tensor::FromVector<std::string>({2}, {"hi", ""}), false});
  response.outputs.push_back({"json", Tensor::FromVector<int32_t>({1}, {7}), false});
  const SharedMemoryOutputs outputs = {{"a", region, 0, 12}, {"s", region, 100, 64}};
  ASSERT_TRUE(WriteSharedMemoryOutputs(outputs, response).ok());
  int32_t a[3];
  std::memcpy(a, object.data(), 12);
  EXPECT_EQ(a[0], 1);
  EXPECT_EQ(a[1], -2);
  EXPECT_EQ(a[2], 3);
  EXPECT_EQ(std::string(object.data() + 100, 10), std::string("\x02\0\0\0hi\0\0\0\0", 10));
  EXPECT_EQ(SerializedByteSize(response.outputs[1].tensor), 10u);
}

TEST(SharedMemoryOutputsTest, TooSmallWritesNothingAndNamesTheOutput) {
  ShmObject object(4096);
  SharedMemoryRegistry registry;
  ASSERT_TRUE(registry.Register("out", object.key(), 0, 256).ok());
  auto region = *registry.Find("out");
  std::memset(object.data(), 0x55, 256);
  InferenceResponse response;
  response.outputs.push_back({"a", Tensor::FromVector<int32_t>({2}, {1, 2}), false});
  response.outputs.push_back({"b", Tensor::FromVector<int32_t>({4}, {1, 2, 3, 4}), false});
  const SharedMemoryOutputs outputs = {{"a", region, 0, 8}, {"b", region, 8, 15}};
  ExpectInvalid(WriteSharedMemoryOutputs(outputs, response), {"output 'b'", "15", "16 bytes"});
  EXPECT_EQ(static_cast<uint8_t>(object.data()[0]), 0x55);  // 'a' was not written either
}

// ---- Codec ----------------------------------------------------------------------------------------------

class SharedMemoryCodecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(registry_.Register("in", object_.key(), 0, 1024).ok());
    ASSERT_TRUE(registry_.Register("out", object_.key(), 1024, 1024).ok());
  }

  absl::StatusOr<InferenceRequest> Decode(const std::string& json, SharedMemoryOutputs* outputs = nullptr) {
    return DecodeInferRequest(std::make_shared<const std::string>(json), std::nullopt, &registry_,
                              outputs != nullptr ? outputs : &outputs_);
  }

  ShmObject object_{4096};
  SharedMemoryRegistry registry_;
  SharedMemoryOutputs outputs_;
};

TEST_F(SharedMemoryCodecTest, InputsBorrowFromTheRegionAndKeepItAlive) {
  const int32_t values[4] = {10, 20, 30, 40};
  std::memcpy(object_.data() + 16, values, sizeof(values));
  auto request = Decode(R"({"inputs":[{"name":"x","datatype":"INT32","shape":[2,2],"parameters":)"
                        R"({"shared_memory_region":"in","shared_memory_offset":16,"shared_memory_byte_size":16}}]})");
  ASSERT_TRUE(request.ok()) << request.status();
  const Tensor& t = request->inputs[0].tensor;
  EXPECT_EQ(t.shape(), (Shape{2, 2}));
  EXPECT_EQ(t.values<int32_t>()[3], 40);
  EXPECT_EQ(static_cast<const char*>(t.data()), (*registry_.Find("in"))->Bytes(16, 16).value());  // no copy
  // Unregistering does not pull the memory from under the request.
  ASSERT_NE(request->keep_alive, nullptr);
  registry_.Unregister("in");
  EXPECT_EQ(t.values<int32_t>()[0], 10);
}

TEST_F(SharedMemoryCodecTest, MisalignedInputsAreCopiedAndStringsDecoded) {
  const float f = 1.5f;
  std::memcpy(object_.data() + 3, &f, 4);
  std::memcpy(object_.data() + 100, "\x03\0\0\0abc\x00\0\0\0", 11);
  auto request = Decode(
      R"({"inputs":[{"name":"f","datatype":"FP32","shape":[1],"parameters":{"shared_memory_region":"in",)"
      R"("shared_memory_offset":3,"shared_memory_byte_size":4}},{"name":"s","datatype":"BYTES","shape":[2],)"
      R"("parameters":{"shared_memory_region":"in","shared_memory_offset":100,"shared_memory_byte_size":11}}]})");
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->inputs[0].tensor.values<float>()[0], 1.5f);
  EXPECT_TRUE(request->inputs[0].tensor.owns_data());
  EXPECT_EQ(request->inputs[1].tensor.values<std::string>()[0], "abc");
  EXPECT_EQ(request->inputs[1].tensor.values<std::string>()[1], "");
}

TEST_F(SharedMemoryCodecTest, InputErrorsNameTheTensor) {
  auto input = [](const std::string& params, const std::string& extra = "") {
    return R"({"inputs":[{"name":"x","datatype":"INT32","shape":[4],)" + extra + R"("parameters":)" + params + "}]}";
  };
  auto expect = [&](const std::string& json, std::vector<std::string> parts) {
    auto result = Decode(json);
    ASSERT_FALSE(result.ok()) << json;
    ExpectInvalid(result.status(), parts);
  };
  expect(input(R"({"shared_memory_region":"in","shared_memory_byte_size":12})"),
         {"'x'", "shared_memory_byte_size 12", "does not match", "[4]"});
  expect(input(R"({"shared_memory_region":"nope","shared_memory_byte_size":16})"), {"'x'", "'nope'", "not registered"});
  expect(input(R"({"shared_memory_region":"in"})"), {"'x'", "needs parameters.shared_memory_byte_size"});
  expect(input(R"({"shared_memory_byte_size":16})"), {"'x'", "without parameters.shared_memory_region"});
  expect(input(R"({"shared_memory_offset":0})"), {"'x'", "without parameters.shared_memory_region"});
  expect(input(R"({"shared_memory_region":"in","shared_memory_offset":1020,"shared_memory_byte_size":16})"),
         {"'x'", "'in' has 1024 bytes", "runs past its end"});
  expect(input(R"({"shared_memory_region":7,"shared_memory_byte_size":16})"), {"'x'", "must be a string"});
  expect(input(R"({"shared_memory_region":"in","shared_memory_byte_size":-16})"), {"'x'", "non-negative integer"});
  expect(input(R"({"shared_memory_region":"in","shared_memory_offset":1.5,"shared_memory_byte_size":16})"),
         {"'x'", "shared_memory_offset", "non-negative integer"});
  expect(input(R"({"shared_memory_region":"in","shared_memory_byte_size":16})", R"("data":[1,2,3,4],)"),
         {"'x'", "both shared memory parameters and \"data\""});
  expect(input(R"({"shared_memory_region":"in","shared_memory_byte_size":16,"binary_data_size":16})"),
         {"'x'", "both shared memory parameters and parameters.binary_data_size"});
  // BOOL values are checked as in binary data.
  object_.data()[0] = 2;
  expect(R"({"inputs":[{"name":"b","datatype":"BOOL","shape":[1],"parameters":)"
         R"({"shared_memory_region":"in","shared_memory_byte_size":1}}]})",
         {"'b'", "not 0 or 1"});
  // Without a registry (a caller that does not serve the extension) shared memory is refused.
  auto refused = DecodeInferRequest(
      std::make_shared<const std::string>(input(R"({"shared_memory_region":"in","shared_memory_byte_size":16})")),
      std::nullopt);
  ASSERT_FALSE(refused.ok());
  ExpectInvalid(refused.status(), {"'x'", "shared memory is not available"});
}

TEST_F(SharedMemoryCodecTest, OutputsAreRecordedAndEncodedWithParametersInsteadOfData) {
  const std::string inputs = R"("inputs":[{"name":"x","datatype":"INT32","shape":[1],"data":[1]}])";
  SharedMemoryOutputs outputs;
  auto request = Decode(
      "{" + inputs + R"(,"parameters":{"binary_data_output":true},"outputs":[{"name":"a","parameters":)"
      R"({"shared_memory_region":"out","shared_memory_offset":8,"shared_memory_byte_size":64,"binary_data":false}},)"
      R"({"name":"b"}]})",
      &outputs);
  ASSERT_TRUE(request.ok()) << request.status();
  ASSERT_EQ(outputs.size(), 1u);
  EXPECT_EQ(outputs[0].name, "a");
  EXPECT_EQ(outputs[0].region->name(), "out");
  EXPECT_EQ(outputs[0].offset, 8u);
  EXPECT_EQ(outputs[0].byte_size, 64u);
  ASSERT_EQ(request->outputs.size(), 2u);
  EXPECT_FALSE(request->outputs[0].binary);
  EXPECT_TRUE(request->outputs[1].binary);

  InferenceResponse response;
  response.model = "m";
  response.version = 1;
  response.outputs.push_back({"a", Tensor::FromVector<int32_t>({2}, {5, 6}), false});
  response.outputs.push_back({"b", Tensor::FromVector<int32_t>({1}, {9}), true});
  ASSERT_TRUE(WriteSharedMemoryOutputs(outputs, response).ok());
  int32_t written[2];
  std::memcpy(written, object_.data() + 1024 + 8, 8);
  EXPECT_EQ(written[0], 5);
  EXPECT_EQ(written[1], 6);
  const EncodedResponse encoded = EncodeInferResponse(response, &outputs);
  ASSERT_TRUE(encoded.json_length.has_value());  // "b" is still binary
  const std::string json = encoded.body.substr(0, *encoded.json_length);
  EXPECT_THAT(json, HasSubstr(R"({"name":"a","datatype":"INT32","shape":[2],"parameters":{"shared_memory_region":)"
                              R"("out","shared_memory_byte_size":8,"shared_memory_offset":8}})"));
  EXPECT_EQ(encoded.body.size(), *encoded.json_length + 4);  // only b's 4 bytes follow the JSON
}

TEST_F(SharedMemoryCodecTest, OutputErrorsNameTheTensor) {
  const std::string head = R"({"inputs":[{"name":"x","datatype":"INT32","shape":[1],"data":[1]}],"outputs":[)";
  auto expect = [&](const std::string& output, std::vector<std::string> parts) {
    auto result = Decode(head + output + "]}");
    ASSERT_FALSE(result.ok()) << output;
    ExpectInvalid(result.status(), parts);
  };
  expect(R"({"name":"a","parameters":{"shared_memory_region":"zz","shared_memory_byte_size":4}})",
         {"output 'a'", "'zz'", "not registered"});
  expect(R"({"name":"a","parameters":{"shared_memory_region":"out"}})", {"output 'a'", "shared_memory_byte_size"});
  expect(R"({"name":"a","parameters":{"shared_memory_region":"out","shared_memory_byte_size":1025}})",
         {"output 'a'", "runs past its end"});
  expect(R"({"name":"a","parameters":{"shared_memory_offset":4}})", {"output 'a'", "without"});
  expect(R"({"name":"a","parameters":{"shared_memory_region":"out","shared_memory_byte_size":4,"binary_data":true}})",
         {"output 'a'", "exclude each other"});
  expect(R"({"name":"a","parameters":{"binary_data":1}})", {"output 'a'", "binary_data must be a boolean"});
  // A caller that cannot write outputs into shared memory refuses them.
  auto refused = DecodeInferRequest(
      std::make_shared<const std::string>(
          head + R"({"name":"a","parameters":{"shared_memory_region":"out","shared_memory_byte_size":4}}]})"),
      std::nullopt, &registry_, nullptr);
  ASSERT_FALSE(refused.ok());
  ExpectInvalid(refused.status(), {"output 'a'", "not available"});
}

// ---- HTTP endpoints -------------------------------------------------------------------------------------

std::vector<std::string> Segments(const std::string& path) {
  std::vector<std::string> segments;
  size_t start = 1;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    segments.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return segments;
}

TEST(SharedMemoryEndpointTest, RegisterStatusUnregister) {
  ShmObject object(4096);
  SharedMemoryRegistry registry;
  auto call = [&](const char* method, const std::string& path, const std::string& body = "") {
    return SharedMemoryEndpoint(registry, method, Segments(path), body);
  };
  EXPECT_EQ(*call("GET", "/v2/systemsharedmemory/status"), "[]");
  auto registered = call("POST", "/v2/systemsharedmemory/region/r1/register",
                         R"({"key":")" + object.key() + R"(","offset":8,"byte_size":64})");
  ASSERT_TRUE(registered.ok()) << registered.status();
  EXPECT_EQ(*registered, "");
  ASSERT_TRUE(call("POST", "/v2/systemsharedmemory/region/r2/register",
                   R"({"key":")" + object.key() + R"(","byte_size":16})").ok());
  const std::string r1 = R"({"name":"r1","key":")" + object.key() + R"(","offset":8,"byte_size":64})";
  const std::string r2 = R"({"name":"r2","key":")" + object.key() + R"(","offset":0,"byte_size":16})";
  EXPECT_EQ(*call("GET", "/v2/systemsharedmemory/status"), "[" + r1 + "," + r2 + "]");
  EXPECT_EQ(*call("GET", "/v2/systemsharedmemory/region/r2/status"), "[" + r2 + "]");
  EXPECT_TRUE(call("POST", "/v2/systemsharedmemory/region/r1/unregister").ok());
  EXPECT_TRUE(call("POST", "/v2/systemsharedmemory/region/r1/unregister").ok());  // unknown: no error
  EXPECT_EQ(*call("GET", "/v2/systemsharedmemory/status"), "[" + r2 + "]");
  EXPECT_TRUE(call("POST", "/v2/systemsharedmemory/unregister").ok());
  EXPECT_EQ(*call("GET", "/v2/systemsharedmemory/status"), "[]");
}

TEST(SharedMemoryEndpointTest, Errors) {
  ShmObject object(4096);
  SharedMemoryRegistry registry;
  auto call = [&](const char* method, const std::string& path, const std::string& body = "") {
    return SharedMemoryEndpoint(registry, method, Segments(path), body).status();
  };
  const std::string reg = "/v2/systemsharedmemory/region/r/register";
  ExpectInvalid(call("POST", reg, "not json"), {"'r'", "JSON object"});
  ExpectInvalid(call("POST", reg, "[1]"), {"'r'", "JSON object"});
  ExpectInvalid(call("POST", reg, R"({"byte_size":4})"), {"'r'", "\"key\""});
  ExpectInvalid(call("POST", reg, R"({"key":5,"byte_size":4})"), {"'r'", "\"key\""});
  ExpectInvalid(call("POST", reg, R"({"key":")" + object.key() + R"("})"), {"'r'", "\"byte_size\""});
  ExpectInvalid(call("POST", reg, R"({"key":")" + object.key() + R"(","byte_size":-1})"), {"'r'", "\"byte_size\""});
  ExpectInvalid(call("POST", reg, R"({"key":")" + object.key() + R"(","offset":"0","byte_size":4})"),
                {"'r'", "\"offset\""});
  ExpectInvalid(call("POST", reg, R"({"key":"/peregrine_missing_key","byte_size":4})"),
                {"'r'", "no such shared-memory object"});
  ExpectInvalid(call("POST", reg, R"({"key":")" + object.key() + R"(","byte_size":8192})"), {"'r'", "beyond"});
  ASSERT_TRUE(call("POST", reg, R"({"key":")" + object.key() + R"(","byte_size":4})").ok());
  ExpectInvalid(call("POST", reg, R"({"key":")" + object.key() + R"(","byte_size":4})"), {"already registered"});
  ExpectInvalid(call("POST", "/v2/systemsharedmemory/register", "{}"), {"region name"});
  ExpectInvalid(call("GET", "/v2/systemsharedmemory/region/zz/status"), {"'zz'", "not registered"});
  ExpectInvalid(call("POST", "/v2/systemsharedmemory/status"), {"method POST", "use GET"});
  ExpectInvalid(call("GET", reg), {"method GET", "use POST"});
  EXPECT_EQ(call("GET", "/v2/systemsharedmemory/region/r/other").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(call("GET", "/v2/systemsharedmemory/regions/r/status").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(call("GET", "/v2/systemsharedmemory").code(), absl::StatusCode::kNotFound);
}

TEST(SharedMemoryEndpointTest, CudaSharedMemoryAnswersAsTritonWithoutGpus) {
  SharedMemoryRegistry registry;
  auto call = [&](const char* method, const std::string& path, const std::string& body = "") {
    return SharedMemoryEndpoint(registry, method, Segments(path), body);
  };
  EXPECT_EQ(*call("GET", "/v2/cudasharedmemory/status"), "[]");
  EXPECT_EQ(*call("POST", "/v2/cudasharedmemory/unregister"), "");
  EXPECT_EQ(*call("POST", "/v2/cudasharedmemory/region/c/unregister"), "");
  ExpectInvalid(call("POST", "/v2/cudasharedmemory/region/c/register",
                     R"({"raw_handle":{"b64":"AAAA"},"device_id":0,"byte_size":4})")
                    .status(),
                {"'c'", "CUDA shared memory is not supported by this server"});
  ExpectInvalid(call("GET", "/v2/cudasharedmemory/region/c/status").status(),
                {"'c'", "CUDA shared memory is not supported by this server"});
}

}  // namespace
}  // namespace peregrine::kserve
