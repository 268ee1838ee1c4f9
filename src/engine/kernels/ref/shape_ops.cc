// Portable shape and data-movement kernels.
#include "engine/kernels/ref/ref_kernels.h"
#include "engine/kernels/register_all.h"

namespace peregrine::engine {

void RegisterRefShapeKernels(KernelRegistry& registry) {
  ref::RegisterReshapeKernels(registry);
  ref::RegisterConstantKernels(registry);
  ref::RegisterMoveKernels(registry);
  ref::RegisterConcatKernels(registry);
  ref::RegisterGatherKernels(registry);
  ref::RegisterScatterKernels(registry);
  ref::RegisterMatrixKernels(registry);
  ref::RegisterScanKernels(registry);
}

}  // namespace peregrine::engine
