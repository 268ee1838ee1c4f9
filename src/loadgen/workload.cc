#include "loadgen/workload.h"

#include <charconv>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include <simdjson.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "kserve/codec.h"
#include "kserve/half_float.h"
#include "tensor/npy.h"

namespace peregrine::loadgen {
namespace {

struct InputTensor {
  std::string name;
  DataType dtype = DataType::kUndefined;
  std::vector<int64_t> shape;
  std::string raw;                   // little-endian elements, numeric and BOOL
  std::vector<std::string> strings;  // BYTES
};

int64_t Product(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

size_t RawSize(DataType dtype) { return dtype == DataType::kString ? 0 : ElementSize(dtype); }

// Writes element i of a numeric tensor from a double (floats) or an integer (exact for 64-bit integers).
template <typename T>
void Put(std::string& raw, size_t i, T value) {
  std::memcpy(raw.data() + i * sizeof(T), &value, sizeof(T));
}

void StoreDouble(InputTensor& t, size_t i, double v) {
  switch (t.dtype) {
    case DataType::kFloat32: Put(t.raw, i, static_cast<float>(v)); break;
    case DataType::kFloat64: Put(t.raw, i, v); break;
    case DataType::kFloat16: Put(t.raw, i, kserve::DoubleToFp16Bits(v)); break;
    case DataType::kBFloat16: Put(t.raw, i, kserve::DoubleToBf16Bits(v)); break;
    case DataType::kBool: Put(t.raw, i, static_cast<uint8_t>(v != 0)); break;
    case DataType::kInt8: Put(t.raw, i, static_cast<int8_t>(v)); break;
    case DataType::kInt16: Put(t.raw, i, static_cast<int16_t>(v)); break;
    case DataType::kInt32: Put(t.raw, i, static_cast<int32_t>(v)); break;
    case DataType::kInt64: Put(t.raw, i, static_cast<int64_t>(v)); break;
    case DataType::kUint8: Put(t.raw, i, static_cast<uint8_t>(v)); break;
    case DataType::kUint16: Put(t.raw, i, static_cast<uint16_t>(v)); break;
    case DataType::kUint32: Put(t.raw, i, static_cast<uint32_t>(v)); break;
    case DataType::kUint64: Put(t.raw, i, static_cast<uint64_t>(v)); break;
    default: break;
  }
}

void StoreInt(InputTensor& t, size_t i, int64_t v) {
  switch (t.dtype) {
    case DataType::kInt64: Put(t.raw, i, v); break;
    case DataType::kUint64: Put(t.raw, i, static_cast<uint64_t>(v)); break;
    default: StoreDouble(t, i, static_cast<double>(v)); break;
  }
}

template <typename T>
T Get(const std::string& raw, size_t i) {
  T value;
  std::memcpy(&value, raw.data() + i * sizeof(T), sizeof(T));
  return value;
}

template <typename T>
void AppendNumber(std::string& out, T value) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out.append(buffer, result.ptr);
}

void AppendJsonString(std::string& out, const std::string& text) {
  out += '"';
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof(escaped), "\\u%04x", c);
      out += escaped;
    } else {
      out += ch;
    }
  }
  out += '"';
}

void AppendJsonElement(std::string& out, const InputTensor& t, size_t i) {
  switch (t.dtype) {
    case DataType::kFloat32: AppendNumber(out, Get<float>(t.raw, i)); break;
    case DataType::kFloat64: AppendNumber(out, Get<double>(t.raw, i)); break;
    case DataType::kFloat16: AppendNumber(out, kserve::Fp16BitsToFloat(Get<uint16_t>(t.raw, i))); break;
    case DataType::kBFloat16: AppendNumber(out, kserve::Bf16BitsToFloat(Get<uint16_t>(t.raw, i))); break;
    case DataType::kBool: out += Get<uint8_t>(t.raw, i) ? "true" : "false"; break;
    case DataType::kInt8: AppendNumber(out, static_cast<int>(Get<int8_t>(t.raw, i))); break;
    case DataType::kInt16: AppendNumber(out, Get<int16_t>(t.raw, i)); break;
    case DataType::kInt32: AppendNumber(out, Get<int32_t>(t.raw, i)); break;
    case DataType::kInt64: AppendNumber(out, Get<int64_t>(t.raw, i)); break;
    case DataType::kUint8: AppendNumber(out, static_cast<unsigned>(Get<uint8_t>(t.raw, i))); break;
    case DataType::kUint16: AppendNumber(out, Get<uint16_t>(t.raw, i)); break;
    case DataType::kUint32: AppendNumber(out, Get<uint32_t>(t.raw, i)); break;
    case DataType::kUint64: AppendNumber(out, Get<uint64_t>(t.raw, i)); break;
    case DataType::kString: AppendJsonString(out, t.strings[i]); break;
    default: out += "0"; break;
  }
}

struct InputSpec {
  std::string name;
  DataType dtype = DataType::kUndefined;
  std::vector<int64_t> shape;  // as the metadata gives it, -1 for variable
};

absl::StatusOr<std::vector<InputSpec>> ParseMetadataInputs(const std::string& json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  simdjson::dom::array inputs;
  if (parser.parse(json).get(root) != simdjson::SUCCESS || root["inputs"].get(inputs) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("model metadata has no \"inputs\" array");
  }
  std::vector<InputSpec> specs;
  for (simdjson::dom::element input : inputs) {
    std::string_view name, datatype;
    simdjson::dom::array shape;
    if (input["name"].get(name) != simdjson::SUCCESS || input["datatype"].get(datatype) != simdjson::SUCCESS ||
        input["shape"].get(shape) != simdjson::SUCCESS) {
      return absl::InvalidArgumentError("model metadata: an input lacks name, datatype or shape");
    }
    InputSpec spec;
    spec.name = std::string(name);
    ASSIGN_OR_RETURN(spec.dtype, kserve::ParseDatatype(datatype));
    for (simdjson::dom::element d : shape) {
      int64_t dim = 0;
      if (d.get(dim) != simdjson::SUCCESS) return absl::InvalidArgumentError("model metadata: non-integer dimension");
      spec.shape.push_back(dim);
    }
    specs.push_back(std::move(spec));
  }
  if (specs.empty()) return absl::InvalidArgumentError("model metadata lists no inputs");
  return specs;
}

// NAME=VALUE flags into a map; InvalidArgument for a flag without '='.
absl::StatusOr<std::map<std::string, std::string>> SplitAssignments(const std::vector<std::string>& flags,
                                                                   const char* what) {
  std::map<std::string, std::string> out;
  for (const std::string& flag : flags) {
    const size_t eq = flag.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(absl::StrCat("bad ", what, " '", flag, "': want NAME=VALUE"));
    }
    out[flag.substr(0, eq)] = flag.substr(eq + 1);
  }
  return out;
}

void FillGenerated(InputTensor& t, const std::string& data, std::mt19937_64& rng) {
  const size_t n = static_cast<size_t>(Product(t.shape));
  const bool zero = data == "zero";
  if (t.dtype == DataType::kString) {
    t.strings.assign(n, "");
    if (!zero) {
      for (std::string& s : t.strings) {
        for (int k = 0; k < 8; ++k) s += static_cast<char>('a' + rng() % 26);
      }
    }
    return;
  }
  t.raw.assign(n * RawSize(t.dtype), '\0');
  if (zero) return;
  for (size_t i = 0; i < n; ++i) {
    if (IsFloatingPoint(t.dtype)) {
      StoreDouble(t, i, static_cast<double>(rng() >> 11) * 0x1.0p-53);
    } else if (t.dtype == DataType::kBool) {
      StoreDouble(t, i, static_cast<double>(rng() & 1));
    } else {
      StoreInt(t, i, static_cast<int64_t>(rng() % 10));
    }
  }
}

absl::Status FlattenJson(simdjson::dom::element e, InputTensor& t, std::vector<std::pair<bool, double>>& numbers,
                         std::vector<int64_t>& integers) {
  switch (e.type()) {
    case simdjson::dom::element_type::ARRAY:
      for (simdjson::dom::element child : simdjson::dom::array(e)) RETURN_IF_ERROR(FlattenJson(child, t, numbers, integers));
      return absl::OkStatus();
    case simdjson::dom::element_type::INT64:
      numbers.emplace_back(true, 0);
      integers.push_back(int64_t(e));
      return absl::OkStatus();
    case simdjson::dom::element_type::UINT64:
      numbers.emplace_back(false, static_cast<double>(uint64_t(e)));
      return absl::OkStatus();
    case simdjson::dom::element_type::DOUBLE:
      numbers.emplace_back(false, double(e));
      return absl::OkStatus();
    case simdjson::dom::element_type::BOOL:
      numbers.emplace_back(false, bool(e) ? 1.0 : 0.0);
      return absl::OkStatus();
    case simdjson::dom::element_type::STRING:
      t.strings.emplace_back(std::string_view(e));
      return absl::OkStatus();
    default:
      return absl::InvalidArgumentError(absl::StrCat("input ", t.name, ": the JSON file holds a null or an object"));
  }
}

absl::Status FillFromJsonFile(InputTensor& t, const std::string& path, bool shape_was_given) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.load(path).get(root) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(absl::StrCat("input ", t.name, ": cannot read JSON file ", path));
  }
  std::vector<std::pair<bool, double>> numbers;
  std::vector<int64_t> integers;
  RETURN_IF_ERROR(FlattenJson(root, t, numbers, integers));
  const size_t count = t.dtype == DataType::kString ? t.strings.size() : numbers.size();
  if (static_cast<int64_t>(count) != Product(t.shape)) {
    if (shape_was_given || t.shape.size() > 1) {
      return absl::InvalidArgumentError(absl::StrCat("input ", t.name, ": ", path, " has ", count,
                                                     " values, the shape [", absl::StrJoin(t.shape, ","), "] needs ",
                                                     Product(t.shape)));
    }
    t.shape = {static_cast<int64_t>(count)};
  }
  if (t.dtype == DataType::kString) return absl::OkStatus();
  t.raw.assign(count * RawSize(t.dtype), '\0');
  size_t next_integer = 0;
  for (size_t i = 0; i < count; ++i) {
    if (numbers[i].first) {
      StoreInt(t, i, integers[next_integer++]);
    } else {
      StoreDouble(t, i, numbers[i].second);
    }
  }
  return absl::OkStatus();
}

absl::Status FillFromNpy(InputTensor& t, const std::string& path) {
  ASSIGN_OR_RETURN(Tensor tensor, ReadNpy(path));
  if (tensor.dtype() == DataType::kString) return absl::InvalidArgumentError(absl::StrCat(path, ": string arrays are not supported"));
  t.dtype = tensor.dtype();  // the file decides; the server checks it against the model
  t.shape.assign(tensor.shape().begin(), tensor.shape().end());
  t.raw.assign(static_cast<const char*>(tensor.data()), tensor.byte_size());
  return absl::OkStatus();
}

std::string EncodeJson(const std::vector<InputTensor>& inputs) {
  std::string body = "{\"inputs\":[";
  for (size_t k = 0; k < inputs.size(); ++k) {
    const InputTensor& t = inputs[k];
    if (k) body += ',';
    body += "{\"name\":";
    AppendJsonString(body, t.name);
    absl::StrAppend(&body, ",\"datatype\":\"", std::string(kserve::DatatypeName(t.dtype)), "\",\"shape\":[",
                    absl::StrJoin(t.shape, ","), "],\"data\":[");
    const size_t n = static_cast<size_t>(Product(t.shape));
    for (size_t i = 0; i < n; ++i) {
      if (i) body += ',';
      AppendJsonElement(body, t, i);
    }
    body += "]}";
  }
  body += "]}";
  return body;
}

// Returns the body; *json_length is the length of its JSON header.
std::string EncodeBinary(const std::vector<InputTensor>& inputs, size_t* json_length) {
  std::string json = "{\"inputs\":[";
  std::string data;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const InputTensor& t = inputs[k];
    const size_t before = data.size();
    if (t.dtype == DataType::kString) {
      for (const std::string& s : t.strings) {
        const uint32_t length = static_cast<uint32_t>(s.size());
        data.append(reinterpret_cast<const char*>(&length), 4);
        data += s;
      }
    } else {
      data += t.raw;
    }
    if (k) json += ',';
    json += "{\"name\":";
    AppendJsonString(json, t.name);
    absl::StrAppend(&json, ",\"datatype\":\"", std::string(kserve::DatatypeName(t.dtype)), "\",\"shape\":[",
                    absl::StrJoin(t.shape, ","), "],\"parameters\":{\"binary_data_size\":", data.size() - before, "}}");
  }
  json += "],\"parameters\":{\"binary_data_output\":true}}";
  *json_length = json.size();
  return json + data;
}

}  // namespace

std::string ModelPath(const std::string& model, const std::string& version) {
  std::string path = "/v2/models/" + model;
  if (!version.empty()) path += "/versions/" + version;
  return path;
}

absl::StatusOr<Workload> BuildInferWorkload(const std::string& metadata_json, const WorkloadOptions& options) {
  ASSIGN_OR_RETURN(std::vector<InputSpec> specs, ParseMetadataInputs(metadata_json));
  ASSIGN_OR_RETURN(auto files, SplitAssignments(options.input_files, "--input"));
  ASSIGN_OR_RETURN(auto shapes, SplitAssignments(options.shapes, "--shape"));
  if (options.data != "random" && options.data != "zero") {
    return absl::InvalidArgumentError(absl::StrCat("bad --data '", options.data, "': want random or zero"));
  }
  for (const auto& [name, unused] : files) {
    bool known = false;
    for (const InputSpec& s : specs) known |= s.name == name;
    if (!known) return absl::InvalidArgumentError(absl::StrCat("--input ", name, ": the model has no such input"));
  }
  std::mt19937_64 rng(options.seed);
  std::vector<InputTensor> inputs;
  std::vector<std::string> described;
  for (const InputSpec& spec : specs) {
    InputTensor t;
    t.name = spec.name;
    t.dtype = spec.dtype;
    const auto shape = shapes.find(spec.name);
    if (shape != shapes.end()) {
      for (const absl::string_view d : absl::StrSplit(shape->second, ',')) {
        int64_t dim = 0;
        if (!absl::SimpleAtoi(d, &dim) || dim < 0) {
          return absl::InvalidArgumentError(absl::StrCat("bad --shape ", spec.name, "=", shape->second));
        }
        t.shape.push_back(dim);
      }
    } else {
      for (size_t i = 0; i < spec.shape.size(); ++i) {
        t.shape.push_back(spec.shape[i] >= 0 ? spec.shape[i] : (i == 0 ? options.batch_size : 1));
      }
    }
    const auto file = files.find(spec.name);
    if (file == files.end()) {
      FillGenerated(t, options.data, rng);
    } else if (file->second.size() > 4 && file->second.substr(file->second.size() - 4) == ".npy") {
      RETURN_IF_ERROR(FillFromNpy(t, file->second));
    } else {
      RETURN_IF_ERROR(FillFromJsonFile(t, file->second, shape != shapes.end()));
    }
    described.push_back(absl::StrCat(t.name, " ", std::string(kserve::DatatypeName(t.dtype)), " [",
                                     absl::StrJoin(t.shape, ","), "]"));
    inputs.push_back(std::move(t));
  }
  Workload w;
  w.model_path = ModelPath(options.model, options.version);
  w.path = w.model_path + "/infer";
  if (options.binary) {
    size_t json_length = 0;
    w.body = EncodeBinary(inputs, &json_length);
    w.json_length = json_length;
    w.content_type = "application/octet-stream";
  } else {
    w.body = EncodeJson(inputs);
  }
  w.summary = absl::StrCat(absl::StrJoin(described, ", "), "; ", options.binary ? "binary" : "JSON", "; ",
                           w.body.size(), " bytes");
  return w;
}

absl::StatusOr<Workload> BuildGenerateWorkload(const WorkloadOptions& options) {
  Workload w;
  w.model_path = ModelPath(options.model, options.version);
  w.path = w.model_path + "/generate";
  w.body = "{\"text_input\":";
  AppendJsonString(w.body, *options.generate_prompt);
  absl::StrAppend(&w.body, ",\"parameters\":{\"max_tokens\":", options.max_tokens, "}}");
  w.summary = absl::StrCat("generate, max_tokens ", options.max_tokens, "; ", w.body.size(), " bytes");
  return w;
}

absl::StatusOr<Workload> BuildWorkload(const Endpoint& endpoint, const WorkloadOptions& options) {
  if (options.generate_prompt) return BuildGenerateWorkload(options);
  if (!options.request_file.empty()) {
    std::ifstream in(options.request_file, std::ios::binary);
    if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read --request-file ", options.request_file));
    std::stringstream text;
    text << in.rdbuf();
    Workload w;
    w.model_path = ModelPath(options.model, options.version);
    w.path = w.model_path + "/infer";
    w.body = text.str();
    w.summary = absl::StrCat("body from ", options.request_file, "; ", w.body.size(), " bytes");
    return w;
  }
  const std::string model_path = ModelPath(options.model, options.version);
  ASSIGN_OR_RETURN(HttpReply reply, HttpGet(endpoint, model_path));
  if (reply.status != 200) {
    return absl::NotFoundError(absl::StrCat("GET ", model_path, ": HTTP ", reply.status, " ", reply.body,
                                            " (use --request-file to send a prepared body anyway)"));
  }
  return BuildInferWorkload(reply.body, options);
}

std::string WireRequest(const Endpoint& endpoint, const Workload& workload) {
  std::string wire = absl::StrCat("POST ", endpoint.base_path, workload.path, " HTTP/1.1\r\nHost: ",
                                  endpoint.HostHeader(), "\r\nUser-Agent: peregrine-bench\r\nContent-Type: ",
                                  workload.content_type, "\r\n");
  if (workload.json_length) absl::StrAppend(&wire, "Inference-Header-Content-Length: ", *workload.json_length, "\r\n");
  absl::StrAppend(&wire, "Content-Length: ", workload.body.size(), "\r\n\r\n");
  wire += workload.body;
  return wire;
}

}  // namespace peregrine::loadgen
