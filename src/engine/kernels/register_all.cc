#include "engine/kernels/register_all.h"

namespace peregrine::engine {

const KernelRegistry& KernelRegistry::Global() {
  static const KernelRegistry* registry = [] {
    auto* r = new KernelRegistry();
    RegisterRefElementwiseKernels(*r);
    RegisterRefShapeKernels(*r);
    RegisterRefReduceKernels(*r);
    RegisterDnnlReorderKernels(*r);
    RegisterDnnlConvKernels(*r);
    RegisterDnnlMatMulKernels(*r);
    RegisterDnnlPoolKernels(*r);
    RegisterDnnlNormKernels(*r);
    RegisterDnnlEltwiseKernels(*r);
    RegisterDnnlRnnKernels(*r);
    return r;
  }();
  return *registry;
}

}  // namespace peregrine::engine
