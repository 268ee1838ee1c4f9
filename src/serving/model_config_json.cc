// ModelConfigToJson: the config as Triton's model-configuration extension returns it.
//
// Written by walking the message with protobuf reflection rather than with protobuf's JSON printer,
// because clients expect 64-bit integers (dims, versions) as JSON numbers, which that printer writes as
// strings. Presence follows Triton's output: scalars, lists and maps always appear (with their
// defaults), a sub-message only when it is set - clients read the mere presence of "dynamic_batching"
// or "sequence_batching" as a statement about the model.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "serving/model_config.h"

namespace peregrine::serving {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void WriteMessage(Writer& out, const Message& message, bool top_level);

void WriteString(Writer& out, const std::string& s) {
  out.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

// One value of `field`: element `index` of a repeated field, or the singular value when index < 0.
void WriteValue(Writer& out, const Message& message, const FieldDescriptor* field, int index) {
  const Reflection* r = message.GetReflection();
  const bool rep = index >= 0;
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      out.Int(rep ? r->GetRepeatedInt32(message, field, index) : r->GetInt32(message, field));
      break;
    case FieldDescriptor::CPPTYPE_INT64:
      out.Int64(rep ? r->GetRepeatedInt64(message, field, index) : r->GetInt64(message, field));
      break;
    case FieldDescriptor::CPPTYPE_UINT32:
      out.Uint(rep ? r->GetRepeatedUInt32(message, field, index) : r->GetUInt32(message, field));
      break;
    case FieldDescriptor::CPPTYPE_UINT64:
      out.Uint64(rep ? r->GetRepeatedUInt64(message, field, index) : r->GetUInt64(message, field));
      break;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      out.Double(rep ? r->GetRepeatedDouble(message, field, index) : r->GetDouble(message, field));
      break;
    case FieldDescriptor::CPPTYPE_FLOAT:
      out.Double(rep ? r->GetRepeatedFloat(message, field, index) : r->GetFloat(message, field));
      break;
    case FieldDescriptor::CPPTYPE_BOOL:
      out.Bool(rep ? r->GetRepeatedBool(message, field, index) : r->GetBool(message, field));
      break;
    case FieldDescriptor::CPPTYPE_STRING:
      WriteString(out, rep ? r->GetRepeatedString(message, field, index) : r->GetString(message, field));
      break;
    case FieldDescriptor::CPPTYPE_ENUM: {
      const int number = rep ? r->GetRepeatedEnumValue(message, field, index) : r->GetEnumValue(message, field);
      const auto* value = field->enum_type()->FindValueByNumber(number);
      if (value != nullptr) {
        WriteString(out, value->name());
      } else {
        out.Int(number);  // proto3 keeps values it does not know; show the number rather than lose it
      }
      break;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      WriteMessage(out, rep ? r->GetRepeatedMessage(message, field, index) : r->GetMessage(message, field), false);
      break;
  }
}

// A key of a map entry, as JSON object keys must be strings.
std::string MapKey(const Message& entry) {
  const FieldDescriptor* key = entry.GetDescriptor()->map_key();
  const Reflection* r = entry.GetReflection();
  switch (key->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      return r->GetString(entry, key);
    case FieldDescriptor::CPPTYPE_INT32:
      return std::to_string(r->GetInt32(entry, key));
    case FieldDescriptor::CPPTYPE_INT64:
      return std::to_string(r->GetInt64(entry, key));
    case FieldDescriptor::CPPTYPE_UINT32:
      return std::to_string(r->GetUInt32(entry, key));
    case FieldDescriptor::CPPTYPE_UINT64:
      return std::to_string(r->GetUInt64(entry, key));
    case FieldDescriptor::CPPTYPE_BOOL:
      return r->GetBool(entry, key) ? "true" : "false";
    default:
      return "";
  }
}

// A map as a JSON object with its keys sorted, so the output does not depend on hash order.
void WriteMap(Writer& out, const Message& message, const FieldDescriptor* field) {
  const Reflection* r = message.GetReflection();
  std::vector<std::pair<std::string, const Message*>> entries;
  for (int i = 0; i < r->FieldSize(message, field); ++i) {
    const Message& entry = r->GetRepeatedMessage(message, field, i);
    entries.emplace_back(MapKey(entry), &entry);
  }
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  out.StartObject();
  for (const auto& [key, entry] : entries) {
    WriteString(out, key);
    WriteValue(out, *entry, entry->GetDescriptor()->map_value(), -1);
  }
  out.EndObject();
}

bool ShouldWrite(const Message& message, const FieldDescriptor* field, bool top_level) {
  if (field->is_repeated()) return true;
  if (field->real_containing_oneof() != nullptr) return message.GetReflection()->HasField(message, field);
  if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
    // version_policy is one of the fields clients rely on; CompleteModelConfig always sets it anyway.
    if (top_level && field->name() == "version_policy") return true;
    return message.GetReflection()->HasField(message, field);
  }
  return true;
}

void WriteMessage(Writer& out, const Message& message, bool top_level) {
  const auto* descriptor = message.GetDescriptor();
  const Reflection* r = message.GetReflection();
  out.StartObject();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* field = descriptor->field(i);
    if (!ShouldWrite(message, field, top_level)) continue;
    WriteString(out, field->name());
    if (field->is_map()) {
      WriteMap(out, message, field);
    } else if (field->is_repeated()) {
      out.StartArray();
      for (int j = 0; j < r->FieldSize(message, field); ++j) WriteValue(out, message, field, j);
      out.EndArray();
    } else {
      WriteValue(out, message, field, -1);
    }
  }
  out.EndObject();
}

}  // namespace

std::string ModelConfigToJson(const config::ModelConfig& config) {
  rapidjson::StringBuffer buffer;
  Writer writer(buffer);
  WriteMessage(writer, config, true);
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace peregrine::serving
