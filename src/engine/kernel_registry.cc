#include "engine/kernel_registry.h"

#include <algorithm>

namespace peregrine::engine {

void KernelRegistry::Register(KernelInfo info) {
  auto& list = kernels_[info.op_type];
  list.push_back(std::move(info));
  std::stable_sort(list.begin(), list.end(), [](const KernelInfo& a, const KernelInfo& b) { return a.priority > b.priority; });
}

const std::vector<KernelInfo>& KernelRegistry::Find(const std::string& op_type) const {
  static const std::vector<KernelInfo> kNone;
  auto it = kernels_.find(op_type);
  return it == kernels_.end() ? kNone : it->second;
}

std::vector<std::string> KernelRegistry::OpTypes() const {
  std::vector<std::string> names;
  for (const auto& [name, list] : kernels_) names.push_back(name);
  return names;
}

}  // namespace peregrine::engine
