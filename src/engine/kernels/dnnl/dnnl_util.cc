#include "engine/kernels/dnnl/dnnl_util.h"

#include "absl/strings/str_cat.h"
#include "engine/shared_constants.h"

namespace peregrine::engine::dnnl_util {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

absl::StatusOr<dt> ToDnnlType(DataType type) {
  switch (type) {
    case DataType::kFloat32: return dt::f32;
    case DataType::kFloat16: return dt::f16;
    case DataType::kBFloat16: return dt::bf16;
    case DataType::kInt32: return dt::s32;
    case DataType::kInt8: return dt::s8;
    case DataType::kUint8: return dt::u8;
    default: return absl::UnimplementedError(absl::StrCat("oneDNN has no ", DataTypeName(type), " support"));
  }
}

dnnl::memory::dims ToDims(const Shape& shape) {
  if (shape.empty()) return {1};
  return dnnl::memory::dims(shape.begin(), shape.end());
}

dnnl::memory::desc PlainDesc(dt type, const Shape& shape) {
  dnnl::memory::dims dims = ToDims(shape);
  dnnl::memory::dims strides(dims.size(), 1);
  for (int i = static_cast<int>(dims.size()) - 2; i >= 0; --i) strides[i] = strides[i + 1] * dims[i + 1];
  return dnnl::memory::desc(dims, type, strides);
}

absl::StatusOr<dnnl::memory::desc> DescOf(const TensorDesc& desc) {
  if (!desc.is_plain()) return desc.layout;
  ASSIGN_OR_RETURN(dt type, ToDnnlType(desc.dtype));
  return PlainDesc(type, desc.shape);
}

dt ComputeType(const CompileContext& ctx) {
  return ctx.precision == Precision::kBfloat16 ? dt::bf16 : dt::f32;
}

bool IsPlain(const dnnl::memory::desc& md, DataType dtype, const Shape& shape) {
  if (md.is_zero()) return true;
  absl::StatusOr<dt> type = ToDnnlType(dtype);
  return type.ok() && md == PlainDesc(*type, shape);
}

TensorDesc FromDnnl(DataType dtype, const Shape& shape, const dnnl::memory::desc& md) {
  TensorDesc out{dtype, shape, {}};
  if (!IsPlain(md, dtype, shape)) out.layout = md;
  return out;
}

dnnl::memory ReorderToLayout(const dnnl::engine& engine, const Tensor& tensor, const dnnl::memory::desc& md,
                             SharedConstants* constants) {
  // The tensor's own element type: a float32 constant may be wanted as bf16 (a bfloat16 kernel's weights).
  const dt type = ToDnnlType(tensor.dtype()).value_or(md.data_type());
  dnnl::memory src(PlainDesc(type, tensor.shape()), engine, const_cast<void*>(tensor.data()));
  if (constants != nullptr) return constants->Reorder(engine, src, md);
  dnnl::memory dst(md, engine);
  dnnl::stream stream(engine);
  dnnl::reorder(src, dst).execute(stream, src, dst);
  stream.wait();
  return dst;
}

void PrimitiveRunner::Bind(int dnnl_arg, const dnnl::memory::desc& md, const dnnl::engine& engine) {
  memories_.emplace_back(md, engine, static_cast<void*>(nullptr));  // the handle is set per run
  args_.push_back({dnnl_arg, memories_.back().get()});
  bound_.push_back(args_.size() - 1);
}

void PrimitiveRunner::BindFixed(int dnnl_arg, dnnl::memory memory) {
  memories_.push_back(std::move(memory));
  args_.push_back({dnnl_arg, memories_.back().get()});
}

absl::Status PrimitiveRunner::Run(dnnl::stream& stream, std::initializer_list<const void*> buffers) {
  size_t i = 0;
  for (const void* buffer : buffers) {
    if (i >= bound_.size()) break;
    dnnl_memory_set_data_handle_v2(args_[bound_[i]].memory, const_cast<void*>(buffer), nullptr);
    ++i;
  }
  dnnl_status_t status = dnnl_primitive_execute(primitive_.get(), stream.get(), static_cast<int>(args_.size()), args_.data());
  if (status != dnnl_success) return absl::InternalError(absl::StrCat("oneDNN execution failed with status ", static_cast<int>(status)));
  return absl::OkStatus();
}

}  // namespace peregrine::engine::dnnl_util
