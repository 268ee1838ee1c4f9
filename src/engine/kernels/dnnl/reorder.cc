#include "engine/kernels/dnnl/reorder.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/kernels/dnnl/dnnl_util.h"
#include "engine/kernels/register_all.h"

namespace peregrine::engine {
namespace {

class CopyKernel final : public Kernel {
 public:
  explicit CopyKernel(size_t bytes) : bytes_(bytes) {}
  absl::Status Run(const RunContext& ctx) override {
    if (bytes_ > 0) std::memcpy(ctx.output(0), ctx.input(0), bytes_);
    return absl::OkStatus();
  }

 private:
  size_t bytes_;
};

class ReorderKernel final : public Kernel {
 public:
  explicit ReorderKernel(dnnl_util::PrimitiveRunner runner) : runner_(std::move(runner)) {}
  absl::Status Run(const RunContext& ctx) override {
    return runner_.Run(ctx.stream(), {ctx.input(0), ctx.output(0)});
  }

 private:
  dnnl_util::PrimitiveRunner runner_;
};

}  // namespace

absl::StatusOr<CompiledKernel> CreateReorder(const TensorDesc& from, const dnnl::memory::desc& to,
                                             const dnnl::engine& engine) {
  CompiledKernel out;
  out.outputs.push_back(TensorDesc{from.dtype, from.shape, to});
  if (from.is_plain() && to.is_zero()) {
    if (from.dtype == DataType::kString) return absl::UnimplementedError("string tensors cannot be copied inside a plan");
    out.kernel = std::make_unique<CopyKernel>(from.byte_size());
    return out;
  }
  try {
    ASSIGN_OR_RETURN(dnnl::memory::desc src, dnnl_util::DescOf(from));
    ASSIGN_OR_RETURN(dnnl::memory::desc dst, dnnl_util::DescOf(TensorDesc{from.dtype, from.shape, to}));
    dnnl::reorder::primitive_desc pd(engine, src, engine, dst);
    dnnl_util::PrimitiveRunner runner{dnnl::reorder(pd)};
    runner.Bind(DNNL_ARG_SRC, src, engine);
    runner.Bind(DNNL_ARG_DST, dst, engine);
    out.kernel = std::make_unique<ReorderKernel>(std::move(runner));
  } catch (const dnnl::error& e) {
    return absl::InternalError(absl::StrCat("cannot build a layout reorder: ", e.what()));
  }
  out.input_layouts.push_back(from.layout);
  return out;
}

void RegisterDnnlReorderKernels(KernelRegistry& registry) {}

}  // namespace peregrine::engine
