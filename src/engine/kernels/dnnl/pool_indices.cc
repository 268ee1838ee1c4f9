#include "engine/kernels/dnnl/pool_indices.h"

#include <utility>

namespace peregrine::engine::dnnl_ops {
namespace {

// Everything the conversion needs, flattened once at compile time.
struct IndexPlan {
  int64_t planes = 0;       // N * C
  int64_t out_spatial = 0;  // output elements per plane
  int64_t in_spatial = 0;   // input elements per plane
  std::vector<int64_t> out_dims, in_dims, kernel, strides, dilations, pads;
  std::vector<int64_t> in_strides;  // per spatial dim, row- or column-major
  bool s32 = false;
};

IndexPlan MakePlan(const PoolIndexGeometry& g) {
  IndexPlan p;
  const size_t n = g.in.size() - 2;
  p.planes = g.in[0] * g.in[1];
  p.out_dims.assign(g.out.begin() + 2, g.out.end());
  p.in_dims.assign(g.in.begin() + 2, g.in.end());
  p.out_spatial = NumElements(p.out_dims);
  p.in_spatial = NumElements(p.in_dims);
  p.kernel = g.window.kernel;
  p.strides = g.window.strides;
  p.dilations = g.window.dilations;
  p.pads = g.window.pads_begin;
  p.in_strides.assign(n, 1);
  if (g.column_major) {
    for (size_t d = 1; d < n; ++d) p.in_strides[d] = p.in_strides[d - 1] * p.in_dims[d - 1];
  } else {
    for (size_t d = n - 1; d > 0; --d) p.in_strides[d - 1] = p.in_strides[d] * p.in_dims[d];
  }
  p.s32 = g.workspace_type == dnnl::memory::data_type::s32;
  return p;
}

// Input offset (within its plane) of window element `k` of output element `o` (both flat).
int64_t SourceOffset(const IndexPlan& p, int64_t o, int64_t k) {
  int64_t offset = 0;
  for (size_t d = p.out_dims.size(); d-- > 0;) {
    const int64_t od = o % p.out_dims[d];
    const int64_t kd = k % p.kernel[d];
    o /= p.out_dims[d];
    k /= p.kernel[d];
    offset += (od * p.strides[d] - p.pads[d] + kd * p.dilations[d]) * p.in_strides[d];
  }
  return offset;
}

}  // namespace

StepKernel::HostStep MakeIndicesStep(PoolIndexGeometry geometry, BufferRef workspace) {
  return [plan = MakePlan(geometry), offset = workspace.index](const RunContext& run) {
    const void* ws = static_cast<const char*>(run.scratch()) + offset;
    int64_t* indices = run.output_as<int64_t>(1);
    for (int64_t plane = 0; plane < plan.planes; ++plane) {
      for (int64_t o = 0; o < plan.out_spatial; ++o) {
        const int64_t i = plane * plan.out_spatial + o;
        const int64_t k = plan.s32 ? static_cast<const int32_t*>(ws)[i] : static_cast<const uint8_t*>(ws)[i];
        indices[i] = plane * plan.in_spatial + SourceOffset(plan, o, k);
      }
    }
  };
}

}  // namespace peregrine::engine::dnnl_ops
