// Portable elementwise kernels: the complete fallback for every dtype (oneDNN eltwise/binary
// kernels may register float versions of some of these ops at a higher priority).
#include "engine/kernels/ref/ref_kernels.h"
#include "engine/kernels/register_all.h"

namespace peregrine::engine {

void RegisterRefElementwiseKernels(KernelRegistry& registry) {
  ref::RegisterUnaryKernels(registry);
  ref::RegisterBinaryKernels(registry);
  ref::RegisterWhereCastKernels(registry);
}

}  // namespace peregrine::engine
