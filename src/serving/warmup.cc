// Warm-up samples from model_warmup entries: checked against the model, then filled with zeros, seeded
// random values, or the contents of a file under <model dir>/warmup/.
#include "serving/warmup.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "serving/config_checks.h"
#include "serving/model_config.h"
#include "tensor/npy.h"

namespace peregrine::serving {
namespace {

namespace fs = std::filesystem;
using internal::WarmupInputPlan;

std::string InputNames(const std::vector<engine::TensorInfo>& inputs) {
  std::vector<std::string> names;
  for (const auto& info : inputs) names.push_back(info.name);
  return absl::StrJoin(names, ", ");
}

// The file name must stay inside warmup/: relative, and no ".." component. (Links are checked when the
// file is opened.)
absl::Status CheckFileName(const std::string& field, const std::string& file) {
  const fs::path path(file);
  bool escapes = file.empty() || path.is_absolute() || path.has_root_name();
  for (const auto& part : path) escapes = escapes || part == "..";
  if (!escapes) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(field, ".input_data_file: '", file, "' must name a file inside the model's warmup/ folder"));
}

// A typo in warm-up dims must fail the load, not exhaust memory: one tensor may hold at most 1 GiB.
absl::Status CheckSize(const WarmupInputPlan& plan) {
  constexpr int64_t kMaxBytes = int64_t{1} << 30;
  int64_t bytes = static_cast<int64_t>(ElementSize(plan.dtype));
  for (int64_t d : plan.full_shape) {
    if (d != 0 && bytes > kMaxBytes / d) {
      return absl::InvalidArgumentError(absl::StrCat(plan.field, ".dims: a warm-up tensor of shape ",
                                                     ShapeToString(plan.full_shape), " is over 1 GiB"));
    }
    bytes *= d;
  }
  return absl::OkStatus();
}

// The dims of one warm-up input: as given, or the model's when the config leaves them out and the
// model's are all fixed. Every dim must be a concrete size.
absl::StatusOr<Shape> SampleDims(const WarmupInputPlan& plan, const engine::TensorInfo& info, int max_batch_size) {
  std::vector<int64_t> dims(plan.input->dims().begin(), plan.input->dims().end());
  const std::vector<int64_t> model = internal::ConfigDimsOf(info, max_batch_size);
  const bool model_fixed = std::all_of(model.begin(), model.end(), [](int64_t d) { return d >= 0; });
  if (dims.empty() && !model.empty() && model_fixed) dims = model;
  RETURN_IF_ERROR(internal::CheckConfigDims(plan.field + ".dims", absl::StrCat("model input '", info.name, "'"), info,
                                            max_batch_size, dims));
  if (std::any_of(dims.begin(), dims.end(), [](int64_t d) { return d < 0; })) {
    return absl::InvalidArgumentError(
        absl::StrCat(plan.field, ".dims: warm-up needs concrete sizes, got ", internal::DimsToString(dims)));
  }
  return dims;
}

absl::StatusOr<WarmupInputPlan> PlanInput(const config::ModelConfig& config, const std::string& prefix,
                                          const engine::TensorInfo& info, const config::ModelWarmup::Input& input,
                                          int64_t batch) {
  WarmupInputPlan plan;
  plan.input = &input;
  plan.field = absl::StrCat(prefix, ".inputs[\"", info.name, "\"]");
  plan.batch = batch;
  if (input.data_type() == config::TYPE_INVALID) {
    plan.dtype = info.dtype;  // left out: the model's
  } else {
    ASSIGN_OR_RETURN(plan.dtype, FromConfigType(input.data_type()));
    if (info.dtype != DataType::kUndefined && plan.dtype != info.dtype) {
      return absl::InvalidArgumentError(absl::StrCat(plan.field, ".data_type: model input '", info.name, "' is ",
                                                     config::DataType_Name(ToConfigType(info.dtype)), ", warm-up says ",
                                                     config::DataType_Name(input.data_type())));
    }
  }
  if (plan.dtype == DataType::kUndefined) {
    return absl::InvalidArgumentError(absl::StrCat(plan.field, ".data_type: required (the model does not declare it)"));
  }
  ASSIGN_OR_RETURN(plan.sample_shape, SampleDims(plan, info, config.max_batch_size()));
  plan.full_shape = plan.sample_shape;
  if (config.max_batch_size() > 0) plan.full_shape.insert(plan.full_shape.begin(), batch);
  RETURN_IF_ERROR(CheckSize(plan));
  switch (input.input_data_type_case()) {
    case config::ModelWarmup::Input::kZeroData:
    case config::ModelWarmup::Input::kRandomData:
      break;
    case config::ModelWarmup::Input::kInputDataFile:
      RETURN_IF_ERROR(CheckFileName(plan.field, input.input_data_file()));
      break;
    case config::ModelWarmup::Input::INPUT_DATA_TYPE_NOT_SET:
      return absl::InvalidArgumentError(
          absl::StrCat(plan.field, ": no data; set zero_data, random_data or input_data_file"));
  }
  return plan;
}

// ---- Data ----

uint16_t FloatToHalf(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  const uint32_t sign = (bits >> 16) & 0x8000u;
  const int exponent = static_cast<int>((bits >> 23) & 0xff) - 127 + 15;
  const uint32_t mantissa = bits & 0x7fffffu;
  if (exponent <= 0) return static_cast<uint16_t>(sign);  // tiny values flush to zero; fine for warm-up
  if (exponent >= 31) return static_cast<uint16_t>(sign | 0x7c00u);
  return static_cast<uint16_t>(sign | (static_cast<uint32_t>(exponent) << 10) | (mantissa >> 13));
}

uint16_t FloatToBFloat16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  return static_cast<uint16_t>(bits >> 16);
}

template <typename T>
void FillInts(Tensor& t, std::mt19937_64& rng) {
  std::uniform_int_distribution<int> dist(0, 9);  // small and non-negative: safe as indices or token ids
  for (T& v : t.mutable_values<T>()) v = static_cast<T>(dist(rng));
}

// Seeded values: floats in [-1, 1), integers in [0, 9], booleans, short digit strings.
void FillRandom(Tensor& t, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> real(-1.0, 1.0);
  switch (t.dtype()) {
    case DataType::kFloat32:
      for (float& v : t.mutable_values<float>()) v = static_cast<float>(real(rng));
      break;
    case DataType::kFloat64:
      for (double& v : t.mutable_values<double>()) v = real(rng);
      break;
    case DataType::kFloat16:
      for (uint16_t& v : t.mutable_values<uint16_t>()) v = FloatToHalf(static_cast<float>(real(rng)));
      break;
    case DataType::kBFloat16:
      for (uint16_t& v : t.mutable_values<uint16_t>()) v = FloatToBFloat16(static_cast<float>(real(rng)));
      break;
    case DataType::kBool:
      for (bool& v : t.mutable_values<bool>()) v = (rng() & 1) != 0;
      break;
    case DataType::kInt8:
      FillInts<int8_t>(t, rng);
      break;
    case DataType::kUint8:
      FillInts<uint8_t>(t, rng);
      break;
    case DataType::kInt16:
      FillInts<int16_t>(t, rng);
      break;
    case DataType::kUint16:
      FillInts<uint16_t>(t, rng);
      break;
    case DataType::kInt32:
      FillInts<int32_t>(t, rng);
      break;
    case DataType::kUint32:
      FillInts<uint32_t>(t, rng);
      break;
    case DataType::kInt64:
      FillInts<int64_t>(t, rng);
      break;
    case DataType::kUint64:
      FillInts<uint64_t>(t, rng);
      break;
    case DataType::kString:
      for (std::string& v : t.mutable_values<std::string>()) v = std::to_string(rng() % 100000);
      break;
    case DataType::kUndefined:
      break;
  }
}

// Raw string tensors are Triton's serialization: per element a 4-byte little-endian length, then the bytes.
absl::StatusOr<std::vector<std::string>> ParseRawStrings(const std::string& bytes, int64_t count) {
  std::vector<std::string> values;
  size_t pos = 0;
  while (pos < bytes.size()) {
    if (bytes.size() - pos < 4) return absl::InvalidArgumentError("truncated string length");
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data() + pos);
    const size_t length = p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<size_t>(p[3]) << 24);
    pos += 4;
    if (bytes.size() - pos < length) return absl::InvalidArgumentError("string runs past the end of the file");
    values.emplace_back(bytes.substr(pos, length));
    pos += length;
  }
  if (static_cast<int64_t>(values.size()) != count) {
    return absl::InvalidArgumentError(absl::StrCat("holds ", values.size(), " strings, expected ", count));
  }
  return values;
}

// Opens warmup/<file>, refusing a path that leads outside warmup/ through a link.
absl::StatusOr<fs::path> ResolveFile(const WarmupInputPlan& plan, const fs::path& model_dir) {
  const std::string& file = plan.input->input_data_file();
  const fs::path folder = model_dir / "warmup";
  const fs::path path = folder / file;
  std::error_code error;
  if (!fs::is_regular_file(path, error)) {
    return absl::InvalidArgumentError(
        absl::StrCat(plan.field, ".input_data_file: '", file, "' is not a file in ", folder.string()));
  }
  const fs::path real_folder = fs::canonical(folder, error);
  const fs::path real_path = error ? fs::path() : fs::canonical(path, error);
  const std::string prefix = (real_folder / "").string();
  if (error || real_path.string().compare(0, prefix.size(), prefix) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(plan.field, ".input_data_file: '", file, "' leads outside ", folder.string()));
  }
  return real_path;
}

// One sample's worth of data (sample_shape), or the whole batch (full_shape, .npy only), from the file.
absl::StatusOr<Tensor> ReadSampleFile(const WarmupInputPlan& plan, const fs::path& model_dir) {
  ASSIGN_OR_RETURN(const fs::path path, ResolveFile(plan, model_dir));
  const std::string where = absl::StrCat(plan.field, ".input_data_file '", plan.input->input_data_file(), "'");
  if (absl::AsciiStrToLower(path.extension().string()) == ".npy") {
    absl::StatusOr<Tensor> tensor = ReadNpy(path.string());
    if (!tensor.ok()) return absl::InvalidArgumentError(absl::StrCat(where, ": ", tensor.status().message()));
    if (tensor->dtype() != plan.dtype) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": holds ", DataTypeName(tensor->dtype()), ", the input is ", DataTypeName(plan.dtype)));
    }
    if (tensor->shape() != plan.sample_shape && tensor->shape() != plan.full_shape) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": shape ", ShapeToString(tensor->shape()), ", expected ",
                                                     ShapeToString(plan.sample_shape)));
    }
    return *tensor;
  }
  const int64_t count = NumElements(plan.sample_shape);
  std::error_code error;
  const uintmax_t file_size = fs::file_size(path, error);
  const uintmax_t expected = static_cast<uintmax_t>(count) * ElementSize(plan.dtype);
  if (plan.dtype != DataType::kString && (error || file_size != expected)) {  // before reading a huge file
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", error ? 0 : file_size, " bytes, expected exactly ",
                                                   expected, " (", count, " x ", DataTypeName(plan.dtype), ")"));
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  const std::string bytes = buffer.str();
  Tensor tensor = Tensor::Zeros(plan.dtype, plan.sample_shape);
  if (plan.dtype == DataType::kString) {
    absl::StatusOr<std::vector<std::string>> values = ParseRawStrings(bytes, count);
    if (!values.ok()) return absl::InvalidArgumentError(absl::StrCat(where, ": ", values.status().message()));
    std::copy(values->begin(), values->end(), tensor.mutable_values<std::string>().begin());
    return tensor;
  }
  if (bytes.size() != tensor.byte_size()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", bytes.size(), " bytes, expected exactly ",
                                                   tensor.byte_size(), " (", count, " x ", DataTypeName(plan.dtype),
                                                   ")"));
  }
  std::memcpy(tensor.data(), bytes.data(), bytes.size());
  return tensor;
}

// Repeats one sample `plan.batch` times along a new first dimension (Triton's meaning of batch_size).
Tensor Replicate(const Tensor& sample, const WarmupInputPlan& plan) {
  if (sample.shape() == plan.full_shape) return sample;
  Tensor full = Tensor::Zeros(plan.dtype, plan.full_shape);
  const int64_t n = sample.num_elements();
  for (int64_t row = 0; row * n < full.num_elements(); ++row) {
    if (plan.dtype == DataType::kString) {
      std::copy(sample.values<std::string>().begin(), sample.values<std::string>().end(),
                full.mutable_values<std::string>().begin() + row * n);
    } else {
      std::memcpy(static_cast<char*>(full.data()) + row * sample.byte_size(), sample.data(), sample.byte_size());
    }
  }
  return full;
}

absl::StatusOr<Tensor> MakeInput(const WarmupInputPlan& plan, const fs::path& model_dir, std::mt19937_64& rng) {
  switch (plan.input->input_data_type_case()) {
    case config::ModelWarmup::Input::kRandomData: {
      Tensor t = Tensor::Zeros(plan.dtype, plan.full_shape);
      FillRandom(t, rng);
      return t;
    }
    case config::ModelWarmup::Input::kInputDataFile: {
      ASSIGN_OR_RETURN(Tensor sample, ReadSampleFile(plan, model_dir));
      return Replicate(sample, plan);
    }
    default:
      return Tensor::Zeros(plan.dtype, plan.full_shape);
  }
}

absl::StatusOr<WarmupSample> DefaultSample(const std::vector<engine::TensorInfo>& session_inputs) {
  WarmupSample sample;
  sample.name = "default";
  for (const auto& info : session_inputs) {
    if (info.dtype == DataType::kUndefined) {
      return absl::InvalidArgumentError(
          absl::StrCat("warm-up: model input '", info.name, "' does not declare its type; add a model_warmup entry"));
    }
    Shape shape;
    for (int64_t d : info.shape) shape.push_back(d < 0 ? 1 : d);
    sample.inputs.push_back(Tensor::Zeros(info.dtype, shape));
  }
  return sample;
}

}  // namespace

namespace internal {

absl::StatusOr<std::vector<WarmupInputPlan>> PlanWarmupEntry(const config::ModelConfig& config, int index,
                                                             const std::vector<engine::TensorInfo>& inputs) {
  const config::ModelWarmup& entry = config.model_warmup(index);
  const std::string prefix = absl::StrCat("model_warmup[", index, "]");
  const int max_batch_size = config.max_batch_size();
  const int64_t batch = entry.batch_size() == 0 ? 1 : entry.batch_size();
  if (max_batch_size > 0 && batch > max_batch_size) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, ".batch_size: ", batch, " exceeds max_batch_size ", max_batch_size));
  }
  if (max_batch_size == 0 && batch > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, ".batch_size: the model does not batch (max_batch_size 0); use 1"));
  }
  for (const auto& [name, input] : entry.inputs()) {
    if (std::none_of(inputs.begin(), inputs.end(), [&](const auto& info) { return info.name == name; })) {
      return absl::InvalidArgumentError(absl::StrCat(prefix, ".inputs[\"", name, "\"]: the model has no input '", name,
                                                     "' (inputs: ", InputNames(inputs), ")"));
    }
  }
  std::vector<WarmupInputPlan> plans;
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto it = entry.inputs().find(inputs[i].name);
    if (it == entry.inputs().end()) {
      return absl::InvalidArgumentError(absl::StrCat(prefix, ".inputs: model input '", inputs[i].name, "' is missing"));
    }
    ASSIGN_OR_RETURN(WarmupInputPlan plan,
                     PlanInput(config, prefix, inputs[i], it->second, max_batch_size > 0 ? batch : 0));
    plan.input_index = i;
    plans.push_back(std::move(plan));
  }
  return plans;
}

}  // namespace internal

absl::StatusOr<std::vector<WarmupSample>> BuildWarmupSamples(const config::ModelConfig& config,
                                                             const std::filesystem::path& model_dir,
                                                             const std::vector<engine::TensorInfo>& session_inputs) {
  std::vector<WarmupSample> samples;
  if (config.model_warmup_size() == 0) {
    ASSIGN_OR_RETURN(WarmupSample sample, DefaultSample(session_inputs));
    samples.push_back(std::move(sample));
    return samples;
  }
  for (int i = 0; i < config.model_warmup_size(); ++i) {
    const config::ModelWarmup& entry = config.model_warmup(i);
    ASSIGN_OR_RETURN(std::vector<WarmupInputPlan> plans, internal::PlanWarmupEntry(config, i, session_inputs));
    WarmupSample sample;
    sample.name = entry.name().empty() ? absl::StrCat("model_warmup[", i, "]") : entry.name();
    sample.count = entry.count() == 0 ? 1 : entry.count();
    std::mt19937_64 rng(0x5eed0000u + static_cast<uint64_t>(i));  // fixed: the same warm-up every load
    for (const WarmupInputPlan& plan : plans) {
      ASSIGN_OR_RETURN(Tensor tensor, MakeInput(plan, model_dir, rng));
      sample.inputs.push_back(std::move(tensor));
    }
    samples.push_back(std::move(sample));
  }
  return samples;
}

}  // namespace peregrine::serving
