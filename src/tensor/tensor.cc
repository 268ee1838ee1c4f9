#include "tensor/tensor.h"

#include <cstdlib>
#include <cstring>

namespace peregrine {

std::shared_ptr<void> AllocateAligned(size_t bytes) {
  constexpr size_t kAlign = 64;
  size_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
  if (rounded == 0) rounded = kAlign;
  void* p = std::aligned_alloc(kAlign, rounded);
  if (p == nullptr) throw std::bad_alloc();
  std::memset(p, 0, rounded);
  return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
}

Tensor Tensor::Zeros(DataType dtype, Shape shape) {
  const size_t n = static_cast<size_t>(NumElements(shape));
  if (dtype == DataType::kString) {
    std::shared_ptr<std::string[]> strings(new std::string[n == 0 ? 1 : n]);
    void* data = strings.get();
    return Tensor(dtype, std::move(shape), std::shared_ptr<void>(strings, data), data);
  }
  std::shared_ptr<void> storage = AllocateAligned(n * ElementSize(dtype));
  void* data = storage.get();
  return Tensor(dtype, std::move(shape), std::move(storage), data);
}

Tensor Tensor::Borrow(DataType dtype, Shape shape, void* data) { return Tensor(dtype, std::move(shape), nullptr, data); }

Tensor Tensor::Clone() const {
  Tensor copy = Zeros(dtype_, shape_);
  if (dtype_ == DataType::kString) {
    for (int64_t i = 0; i < num_elements(); ++i) copy.data_as<std::string>()[i] = data_as<std::string>()[i];
  } else if (byte_size() > 0 && data_ != nullptr) {  // a data-less stand-in clones to zeros
    std::memcpy(copy.data_, data_, byte_size());
  }
  return copy;
}

std::vector<int64_t> Tensor::ToInt64Vector() const {
  std::vector<int64_t> out(static_cast<size_t>(num_elements()));
  if (dtype_ == DataType::kInt64 || dtype_ == DataType::kUint64) {
    // Copied bit for bit: going through double would lose precision above 2^53.
    if (!out.empty()) std::memcpy(out.data(), data_, out.size() * sizeof(int64_t));
    return out;
  }
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<int64_t>(GetAsDouble(static_cast<int64_t>(i)));
  return out;
}

double Tensor::GetAsDouble(int64_t i) const {
  switch (dtype_) {
    case DataType::kFloat32: return data_as<float>()[i];
    case DataType::kFloat64: return data_as<double>()[i];
    case DataType::kInt8: return data_as<int8_t>()[i];
    case DataType::kUint8: return data_as<uint8_t>()[i];
    case DataType::kInt16: return data_as<int16_t>()[i];
    case DataType::kUint16: return data_as<uint16_t>()[i];
    case DataType::kInt32: return data_as<int32_t>()[i];
    case DataType::kUint32: return data_as<uint32_t>()[i];
    case DataType::kInt64: return static_cast<double>(data_as<int64_t>()[i]);
    case DataType::kUint64: return static_cast<double>(data_as<uint64_t>()[i]);
    case DataType::kBool: return data_as<uint8_t>()[i] ? 1.0 : 0.0;
    default: return 0.0;
  }
}

Tensor Tensor::Reshaped(Shape shape) const { return Tensor(dtype_, std::move(shape), storage_, data_); }

}  // namespace peregrine
