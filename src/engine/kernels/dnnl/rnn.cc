// ONNX LSTM, GRU and RNN on oneDNN's RNN primitives (fp32 inference). The node is validated in
// rnn_spec, weights converted in rnn_weights, and the kernel built in rnn_kernel.
#include "engine/kernels/dnnl/rnn_kernel.h"
#include "engine/kernels/dnnl/rnn_spec.h"
#include "engine/kernels/register_all.h"

namespace peregrine::engine {
namespace {

template <rnn::Cell kCell>
absl::StatusOr<CompiledKernel> CompileRecurrent(const CompileContext& ctx) {
  ASSIGN_OR_RETURN(const rnn::Spec spec, rnn::ParseSpec(ctx, kCell));
  return rnn::BuildKernel(ctx, spec);
}

}  // namespace

void RegisterDnnlRnnKernels(KernelRegistry& registry) {
  registry.Register({"LSTM", &CompileRecurrent<rnn::Cell::kLstm>, kPriorityDnnl, {}});
  registry.Register({"GRU", &CompileRecurrent<rnn::Cell::kGru>, kPriorityDnnl, {}});
  registry.Register({"RNN", &CompileRecurrent<rnn::Cell::kRnn>, kPriorityDnnl, {}});
}

}  // namespace peregrine::engine
