// Tensor: a typed, shaped, dense row-major buffer that either owns its memory (shared, reference
// counted, 64-byte aligned) or borrows memory owned by someone else.
//
// Copying a Tensor copies the handle, not the data: copies share one buffer. Use Clone() for a deep
// copy. A borrowed tensor is valid only while its owner keeps the memory alive. Not thread-safe for
// concurrent writes to the same buffer; concurrent reads are fine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tensor/data_type.h"
#include "tensor/shape.h"

namespace peregrine {

class Tensor {
 public:
  // An empty tensor: dtype kUndefined, no data. has_data() is false.
  Tensor() = default;

  // Allocates zero-filled storage (strings: empty strings).
  static Tensor Zeros(DataType dtype, Shape shape);
  // Wraps memory owned elsewhere; `data` must hold NumElements(shape) elements of `dtype`.
  static Tensor Borrow(DataType dtype, Shape shape, void* data);
  // Copies `values` into a new owned tensor of the matching type.
  template <typename T>
  static Tensor FromVector(Shape shape, const std::vector<T>& values);
  template <typename T>
  static Tensor Scalar(T value) { return FromVector<T>({}, {value}); }

  // Deep copy into freshly owned storage.
  Tensor Clone() const;

  DataType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t rank() const { return static_cast<int64_t>(shape_.size()); }
  int64_t num_elements() const { return NumElements(shape_); }
  size_t byte_size() const { return static_cast<size_t>(num_elements()) * ElementSize(dtype_); }
  bool has_data() const { return data_ != nullptr || (dtype_ != DataType::kUndefined && num_elements() == 0); }
  bool owns_data() const { return storage_ != nullptr; }

  void* data() { return data_; }
  const void* data() const { return data_; }
  template <typename T> T* data_as() { return static_cast<T*>(data_); }
  template <typename T> const T* data_as() const { return static_cast<const T*>(data_); }
  template <typename T> std::span<const T> values() const { return {data_as<T>(), static_cast<size_t>(num_elements())}; }
  template <typename T> std::span<T> mutable_values() { return {data_as<T>(), static_cast<size_t>(num_elements())}; }

  // Integer tensors (any integer type or bool) read as int64 values; used for shape-like inputs.
  std::vector<int64_t> ToInt64Vector() const;
  // Floating or integer element i read as double.
  double GetAsDouble(int64_t i) const;

  // Same buffer, different shape with the same element count (no copy).
  Tensor Reshaped(Shape shape) const;

 private:
  Tensor(DataType dtype, Shape shape, std::shared_ptr<void> storage, void* data)
      : dtype_(dtype), shape_(std::move(shape)), storage_(std::move(storage)), data_(data) {}

  DataType dtype_ = DataType::kUndefined;
  Shape shape_;
  std::shared_ptr<void> storage_;  // null when borrowed
  void* data_ = nullptr;
};

template <typename T>
Tensor Tensor::FromVector(Shape shape, const std::vector<T>& values) {
  Tensor t = Zeros(TypeOf<T>(), std::move(shape));
  for (size_t i = 0; i < values.size() && i < static_cast<size_t>(t.num_elements()); ++i) t.data_as<T>()[i] = values[i];
  return t;
}

// Allocates `bytes` of 64-byte-aligned memory, zero-filled, freed when the last owner goes.
std::shared_ptr<void> AllocateAligned(size_t bytes);

}  // namespace peregrine
