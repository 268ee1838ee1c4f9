// Layout conversion steps the plan compiler inserts between producers and consumers that disagree
// on layout, and plain copies (graph outputs that alias inputs or constants).
#pragma once

#include "engine/kernel.h"

namespace peregrine::engine {

// A kernel reading one tensor in `from`'s layout and writing it in `to` (a zero desc means plain).
// Plain to plain is a memcpy; anything else is a oneDNN reorder.
absl::StatusOr<CompiledKernel> CreateReorder(const TensorDesc& from, const dnnl::memory::desc& to,
                                             const dnnl::engine& engine);

}  // namespace peregrine::engine
