#include "engine/session.h"

#include <omp.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <list>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/compiler.h"
#include "engine/optimize.h"
#include "engine/plan.h"
#include "engine/profiler.h"
#include "engine/shared_constants.h"
#include "onnx/loader.h"

namespace peregrine::engine {
namespace {

TensorInfo InfoOf(const graph::Value& v) {
  TensorInfo info{v.name, v.dtype, {}, {}};
  if (v.shape) {
    for (const graph::Dim& d : *v.shape) {
      info.shape.push_back(d.size);
      info.dim_names.push_back(d.symbol);
    }
  }
  return info;
}

int ResolveThreads(int threads) {
  if (threads > 0) return threads;
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace

// Plans by input signature, least recently used last.
struct Session::PlanCache {
  std::list<std::unique_ptr<Plan>> entries;
  std::vector<bool> specialized;  // graph inputs whose values select the plan
  // While profiling, plans dropped from `entries` are kept here: the recorded events point into their
  // steps until the profile is written.
  std::vector<std::unique_ptr<Plan>> retired;
};

Session::Session(std::shared_ptr<const graph::Graph> graph, SessionOptions options)
    : graph_(std::move(graph)),
      options_(options),
      constants_(options.constants ? options.constants : std::make_shared<SharedConstants>()),
      plans_(std::make_unique<PlanCache>()) {
  options_.threads = ResolveThreads(options_.threads);
  options_.precision = EffectivePrecision(options_.precision);
  for (const graph::Value* v : graph_->inputs) inputs_.push_back(InfoOf(*v));
  for (const graph::Value* v : graph_->outputs) outputs_.push_back(InfoOf(*v));
  plans_->specialized.assign(graph_->inputs.size(), false);
  if (options_.profile) profiler_ = std::make_unique<Profiler>();
}

Session::~Session() = default;

std::unique_ptr<Session> Session::Fork(const SessionOptions& options) const {
  SessionOptions forked = options;
  forked.optimize = options_.optimize;  // what the shared graph went through
  if (forked.constants == nullptr) forked.constants = constants_;
  return std::unique_ptr<Session>(new Session(graph_, forked));
}

absl::StatusOr<std::unique_ptr<Session>> Session::Create(const std::string& model_path, const SessionOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<graph::Graph> graph, onnx_import::LoadModel(model_path));
  return Create(std::move(graph), options);
}

absl::StatusOr<std::unique_ptr<Session>> Session::Create(std::unique_ptr<graph::Graph> graph, const SessionOptions& options) {
  if (graph == nullptr) return absl::InvalidArgumentError("no graph");
  if (options.optimize) {
    ASSIGN_OR_RETURN(OptimizeStats stats, Optimize(*graph));
    (void)stats;
  }
#ifdef __GLIBC__
  // Loading and folding free about a model's size of heap (protobuf, unfolded initializers) that
  // glibc keeps. Plans put their weights in fresh mappings (ConstantArena), not in that freed heap,
  // so hand it back now rather than carry it for the session's life.
  malloc_trim(0);
#endif
  return std::unique_ptr<Session>(new Session(std::move(graph), options));
}

absl::Status Session::CheckInputs(std::span<const Tensor> inputs) const {
  if (inputs.size() != inputs_.size()) {
    return absl::InvalidArgumentError(absl::StrCat("model takes ", inputs_.size(), " inputs, got ", inputs.size()));
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    const TensorInfo& info = inputs_[i];
    const Tensor& t = inputs[i];
    if (!t.has_data()) return absl::InvalidArgumentError(absl::StrCat("input '", info.name, "' has no data"));
    if (info.dtype != DataType::kUndefined && t.dtype() != info.dtype) {
      return absl::InvalidArgumentError(absl::StrCat("input '", info.name, "' must be ", DataTypeName(info.dtype), ", got ", DataTypeName(t.dtype())));
    }
    if (info.shape.empty() && info.dim_names.empty()) continue;  // rank unknown
    bool ok = t.rank() == static_cast<int64_t>(info.shape.size());
    for (size_t d = 0; ok && d < info.shape.size(); ++d) ok = info.shape[d] < 0 || info.shape[d] == t.shape()[d];
    if (!ok) {
      std::vector<std::string> want;
      for (size_t d = 0; d < info.shape.size(); ++d) {
        want.push_back(info.shape[d] >= 0 ? std::to_string(info.shape[d]) : (info.dim_names[d].empty() ? "?" : info.dim_names[d]));
      }
      return absl::InvalidArgumentError(absl::StrCat("input '", info.name, "' must have shape [", absl::StrJoin(want, ", "),
                                                     "], got ", ShapeToString(t.shape())));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Plan*> Session::PlanFor(std::span<const Tensor> inputs) {
  // Most runs repeat the last shapes: check that plan first, then the rest, most recent first.
  auto& entries = plans_->entries;
  for (auto it = entries.begin(); it != entries.end(); ++it) {
    if (!(*it)->Matches(inputs)) continue;
    if (it != entries.begin()) entries.splice(entries.begin(), entries, it);
    return entries.front().get();
  }
  // Each retry specialises at least one more input, so this ends.
  for (size_t attempt = 0; attempt <= inputs.size(); ++attempt) {
    std::vector<bool> needs = plans_->specialized;
    CompileRequest request{graph_.get(), inputs, plans_->specialized,
                           CompileOptions{options_.threads, true, options_.precision}, constants_};
    auto plan = Compile(request, CpuEngine(), &needs);
    if (plan.ok()) {
      entries.push_front(std::move(*plan));
      while (entries.size() > std::max<size_t>(1, options_.max_cached_plans)) {
        if (profiler_) plans_->retired.push_back(std::move(entries.back()));
        entries.pop_back();
      }
      return entries.front().get();
    }
    if (!absl::IsFailedPrecondition(plan.status()) || needs == plans_->specialized) return plan.status();
    plans_->specialized = needs;
  }
  return absl::InternalError("plan specialisation did not converge");
}

absl::Status Session::Prepare(std::span<const Tensor> inputs) {
  RETURN_IF_ERROR(CheckInputs(inputs));
  omp_set_num_threads(options_.threads);
  ASSIGN_OR_RETURN(last_plan_, PlanFor(inputs));
  return absl::OkStatus();
}

absl::Status Session::Run(std::span<const Tensor> inputs, std::vector<Tensor>& outputs) {
  RETURN_IF_ERROR(Prepare(inputs));
  const auto& descs = last_plan_->output_descs();
  outputs.resize(descs.size());
  for (size_t i = 0; i < descs.size(); ++i) {
    Tensor& out = outputs[i];
    bool reusable = out.has_data() && out.dtype() == descs[i].dtype && out.shape() == descs[i].shape;
    // Writing an output into a buffer that is also an input would corrupt the input mid-run.
    for (const Tensor& in : inputs) reusable = reusable && (in.data() != out.data() || out.byte_size() == 0);
    try {
      if (!reusable) out = Tensor::Zeros(descs[i].dtype, descs[i].shape);
    } catch (const std::bad_alloc&) {
      return absl::ResourceExhaustedError(absl::StrCat("output '", outputs_[i].name, "' is too large for memory"));
    }
  }
  return last_plan_->Run(inputs, outputs, profiler_.get());
}

absl::StatusOr<std::vector<Tensor>> Session::Run(const std::vector<std::pair<std::string, Tensor>>& named_inputs) {
  std::vector<Tensor> inputs(inputs_.size());
  for (const auto& named : named_inputs) {
    const std::string& name = named.first;  // not a structured binding: clang 14 cannot capture those
    const Tensor& tensor = named.second;
    auto it = std::find_if(inputs_.begin(), inputs_.end(), [&](const TensorInfo& info) { return info.name == name; });
    if (it == inputs_.end()) return absl::InvalidArgumentError(absl::StrCat("model has no input named '", name, "'"));
    inputs[it - inputs_.begin()] = tensor;
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].has_data()) return absl::InvalidArgumentError(absl::StrCat("missing input '", inputs_[i].name, "'"));
  }
  std::vector<Tensor> outputs;
  RETURN_IF_ERROR(Run(inputs, outputs));
  return outputs;
}

PlanStats Session::last_plan_stats() const { return last_plan_ ? last_plan_->stats() : PlanStats{}; }

size_t Session::constant_bytes() const { return constants_->bytes(); }

absl::Status Session::WriteProfile(const std::string& path) const {
  if (!profiler_) return absl::FailedPreconditionError("profiling was not enabled for this session");
  return profiler_->WriteChromeTrace(path);
}

}  // namespace peregrine::engine
