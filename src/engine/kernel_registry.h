// Maps ONNX operator types to the kernels that implement them.
//
// Several kernels may be registered for one op type; they are tried by descending priority and the
// first that does not answer Unimplemented wins (oneDNN kernels register at kPriorityDnnl and fall
// back to the portable kernels at kPriorityRef for dtypes or cases oneDNN does not cover).
// The registry is built once (Global()) and read-only afterwards, so lookups are thread-safe.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "engine/kernel.h"

namespace peregrine::engine {

inline constexpr int kPriorityRef = 0;
inline constexpr int kPriorityDnnl = 10;

struct KernelInfo {
  std::string op_type;
  KernelFactory factory = nullptr;
  int priority = kPriorityRef;
  // Inputs whose values the factory needs at compile time (Reshape's shape, Slice's starts, ...).
  // The compiler makes them known - they are constants, computed from shapes, or the plan is
  // specialised on the runtime value of the graph input they come from.
  std::vector<int> value_inputs;
};

class KernelRegistry {
 public:
  // The registry with every built-in kernel (see kernels/register_all.cc).
  static const KernelRegistry& Global();

  void Register(KernelInfo info);
  // Kernels for `op_type` in the order to try them; empty when the op is unsupported.
  const std::vector<KernelInfo>& Find(const std::string& op_type) const;
  bool Supports(const std::string& op_type) const { return !Find(op_type).empty(); }
  std::vector<std::string> OpTypes() const;

 private:
  std::map<std::string, std::vector<KernelInfo>> kernels_;
};

}  // namespace peregrine::engine
