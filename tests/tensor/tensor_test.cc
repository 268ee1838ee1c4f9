#include "tensor/tensor.h"

#include <gtest/gtest.h>

namespace peregrine {
namespace {

TEST(TensorTest, ZerosIsAlignedZeroFilledAndOwned) {
  Tensor t = Tensor::Zeros(DataType::kFloat32, {2, 3});
  EXPECT_EQ(t.num_elements(), 6);
  EXPECT_EQ(t.byte_size(), 24u);
  EXPECT_TRUE(t.owns_data());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data()) % 64, 0u);
  for (float v : t.values<float>()) EXPECT_EQ(v, 0.f);
}

TEST(TensorTest, CopiesShareStorageAndCloneDoesNot) {
  Tensor a = Tensor::FromVector<int64_t>({3}, {1, 2, 3});
  Tensor b = a;
  Tensor c = a.Clone();
  a.mutable_values<int64_t>()[0] = 42;
  EXPECT_EQ(b.values<int64_t>()[0], 42);
  EXPECT_EQ(c.values<int64_t>()[0], 1);
}

TEST(TensorTest, ToInt64VectorIsExactForLargeValues) {
  const int64_t big = (int64_t{1} << 62) + 1;
  EXPECT_EQ(Tensor::FromVector<int64_t>({1}, {big}).ToInt64Vector()[0], big);
  EXPECT_EQ(Tensor::FromVector<int32_t>({2}, {-5, 7}).ToInt64Vector(), (std::vector<int64_t>{-5, 7}));
}

TEST(TensorTest, ScalarHasOneElementAndEmptyShape) {
  Tensor s = Tensor::Scalar<float>(2.5f);
  EXPECT_EQ(s.rank(), 0);
  EXPECT_EQ(s.num_elements(), 1);
  EXPECT_EQ(s.GetAsDouble(0), 2.5);
}

TEST(TensorTest, StringTensorsHoldStrings) {
  Tensor s = Tensor::Zeros(DataType::kString, {2});
  s.data_as<std::string>()[1] = "hello";
  EXPECT_EQ(s.Clone().data_as<std::string>()[1], "hello");
}

TEST(DataTypeTest, NamesRoundTrip) {
  for (DataType t : {DataType::kFloat32, DataType::kInt64, DataType::kBool, DataType::kUint8, DataType::kFloat16}) {
    auto parsed = ParseDataType(DataTypeName(t));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, t);
  }
  EXPECT_FALSE(ParseDataType("float128").ok());
  EXPECT_FALSE(IsSupported(0));
  EXPECT_FALSE(IsSupported(99));
}

TEST(ShapeTest, StridesAndToString) {
  EXPECT_EQ(RowMajorStrides({2, 3, 4}), (std::vector<int64_t>{12, 4, 1}));
  EXPECT_EQ(ShapeToString({1, 40, 241}), "[1, 40, 241]");
  EXPECT_EQ(NumElements({}), 1);
  EXPECT_EQ(NumElements({3, 0}), 0);
}

}  // namespace
}  // namespace peregrine
