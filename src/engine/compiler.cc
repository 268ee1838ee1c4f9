#include "engine/compiler.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <unordered_map>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/constant_arena.h"
#include "engine/kernel_registry.h"
#include "engine/kernels/dnnl/dnnl_util.h"
#include "engine/kernels/dnnl/reorder.h"
#include "engine/memory_planner.h"
#include "engine/shared_constants.h"

namespace peregrine::engine {

const dnnl::engine& CpuEngine() {
  static const dnnl::engine* engine = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *engine;
}

// Builds a Plan in two phases. Phase one walks the nodes in order, folds what is known, compiles a
// kernel per remaining node and gives every runtime tensor a virtual buffer. Phase two decides
// which outputs may share their input's buffer (in-place kernels, sum post-ops), computes buffer
// lifetimes, assigns arena offsets and fills the plan's slot table.
class PlanBuilder {
 public:
  PlanBuilder(const CompileRequest& request, const dnnl::engine& engine, std::vector<bool>* needs_specialization)
      : request_(request), graph_(*request.graph), engine_(engine), needs_specialization_(needs_specialization),
        plan_(std::make_unique<Plan>(engine)) {
    plan_->constants_ = request.constants ? request.constants : std::make_shared<SharedConstants>();
  }

  absl::StatusOr<std::unique_ptr<Plan>> Build() {
    RETURN_IF_ERROR(BindInputs());
    for (const auto& node : graph_.nodes()) RETURN_IF_ERROR(AddNode(*node));
    RETURN_IF_ERROR(BindOutputs());
    RETURN_IF_ERROR(Finish());
    return std::move(plan_);
  }

 private:
  enum class BufferKind { kArena, kInput, kOutput, kConstant };
  struct Buffer {
    BufferKind kind;
    size_t bytes = 0;
    void* ptr = nullptr;  // kConstant only
  };
  struct ValueState {
    TensorDesc desc;
    const Tensor* known = nullptr;
    int buffer = -1;
  };
  struct PendingStep {
    Step step;
    int alias_input = -1;
    bool alias_required = false;
  };
  struct CachedReorder {
    const graph::Value* value;
    dnnl::memory::desc layout;
    int buffer;
  };

  int AddBuffer(BufferKind kind, size_t bytes, void* ptr = nullptr) {
    buffers_.push_back(Buffer{kind, bytes, ptr});
    return static_cast<int>(buffers_.size()) - 1;
  }

  absl::Status BindInputs() {
    plan_->input_slots_.assign(graph_.inputs.size(), -1);
    for (size_t i = 0; i < graph_.inputs.size(); ++i) {
      const Tensor& t = request_.inputs[i];
      ValueState& state = values_[graph_.inputs[i]];
      state.desc = TensorDesc{t.dtype(), t.shape(), {}};
      if (i < request_.specialized.size() && request_.specialized[i]) state.known = &t;
      if (t.dtype() == DataType::kString && !state.known) {
        return absl::UnimplementedError(absl::StrCat("input '", graph_.inputs[i]->name, "': string tensors are not supported by the engine"));
      }
      state.buffer = AddBuffer(BufferKind::kInput, t.byte_size());
      plan_->input_slots_[i] = state.buffer;
      plan_->input_signature_.push_back(state.desc);
      plan_->specialized_values_.push_back(state.known ? t.Clone() : Tensor());
    }
    return absl::OkStatus();
  }

  // Known values live in the plan (constants are borrowed from the graph, folded ones owned).
  const Tensor* Own(Tensor t) {
    plan_->owned_.push_back(std::move(t));
    return &plan_->owned_.back();
  }

  ValueState& State(const graph::Value* v) {
    auto it = values_.find(v);
    if (it != values_.end()) return it->second;
    ValueState& state = values_[v];
    if (v->is_constant()) {
      state.known = &*v->constant;
      state.desc = TensorDesc{v->constant->dtype(), v->constant->shape(), {}};
    }
    return state;
  }

  bool CanFold(const graph::Node& node) {
    if (!request_.options.fold) return false;
    const bool shape_only = node.op_type == "Shape" || node.op_type == "Size";
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const graph::Value* in = node.inputs[i];
      if (in == nullptr) continue;
      if (!State(in).known && !(shape_only && i == 0)) return false;
    }
    return true;
  }

  absl::Status Fold(const graph::Node& node) {
    std::vector<const Tensor*> inputs;
    std::vector<Tensor> shape_placeholders;
    shape_placeholders.reserve(node.inputs.size());
    for (const graph::Value* in : node.inputs) {
      if (in == nullptr) {
        inputs.push_back(nullptr);
        continue;
      }
      const ValueState& state = State(in);
      if (state.known) {
        inputs.push_back(state.known);
        continue;
      }
      // Shape/Size read only the shape: a data-less stand-in carries it.
      shape_placeholders.push_back(Tensor::Borrow(state.desc.dtype, state.desc.shape, nullptr));
      inputs.push_back(&shape_placeholders.back());
    }
    ASSIGN_OR_RETURN(std::vector<Tensor> outputs, EvaluateNode(node, inputs, graph_.opset, engine_));
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      if (node.outputs[i] == nullptr) continue;
      ValueState& state = values_[node.outputs[i]];
      state.known = Own(std::move(outputs[i]));
      state.desc = TensorDesc{state.known->dtype(), state.known->shape(), {}};
    }
    return absl::OkStatus();
  }

  // Marks the graph inputs that `value` is computed from as needing specialisation.
  absl::Status RequestSpecialization(const graph::Node& node, const graph::Value* value) {
    std::vector<const graph::Value*> stack = {value};
    std::unordered_set<const graph::Value*> seen;
    bool found = false;
    while (!stack.empty()) {
      const graph::Value* v = stack.back();
      stack.pop_back();
      if (!seen.insert(v).second || State(v).known) continue;
      auto it = std::find(graph_.inputs.begin(), graph_.inputs.end(), v);
      if (it != graph_.inputs.end()) {
        (*needs_specialization_)[it - graph_.inputs.begin()] = true;
        found = true;
      }
      if (v->producer) {
        for (const graph::Value* in : v->producer->inputs) {
          if (in) stack.push_back(in);
        }
      }
    }
    if (!found || needs_specialization_ == nullptr) {
      return absl::UnimplementedError(absl::StrCat(node.Describe(), ": needs the value of '", value->name,
                                                   "' before running, which cannot be known"));
    }
    return absl::FailedPreconditionError("plan must be specialised on input values");
  }

  absl::StatusOr<CompiledKernel> CompileKernel(const graph::Node& node, const CompileContext& ctx) {
    const auto& infos = KernelRegistry::Global().Find(node.op_type);
    if (infos.empty()) return absl::UnimplementedError(absl::StrCat(node.Describe(), ": operator ", node.op_type, " is not supported"));
    absl::Status last = absl::OkStatus();
    for (const KernelInfo& info : infos) {
      for (int i : info.value_inputs) {
        if (ctx.has_input(i) && !ctx.inputs[i].is_known()) return RequestSpecialization(node, node.inputs[i]);
      }
      absl::StatusOr<CompiledKernel> compiled;
      try {
        compiled = info.factory(ctx);
      } catch (const std::exception& e) {
        compiled = absl::InternalError(absl::StrCat(node.Describe(), ": ", e.what()));
      }
      if (compiled.ok() || !absl::IsUnimplemented(compiled.status())) return compiled;
      last = compiled.status();
    }
    return last;
  }

  // True when a kernel hands on a float32 value held as bf16 (it computed in bfloat16, or moved
  // bfloat16 data as pooling does).
  static bool WritesBfloat16(const std::vector<TensorDesc>& outputs) {
    for (const TensorDesc& out : outputs) {
      if (out.dtype == DataType::kFloat32 && !out.is_plain() && out.layout.data_type() == dnnl::memory::data_type::bf16) {
        return true;
      }
    }
    return false;
  }

  static std::string DescribeShapes(const std::vector<KernelInput>& inputs, const std::vector<TensorDesc>& outputs) {
    auto fmt = [](const TensorDesc& d) { return d.present() ? ShapeToString(d.shape) : std::string("-"); };
    std::vector<std::string> in, out;
    for (const KernelInput& i : inputs) in.push_back(fmt(i.desc));
    for (const TensorDesc& o : outputs) out.push_back(fmt(o));
    return absl::StrCat(absl::StrJoin(in, " "), " -> ", absl::StrJoin(out, " "));
  }

  absl::Status AddNode(const graph::Node& node) {
    if (CanFold(node)) return Fold(node);
    CompileContext ctx{node, {}, engine_, static_cast<int>(graph_.opset), request_.options.threads,
                       plan_->constants_.get(), request_.options.precision};
    for (const graph::Value* in : node.inputs) {
      if (in == nullptr) {
        ctx.inputs.push_back(KernelInput{});
        continue;
      }
      const ValueState& state = State(in);
      ctx.inputs.push_back(KernelInput{state.desc, state.known});
    }
    ASSIGN_OR_RETURN(CompiledKernel compiled, CompileKernel(node, ctx));
    if (compiled.outputs.size() != node.outputs.size()) {
      return absl::InternalError(absl::StrCat(node.Describe(), ": kernel declared ", compiled.outputs.size(), " outputs"));
    }
    PendingStep pending;
    pending.step.op_type = node.op_type;
    pending.step.name = node.name;
    pending.step.shapes = DescribeShapes(ctx.inputs, compiled.outputs);
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      dnnl::memory::desc wanted = i < compiled.input_layouts.size() ? compiled.input_layouts[i] : dnnl::memory::desc();
      ASSIGN_OR_RETURN(int buffer, InputBuffer(node.inputs[i], wanted));
      pending.step.input_slots.push_back(buffer);
    }
    scratch_bytes_ = std::max(scratch_bytes_, compiled.scratch_bytes);
    bf16_steps_ += compiled.computes_bfloat16 || WritesBfloat16(compiled.outputs) ? 1 : 0;
    pending.step.kernel = std::move(compiled.kernel);
    pending.alias_input = compiled.alias_input;
    pending.alias_required = compiled.alias_required;
    std::vector<PendingStep> after;  // reorders of blocked graph outputs into the caller's buffers
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      ASSIGN_OR_RETURN(int buffer, OutputBuffer(node, i, compiled.outputs[i], after));
      pending.step.output_slots.push_back(buffer);
    }
    if (pending.alias_required) {
      const int k = pending.alias_input;
      pending.step.preload_input = k;
      pending.step.preload_bytes = compiled.outputs[0].byte_size();
    }
    steps_.push_back(std::move(pending));
    for (PendingStep& p : after) steps_.push_back(std::move(p));
    return absl::OkStatus();
  }

  // The buffer holding `value` in layout `wanted` (zero = plain), adding a reorder step when needed.
  absl::StatusOr<int> InputBuffer(const graph::Value* value, const dnnl::memory::desc& wanted) {
    if (value == nullptr) return -1;
    ValueState& state = State(value);
    if (state.known) return KnownBuffer(state, wanted);
    if (state.desc.layout == wanted) return state.buffer;
    for (const CachedReorder& r : reorders_) {
      if (r.value == value && r.layout == wanted) return r.buffer;
    }
    ASSIGN_OR_RETURN(CompiledKernel reorder, CreateReorder(state.desc, wanted, engine_));
    const int buffer = AddBuffer(BufferKind::kArena, reorder.outputs[0].byte_size());
    AddCopyStep(std::move(reorder.kernel), state.buffer, buffer, "reorder " + value->name);
    reorders_.push_back({value, wanted, buffer});
    return buffer;
  }

  absl::StatusOr<int> KnownBuffer(ValueState& state, const dnnl::memory::desc& wanted) {
    if (wanted.is_zero()) {
      if (state.buffer < 0) state.buffer = AddBuffer(BufferKind::kConstant, state.known->byte_size(), const_cast<void*>(state.known->data()));
      return state.buffer;
    }
    // A kernel wants a constant in a oneDNN layout: convert it once, now.
    try {
      plan_->owned_memory_.push_back(dnnl_util::ReorderToLayout(engine_, *state.known, wanted, plan_->constants_.get()));
    } catch (const dnnl::error& e) {
      return absl::InternalError(absl::StrCat("cannot reorder a constant: ", e.what()));
    }
    return AddBuffer(BufferKind::kConstant, wanted.get_size(), plan_->owned_memory_.back().get_data_handle());
  }

  void AddCopyStep(std::unique_ptr<Kernel> kernel, int from, int to, std::string name) {
    PendingStep p;
    p.step.kernel = std::move(kernel);
    p.step.op_type = "Reorder";
    p.step.name = std::move(name);
    p.step.input_slots = {from};
    p.step.output_slots = {to};
    steps_.push_back(std::move(p));
  }

  // Index of the first graph output that is `value` and not yet bound, or -1.
  int UnboundOutputIndex(const graph::Value* value) {
    for (size_t o = 0; o < graph_.outputs.size(); ++o) {
      if (graph_.outputs[o] == value && !output_bound_[o]) return static_cast<int>(o);
    }
    return -1;
  }

  absl::StatusOr<int> OutputBuffer(const graph::Node& node, size_t i, const TensorDesc& desc, std::vector<PendingStep>& after) {
    const graph::Value* value = node.outputs[i];
    if (value == nullptr) return -1;
    if (!desc.present()) return absl::InternalError(absl::StrCat(node.Describe(), ": kernel left output ", i, " undescribed"));
    if (desc.dtype == DataType::kString) return absl::UnimplementedError(absl::StrCat(node.Describe(), ": string tensors are not supported by the engine"));
    ValueState& state = values_[value];
    state.desc = desc;
    state.buffer = AddBuffer(BufferKind::kArena, desc.byte_size());
    const int o = UnboundOutputIndex(value);
    if (o < 0) return state.buffer;
    output_bound_[o] = true;
    const int out_buffer = output_buffers_[o];
    if (desc.is_plain()) {
      state.buffer = out_buffer;
      return out_buffer;
    }
    ASSIGN_OR_RETURN(CompiledKernel reorder, CreateReorder(desc, dnnl::memory::desc(), engine_));
    PendingStep p;
    p.step.kernel = std::move(reorder.kernel);
    p.step.op_type = "Reorder";
    p.step.name = "reorder " + value->name;
    p.step.input_slots = {state.buffer};
    p.step.output_slots = {out_buffer};
    after.push_back(std::move(p));
    return state.buffer;
  }

  absl::Status Finish();
  absl::Status BindOutputs();
  void PlanAliases(std::vector<int>& root, std::vector<int>& first, std::vector<int>& last);

  const CompileRequest& request_;
  const graph::Graph& graph_;
  const dnnl::engine& engine_;
  std::vector<bool>* needs_specialization_;
  std::unique_ptr<Plan> plan_;
  std::unordered_map<const graph::Value*, ValueState> values_;
  std::vector<Buffer> buffers_;
  std::vector<PendingStep> steps_;
  std::vector<CachedReorder> reorders_;
  std::vector<int> output_buffers_;
  std::vector<bool> output_bound_;
  size_t scratch_bytes_ = 0;
  size_t bf16_steps_ = 0;  // steps computing in bfloat16 (Precision::kBfloat16)

 public:
  // Output buffers exist before the nodes are walked so producers can write straight into them.
  void CreateOutputBuffers() {
    for (size_t o = 0; o < graph_.outputs.size(); ++o) output_buffers_.push_back(AddBuffer(BufferKind::kOutput, 0));
    output_bound_.assign(graph_.outputs.size(), false);
  }
};

absl::Status PlanBuilder::BindOutputs() {
  plan_->output_slots_ = output_buffers_;
  for (size_t o = 0; o < graph_.outputs.size(); ++o) {
    const graph::Value* value = graph_.outputs[o];
    ValueState& state = State(value);
    if (!state.desc.present()) return absl::InvalidArgumentError(absl::StrCat("graph output '", value->name, "' is never computed"));
    if (state.desc.dtype == DataType::kString) return absl::UnimplementedError(absl::StrCat("output '", value->name, "': string tensors are not supported by the engine"));
    plan_->output_descs_.push_back(TensorDesc{state.desc.dtype, state.desc.shape, {}});
    buffers_[output_buffers_[o]].bytes = plan_->output_descs_.back().byte_size();
    if (output_bound_[o]) continue;
    // Outputs that are inputs, constants, folded values or repeats of another output: copy them.
    ASSIGN_OR_RETURN(int from, InputBuffer(value, dnnl::memory::desc()));
    ASSIGN_OR_RETURN(CompiledKernel copy, CreateReorder(plan_->output_descs_.back(), dnnl::memory::desc(), engine_));
    AddCopyStep(std::move(copy.kernel), from, output_buffers_[o], "copy " + value->name);
    output_bound_[o] = true;
  }
  return absl::OkStatus();
}

// Lets an output share its input's arena buffer when the kernel allows it and nothing reads the
// input afterwards. `root` is a union-find forest over buffers; first/last are per-root lifetimes.
void PlanBuilder::PlanAliases(std::vector<int>& root, std::vector<int>& first, std::vector<int>& last) {
  auto find = [&](int b) {
    while (root[b] != b) b = root[b] = root[root[b]];
    return b;
  };
  for (size_t s = 0; s < steps_.size(); ++s) {
    const PendingStep& p = steps_[s];
    if (p.alias_input < 0 || p.step.output_slots.empty() || p.step.output_slots[0] < 0) continue;
    if (static_cast<size_t>(p.alias_input) >= p.step.input_slots.size() || p.step.input_slots[p.alias_input] < 0) continue;
    const int in = find(p.step.input_slots[p.alias_input]);
    const int out = find(p.step.output_slots[0]);
    if (buffers_[in].kind != BufferKind::kArena || buffers_[out].kind != BufferKind::kArena) continue;
    if (buffers_[in].bytes != buffers_[out].bytes || last[in] != static_cast<int>(s) || first[out] != static_cast<int>(s)) continue;
    int readers = 0;  // the kernel must not read the shared buffer through another input
    for (int b : p.step.input_slots) readers += (b >= 0 && find(b) == in) ? 1 : 0;
    if (readers != 1) continue;
    root[out] = in;
    last[in] = std::max(last[in], last[out]);
  }
  for (size_t b = 0; b < root.size(); ++b) find(static_cast<int>(b));
}

absl::Status PlanBuilder::Finish() {
  const int n = static_cast<int>(buffers_.size());
  std::vector<int> root(n), first(n, INT32_MAX), last(n, -1);
  std::iota(root.begin(), root.end(), 0);
  for (size_t s = 0; s < steps_.size(); ++s) {
    for (int b : steps_[s].step.input_slots) {
      if (b >= 0) last[b] = std::max(last[b], static_cast<int>(s));
    }
    for (int b : steps_[s].step.output_slots) {
      if (b < 0) continue;
      first[b] = std::min(first[b], static_cast<int>(s));
      last[b] = std::max(last[b], static_cast<int>(s));
    }
  }
  PlanAliases(root, first, last);

  std::vector<int> arena_ids;
  std::vector<BufferLifetime> lifetimes;
  for (int b = 0; b < n; ++b) {
    if (root[b] != b || buffers_[b].kind != BufferKind::kArena || first[b] == INT32_MAX) continue;
    arena_ids.push_back(b);
    lifetimes.push_back({buffers_[b].bytes, first[b], last[b]});
  }
  MemoryPlan memory = PlanMemory(lifetimes);
  const size_t scratch_offset = (memory.arena_bytes + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
  plan_->arena_ = AllocateLarge(scratch_offset + scratch_bytes_);
  char* base = static_cast<char*>(plan_->arena_.get());
  std::memset(base, 0, scratch_offset + scratch_bytes_);  // fault the pages in now, not in the first run
  plan_->scratch_ = base + scratch_offset;

  std::vector<void*> root_ptr(n, nullptr);
  for (size_t i = 0; i < arena_ids.size(); ++i) root_ptr[arena_ids[i]] = base + memory.offsets[i];
  plan_->slots_.assign(n, nullptr);
  for (int b = 0; b < n; ++b) {
    if (buffers_[b].kind == BufferKind::kConstant) plan_->slots_[b] = buffers_[b].ptr;
    if (buffers_[b].kind == BufferKind::kArena) plan_->slots_[b] = root_ptr[root[b]];
  }
  size_t reorders = 0;
  for (PendingStep& p : steps_) {
    p.step.input_ptrs.assign(p.step.input_slots.size(), nullptr);
    p.step.output_ptrs.assign(p.step.output_slots.size(), nullptr);
    reorders += p.step.op_type == "Reorder" ? 1 : 0;
    plan_->steps_.push_back(std::move(p.step));
  }
  plan_->stats_ = PlanStats{plan_->steps_.size(), memory.arena_bytes, scratch_bytes_, reorders, bf16_steps_};
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Plan>> Compile(const CompileRequest& request, const dnnl::engine& engine,
                                             std::vector<bool>* needs_specialization) {
  // Shapes come from models and requests: a plan too large for memory is an error, not a crash.
  try {
    PlanBuilder builder(request, engine, needs_specialization);
    builder.CreateOutputBuffers();
    return builder.Build();
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("not enough memory for the tensors of this model at these input shapes");
  }
}

absl::StatusOr<std::vector<Tensor>> EvaluateNode(const graph::Node& node, const std::vector<const Tensor*>& inputs,
                                                 int64_t opset, const dnnl::engine& engine) {
  // A one-node graph whose inputs are all specialised: the same compiler builds and runs it.
  graph::Graph mini;
  mini.opset = opset;
  graph::Node* copy = mini.AddNode(node.op_type, node.name);
  copy->attributes = node.attributes;
  copy->post_ops = node.post_ops;
  std::vector<Tensor> input_tensors;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i] == nullptr) {
      copy->inputs.push_back(nullptr);
      continue;
    }
    graph::Value* v = mini.AddValue(absl::StrCat("in", i), inputs[i]->dtype());
    mini.inputs.push_back(v);
    copy->inputs.push_back(v);
    input_tensors.push_back(*inputs[i]);
  }
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    if (node.outputs[i] == nullptr) {
      copy->outputs.push_back(nullptr);
      continue;
    }
    graph::Value* v = mini.AddValue(absl::StrCat("out", i));
    v->producer = copy;
    copy->outputs.push_back(v);
    mini.outputs.push_back(v);
  }
  CompileRequest request{&mini, input_tensors, std::vector<bool>(input_tensors.size(), true), CompileOptions{1, false}};
  ASSIGN_OR_RETURN(std::unique_ptr<Plan> plan, Compile(request, engine, nullptr));
  std::vector<Tensor> outputs;
  try {
    for (const TensorDesc& d : plan->output_descs()) outputs.push_back(Tensor::Zeros(d.dtype, d.shape));
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(absl::StrCat(node.Describe(), ": outputs too large to fold"));
  }
  RETURN_IF_ERROR(plan->Run(input_tensors, outputs, nullptr));
  std::vector<Tensor> result;
  size_t next = 0;
  for (const graph::Value* out : node.outputs) result.push_back(out == nullptr ? Tensor() : outputs[next++]);
  return result;
}

}  // namespace peregrine::engine
