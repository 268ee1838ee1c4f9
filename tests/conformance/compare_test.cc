#include "compare.h"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

namespace peregrine::conformance {
namespace {

TEST(CompareTest, FloatsWithinToleranceMatch) {
  Tensor expected = Tensor::FromVector<float>({3}, {1.0f, 100.0f, 0.0f});
  Tensor got = Tensor::FromVector<float>({3}, {1.0009f, 100.09f, 5e-8f});
  EXPECT_TRUE(CompareTensors(expected, got, {}).ok);
}

TEST(CompareTest, FloatOutsideToleranceReportsFirstIndexAndErrors) {
  Tensor expected = Tensor::FromVector<float>({2, 2}, {1, 2, 3, 4});
  Tensor got = Tensor::FromVector<float>({2, 2}, {1, 2, 3.5f, 4});
  Comparison c = CompareTensors(expected, got, {});
  EXPECT_FALSE(c.ok);
  EXPECT_NE(c.message.find("1 of 4 values differ"), std::string::npos) << c.message;
  EXPECT_NE(c.message.find("[1, 0]"), std::string::npos) << c.message;
  EXPECT_NEAR(c.max_abs_error, 0.5, 1e-9);
}

TEST(CompareTest, NanEqualsNanAndInfinitiesNeedSameSign) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  EXPECT_TRUE(CompareTensors(Tensor::FromVector<float>({2}, {nan, inf}), Tensor::FromVector<float>({2}, {nan, inf}), {}).ok);
  EXPECT_FALSE(CompareTensors(Tensor::FromVector<float>({1}, {inf}), Tensor::FromVector<float>({1}, {-inf}), {}).ok);
  EXPECT_FALSE(CompareTensors(Tensor::FromVector<float>({1}, {1}), Tensor::FromVector<float>({1}, {nan}), {}).ok);
}

TEST(CompareTest, DtypeAndShapeMustMatch) {
  Comparison c = CompareTensors(Tensor::FromVector<float>({2}, {1, 2}), Tensor::FromVector<double>({2}, {1, 2}), {});
  EXPECT_FALSE(c.ok);
  EXPECT_EQ(c.message, "dtype: expected float32, got float64");
  c = CompareTensors(Tensor::FromVector<float>({2}, {1, 2}), Tensor::FromVector<float>({1, 2}, {1, 2}), {});
  EXPECT_FALSE(c.ok);
  EXPECT_EQ(c.message, "shape: expected [2], got [1, 2]");
}

TEST(CompareTest, IntegersAndStringsAreExact) {
  EXPECT_FALSE(CompareTensors(Tensor::FromVector<int64_t>({1}, {1000}), Tensor::FromVector<int64_t>({1}, {1001}), {}).ok);
  EXPECT_TRUE(CompareTensors(Tensor::FromVector<int32_t>({2}, {7, -3}), Tensor::FromVector<int32_t>({2}, {7, -3}), {}).ok);
  EXPECT_FALSE(CompareTensors(Tensor::FromVector<std::string>({1}, {"a"}), Tensor::FromVector<std::string>({1}, {"b"}), {}).ok);
  EXPECT_TRUE(CompareTensors(Tensor::FromVector<bool>({2}, {true, false}), Tensor::FromVector<bool>({2}, {true, false}), {}).ok);
}

TEST(CompareTest, HalfConversion) {
  EXPECT_EQ(HalfToFloat(0x3c00), 1.0f);
  EXPECT_EQ(HalfToFloat(0xc000), -2.0f);
  EXPECT_EQ(HalfToFloat(0x0001), std::ldexp(1.0f, -24));
  EXPECT_TRUE(std::isinf(HalfToFloat(0x7c00)));
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7e00)));
  EXPECT_EQ(BFloat16ToFloat(0x3f80), 1.0f);
}

}  // namespace
}  // namespace peregrine::conformance
