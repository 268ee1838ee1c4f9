// Human-readable summaries of tensors for the CLI.
#pragma once

#include <string>

#include "tensor/tensor.h"

namespace peregrine::cli {

// "float32 [1, 10] 0.1234, -1.5, ... (10 values)" showing at most `max_values` leading values.
std::string SummarizeTensor(const Tensor& tensor, int max_values = 8);

}  // namespace peregrine::cli
