// Concrete tensor shapes: a list of non-negative dimension sizes, outermost first (row-major).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace peregrine {

using Shape = std::vector<int64_t>;

// Product of the dimensions; 1 for a scalar (empty shape).
int64_t NumElements(const Shape& shape);

// Row-major strides in elements: strides[i] = product of shape[i+1..].
std::vector<int64_t> RowMajorStrides(const Shape& shape);

// "[1, 3, 224, 224]"; "[]" for a scalar.
std::string ShapeToString(const Shape& shape);

}  // namespace peregrine
