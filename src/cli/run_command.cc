// `peregrine run MODEL --input NAME=FILE.npy ...`: runs a model once or repeatedly, prints outputs
// and timing, optionally writes outputs as .npy and a Chrome trace profile.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "cli/commands.h"
#include "cli/tensor_printing.h"
#include "engine/session.h"
#include "tensor/npy.h"

namespace peregrine::cli {
namespace {

struct RunFlags {
  std::string model;
  std::vector<std::string> inputs;  // NAME=FILE.npy
  std::vector<std::string> dims;    // SYMBOL=SIZE for generated inputs
  bool random_inputs = false;
  int threads = 1;
  engine::Precision precision = engine::Precision::kFloat32;
  int repeat = 1;
  int warmup = 0;
  bool no_optimize = false;
  std::string profile;
  std::string output_dir;
};

template <typename T>
T Check(absl::StatusOr<T> value) {
  if (!value.ok()) throw CommandError{std::string(value.status().message())};
  return std::move(value).value();
}
void Check(const absl::Status& status) {
  if (!status.ok()) throw CommandError{std::string(status.message())};
}

// Random inputs in a model-friendly range: uniform [-1, 1) for floats, [0, 10) for integers.
Tensor RandomInput(const engine::TensorInfo& info, const std::map<std::string, int64_t>& dims, std::mt19937& rng) {
  Shape shape;
  for (size_t d = 0; d < info.shape.size(); ++d) {
    if (info.shape[d] >= 0) {
      shape.push_back(info.shape[d]);
      continue;
    }
    auto it = dims.find(info.dim_names[d]);
    if (it == dims.end()) {
      throw CommandError{absl::StrCat("input '", info.name, "' has symbolic dimension '", info.dim_names[d],
                                      "': give its size with --dim ", info.dim_names[d].empty() ? "NAME" : info.dim_names[d], "=N")};
    }
    shape.push_back(it->second);
  }
  Tensor t = Tensor::Zeros(info.dtype, shape);
  std::uniform_real_distribution<float> real(-1.f, 1.f);
  std::uniform_int_distribution<int> integer(0, 9);
  for (int64_t i = 0; i < t.num_elements(); ++i) {
    switch (info.dtype) {
      case DataType::kFloat32: t.data_as<float>()[i] = real(rng); break;
      case DataType::kFloat64: t.data_as<double>()[i] = real(rng); break;
      case DataType::kInt64: t.data_as<int64_t>()[i] = integer(rng); break;
      case DataType::kInt32: t.data_as<int32_t>()[i] = integer(rng); break;
      case DataType::kBool: t.data_as<uint8_t>()[i] = integer(rng) & 1; break;
      default: throw CommandError{absl::StrCat("cannot generate random ", DataTypeName(info.dtype), " input '", info.name, "'")};
    }
  }
  return t;
}

std::vector<Tensor> GatherInputs(const RunFlags& flags, const engine::Session& session) {
  std::map<std::string, std::string> files;
  for (const std::string& spec : flags.inputs) {
    std::pair<std::string, std::string> kv = absl::StrSplit(spec, absl::MaxSplits('=', 1));
    if (kv.first.empty() || kv.second.empty()) throw CommandError{absl::StrCat("--input expects NAME=FILE.npy, got '", spec, "'")};
    auto known = std::find_if(session.inputs().begin(), session.inputs().end(), [&](const auto& i) { return i.name == kv.first; });
    if (known == session.inputs().end()) throw CommandError{absl::StrCat("model has no input named '", kv.first, "'")};
    files[kv.first] = kv.second;
  }
  const auto dims = ParseDimFlags(flags.dims);
  std::mt19937 rng(1234);
  std::vector<Tensor> inputs;
  for (const engine::TensorInfo& info : session.inputs()) {
    auto it = files.find(info.name);
    if (it != files.end()) {
      inputs.push_back(Check(ReadNpy(it->second)));
    } else if (flags.random_inputs) {
      inputs.push_back(RandomInput(info, dims, rng));
    } else {
      throw CommandError{absl::StrCat("missing input '", info.name, "': pass --input ", info.name, "=FILE.npy or --random")};
    }
  }
  return inputs;
}

double Percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  const size_t index = std::min(values.size() - 1, static_cast<size_t>(p * (values.size() - 1) + 0.5));
  return values[index];
}

void Run(const RunFlags& flags) {
  engine::SessionOptions options;
  options.threads = flags.threads;
  options.precision = flags.precision;
  options.optimize = !flags.no_optimize;
  options.profile = !flags.profile.empty();
  auto session = Check(engine::Session::Create(flags.model, options));
  std::vector<Tensor> inputs = GatherInputs(flags, *session);
  std::vector<Tensor> outputs;
  for (int i = 0; i < flags.warmup; ++i) Check(session->Run(inputs, outputs));
  std::vector<double> millis;
  for (int i = 0; i < std::max(1, flags.repeat); ++i) {
    auto start = std::chrono::steady_clock::now();
    Check(session->Run(inputs, outputs));
    millis.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    std::cout << session->outputs()[i].name << ": " << SummarizeTensor(outputs[i]) << "\n";
    if (!flags.output_dir.empty()) {
      std::filesystem::create_directories(flags.output_dir);
      Check(WriteNpy((std::filesystem::path(flags.output_dir) / (session->outputs()[i].name + ".npy")).string(), outputs[i]));
    }
  }
  std::cout << absl::StrFormat("time: min %.4f ms, p50 %.4f ms, p90 %.4f ms over %d runs (%d threads, %s)\n",
                               *std::min_element(millis.begin(), millis.end()), Percentile(millis, 0.5),
                               Percentile(millis, 0.9), static_cast<int>(millis.size()), session->options().threads,
                               engine::PrecisionName(session->options().precision));
  if (!flags.profile.empty()) {
    Check(session->WriteProfile(flags.profile));
    std::cout << "profile: " << flags.profile << "\n";
  }
}

}  // namespace

CLI::Option* AddPrecisionOption(CLI::App* cmd, engine::Precision* precision, const std::string& description) {
  auto parse = [](const std::string& name) {
    absl::StatusOr<engine::Precision> parsed = engine::ParsePrecision(name);
    return parsed.ok() ? std::string() : std::string(parsed.status().message());
  };
  return cmd
      ->add_option_function<std::string>(
          "--precision", [precision](const std::string& name) { *precision = *engine::ParsePrecision(name); },
          description)
      ->check(parse, "PRECISION")
      ->default_str(std::string(engine::PrecisionName(engine::Precision::kFloat32)));
}

std::map<std::string, int64_t> ParseDimFlags(const std::vector<std::string>& specs) {
  std::map<std::string, int64_t> dims;
  for (const std::string& spec : specs) {
    std::pair<std::string, std::string> kv = absl::StrSplit(spec, absl::MaxSplits('=', 1));
    int64_t size;
    if (kv.first.empty() || !absl::SimpleAtoi(kv.second, &size) || size < 0) {
      throw CommandError{absl::StrCat("--dim expects SYMBOL=SIZE, got '", spec, "'")};
    }
    dims[kv.first] = size;
  }
  return dims;
}

void AddRunCommand(CLI::App& app) {
  auto flags = std::make_shared<RunFlags>();
  CLI::App* cmd = app.add_subcommand("run", "Run a model on inputs from .npy files and print its outputs and timing");
  cmd->add_option("model", flags->model, "ONNX model file")->required()->check(CLI::ExistingFile);
  cmd->add_option("--input,-i", flags->inputs, "Input as NAME=FILE.npy (repeatable)");
  cmd->add_flag("--random", flags->random_inputs, "Fill inputs not given with --input with random values");
  cmd->add_option("--dim", flags->dims, "Size of a symbolic dimension for --random, as SYMBOL=SIZE (e.g. batch=8)");
  cmd->add_option("--threads,-t", flags->threads, "Intra-op threads (0 = all cores)")->check(CLI::Range(0, 1024));
  AddPrecisionOption(cmd, &flags->precision, "fp32, or bf16 where the CPU has native bfloat16 (see docs/precision.md)");
  cmd->add_option("--repeat,-r", flags->repeat, "Timed runs")->check(CLI::Range(1, 1000000));
  cmd->add_option("--warmup", flags->warmup, "Untimed runs before the timed ones")->check(CLI::Range(0, 1000000));
  cmd->add_flag("--no-optimize", flags->no_optimize, "Skip graph optimisation (folding, fusion)");
  cmd->add_option("--profile", flags->profile, "Write a Chrome trace-event JSON of every step to this file");
  cmd->add_option("--output-dir,-o", flags->output_dir, "Write each output to DIR/<name>.npy");
  cmd->callback([flags] { Run(*flags); });
}

}  // namespace peregrine::cli
