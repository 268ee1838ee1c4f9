#include "tensor/npy.h"

#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace peregrine {
namespace {

constexpr absl::string_view kMagic = "\x93NUMPY";

struct Descr {
  absl::string_view code;
  DataType type;
};
constexpr Descr kDescrs[] = {
    {"<f4", DataType::kFloat32}, {"<f8", DataType::kFloat64}, {"<f2", DataType::kFloat16},
    {"<i8", DataType::kInt64},   {"<i4", DataType::kInt32},   {"<i2", DataType::kInt16},
    {"|i1", DataType::kInt8},    {"<u8", DataType::kUint64},  {"<u4", DataType::kUint32},
    {"<u2", DataType::kUint16},  {"|u1", DataType::kUint8},   {"|b1", DataType::kBool},
};

absl::Status Bad(absl::string_view why) { return absl::InvalidArgumentError(absl::StrCat("not a supported .npy array: ", why)); }

// Value of 'key' in the header dict, e.g. "'<f4'" for descr; empty when missing.
absl::string_view Field(absl::string_view header, absl::string_view key) {
  const std::string quoted = absl::StrCat("'", key, "':");
  size_t at = header.find(quoted);
  if (at == absl::string_view::npos) return {};
  absl::string_view rest = absl::StripLeadingAsciiWhitespace(header.substr(at + quoted.size()));
  if (rest.empty()) return {};
  size_t end = rest.front() == '(' ? rest.find(')') + 1 : rest.find_first_of(",}");
  return end == absl::string_view::npos ? absl::string_view{} : rest.substr(0, end);
}

absl::StatusOr<Shape> ParseShape(absl::string_view text) {
  if (text.size() < 2 || text.front() != '(' || text.back() != ')') return Bad("shape");
  Shape shape;
  for (absl::string_view part : absl::StrSplit(text.substr(1, text.size() - 2), ',', absl::SkipWhitespace())) {
    int64_t d;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(part), &d) || d < 0) return Bad("shape");
    shape.push_back(d);
  }
  return shape;
}

}  // namespace

absl::StatusOr<Tensor> ParseNpy(absl::string_view bytes) {
  if (bytes.size() < 10 || bytes.substr(0, 6) != kMagic) return Bad("missing magic");
  const int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len, offset;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return Bad("truncated header");
    uint32_t len;
    std::memcpy(&len, bytes.data() + 8, 4);
    header_len = len;
    offset = 12;
  } else {
    return Bad("unknown version");
  }
  if (bytes.size() < offset + header_len) return Bad("truncated header");
  absl::string_view header = bytes.substr(offset, header_len);
  absl::string_view descr = absl::StripSuffix(absl::StripPrefix(Field(header, "descr"), "'"), "'");
  if (Field(header, "fortran_order") != "False") return Bad("Fortran order");
  const Descr* found = nullptr;
  for (const Descr& d : kDescrs) found = d.code == descr ? &d : found;
  if (found == nullptr) return Bad(absl::StrCat("dtype '", descr, "'"));
  ASSIGN_OR_RETURN(Shape shape, ParseShape(Field(header, "shape")));
  Tensor t = Tensor::Zeros(found->type, shape);
  absl::string_view data = bytes.substr(offset + header_len);
  if (data.size() != t.byte_size()) {
    return Bad(absl::StrCat("data holds ", data.size(), " bytes, shape ", ShapeToString(shape), " needs ", t.byte_size()));
  }
  if (!data.empty()) std::memcpy(t.data(), data.data(), data.size());
  return t;
}

absl::StatusOr<Tensor> ReadNpy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  auto t = ParseNpy(buffer.str());
  if (!t.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", t.status().message()));
  return t;
}

absl::StatusOr<std::string> SerializeNpy(const Tensor& tensor) {
  const Descr* found = nullptr;
  for (const Descr& d : kDescrs) found = d.type == tensor.dtype() ? &d : found;
  if (found == nullptr) return absl::InvalidArgumentError(absl::StrCat("cannot write ", DataTypeName(tensor.dtype()), " to .npy"));
  std::string shape = "(";
  for (int64_t d : tensor.shape()) absl::StrAppend(&shape, d, ",");
  if (tensor.rank() > 1) shape.pop_back();
  shape += ")";
  std::string header = absl::StrCat("{'descr': '", found->code, "', 'fortran_order': False, 'shape': ", shape, ", }");
  // Pad with spaces so the data starts 64-byte aligned, ending the header with a newline.
  const size_t total = (10 + header.size() + 1 + 63) / 64 * 64;
  header.append(total - 10 - header.size() - 1, ' ');
  header += '\n';
  std::string out(kMagic);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  out.append(static_cast<const char*>(tensor.data()), tensor.byte_size());
  return out;
}

absl::Status WriteNpy(const std::string& path, const Tensor& tensor) {
  ASSIGN_OR_RETURN(std::string bytes, SerializeNpy(tensor));
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return out.good() ? absl::OkStatus() : absl::InvalidArgumentError(absl::StrCat("cannot write ", path));
}

}  // namespace peregrine
