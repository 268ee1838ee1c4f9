#include "cli/tensor_printing.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace peregrine::cli {

std::string SummarizeTensor(const Tensor& tensor, int max_values) {
  std::string out = absl::StrCat(DataTypeName(tensor.dtype()), " ", ShapeToString(tensor.shape()));
  const int64_t n = tensor.num_elements();
  const bool printable = tensor.dtype() != DataType::kString && tensor.dtype() != DataType::kFloat16 &&
                         tensor.dtype() != DataType::kBFloat16;
  if (!printable || n == 0) return out;
  out += " ";
  for (int64_t i = 0; i < n && i < max_values; ++i) {
    absl::StrAppend(&out, i ? ", " : "", absl::StrFormat("%.6g", tensor.GetAsDouble(i)));
  }
  if (n > max_values) absl::StrAppend(&out, ", ... (", n, " values)");
  return out;
}

}  // namespace peregrine::cli
