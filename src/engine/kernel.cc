#include "engine/kernel.h"

#include "absl/strings/str_cat.h"

namespace peregrine::engine {

size_t TensorDesc::byte_size() const {
  if (!is_plain()) return layout.get_size();
  return static_cast<size_t>(NumElements(shape)) * ElementSize(dtype);
}

const TensorDesc& CompileContext::desc(size_t i) const {
  static const TensorDesc kAbsent;
  return i < inputs.size() ? inputs[i].desc : kAbsent;
}

absl::Status CompileContext::Invalid(const std::string& message) const {
  return absl::InvalidArgumentError(absl::StrCat(node.Describe(), ": ", message));
}

absl::Status CompileContext::Unsupported(const std::string& message) const {
  return absl::UnimplementedError(absl::StrCat(node.Describe(), ": ", message));
}

}  // namespace peregrine::engine
