#include "tensor/npy.h"

#include <gtest/gtest.h>

namespace peregrine {
namespace {

TEST(NpyTest, RoundTripsEveryShapeKind) {
  for (Shape shape : {Shape{}, Shape{5}, Shape{2, 3}, Shape{1, 1, 4, 2}, Shape{0, 3}}) {
    Tensor t = Tensor::Zeros(DataType::kFloat32, shape);
    for (int64_t i = 0; i < t.num_elements(); ++i) t.data_as<float>()[i] = static_cast<float>(i) * 0.5f;
    auto bytes = SerializeNpy(t);
    ASSERT_TRUE(bytes.ok());
    EXPECT_EQ((10 + (*bytes)[8]) % 64, 0) << "data must start 64-byte aligned";
    auto back = ParseNpy(*bytes);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->shape(), shape);
    for (int64_t i = 0; i < t.num_elements(); ++i) EXPECT_EQ(back->data_as<float>()[i], t.data_as<float>()[i]);
  }
}

TEST(NpyTest, ReadsNumpyWrittenHeader) {
  std::string header = "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }";
  header.append((10 + header.size() + 1 + 63) / 64 * 64 - 10 - header.size() - 1, ' ');
  header += '\n';
  std::string bytes = std::string("\x93NUMPY\x01\x00", 8) + static_cast<char>(header.size()) + '\0' + header;
  int64_t values[2] = {7, -9};
  bytes.append(reinterpret_cast<const char*>(values), sizeof(values));
  auto t = ParseNpy(bytes);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->dtype(), DataType::kInt64);
  EXPECT_EQ(t->values<int64_t>()[1], -9);
}

TEST(NpyTest, RejectsMalformedFiles) {
  Tensor t = Tensor::FromVector<float>({4}, {1, 2, 3, 4});
  std::string good = *SerializeNpy(t);
  EXPECT_FALSE(ParseNpy("").ok());
  EXPECT_FALSE(ParseNpy("not an npy file at all").ok());
  EXPECT_FALSE(ParseNpy(good.substr(0, good.size() - 1)).ok()) << "truncated data";
  EXPECT_FALSE(ParseNpy(good.substr(0, 20)).ok()) << "truncated header";
  std::string fortran = good;
  fortran.replace(fortran.find("False"), 5, "True ");
  EXPECT_FALSE(ParseNpy(fortran).ok());
  std::string complex = good;
  complex.replace(complex.find("<f4"), 3, "<c8");
  EXPECT_FALSE(ParseNpy(complex).ok());
  EXPECT_FALSE(ReadNpy("/nonexistent/file.npy").ok());
}

}  // namespace
}  // namespace peregrine
