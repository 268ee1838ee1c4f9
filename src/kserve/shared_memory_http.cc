#include "kserve/shared_memory_http.h"

#include <cstdint>
#include <memory>
#include <optional>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "absl/strings/str_cat.h"

namespace peregrine::kserve {
namespace {

constexpr const char* kCudaUnsupported =
    "CUDA shared memory is not supported by this server (use system shared memory)";

std::string Path(const std::vector<std::string>& segments) {
  std::string path;
  for (const std::string& s : segments) absl::StrAppend(&path, "/", s);
  return path;
}

std::string StatusJson(const std::vector<std::shared_ptr<const SharedMemoryRegion>>& regions) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartArray();
  for (const auto& region : regions) {
    w.StartObject();
    w.Key("name");
    w.String(region->name().c_str(), static_cast<rapidjson::SizeType>(region->name().size()));
    w.Key("key");
    w.String(region->key().c_str(), static_cast<rapidjson::SizeType>(region->key().size()));
    w.Key("offset");
    w.Uint64(region->offset());
    w.Key("byte_size");
    w.Uint64(region->byte_size());
    w.EndObject();
  }
  w.EndArray();
  return std::string(buffer.GetString(), buffer.GetSize());
}

// {"key": string, "offset"?: unsigned, "byte_size": unsigned}; other members are ignored, as Triton does.
absl::Status Register(SharedMemoryRegistry& registry, const std::string& name, const std::string& body) {
  const std::string context = absl::StrCat("failed to register shared memory region '", name, "': ");
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return absl::InvalidArgumentError(
        absl::StrCat(context, R"(the body must be a JSON object {"key": "/shm_key", "offset": N, "byte_size": N})"));
  }
  auto key = doc.FindMember("key");
  if (key == doc.MemberEnd() || !key->value.IsString()) {
    return absl::InvalidArgumentError(absl::StrCat(context, "\"key\" (a string, e.g. \"/my_shm\") is missing"));
  }
  uint64_t offset = 0;
  auto offset_member = doc.FindMember("offset");
  if (offset_member != doc.MemberEnd()) {
    if (!offset_member->value.IsUint64()) {
      return absl::InvalidArgumentError(absl::StrCat(context, "\"offset\" must be a non-negative integer"));
    }
    offset = offset_member->value.GetUint64();
  }
  auto size_member = doc.FindMember("byte_size");
  if (size_member == doc.MemberEnd() || !size_member->value.IsUint64()) {
    return absl::InvalidArgumentError(absl::StrCat(context, "\"byte_size\" (a non-negative integer) is missing"));
  }
  return registry.Register(name, std::string(key->value.GetString(), key->value.GetStringLength()), offset,
                           size_member->value.GetUint64());
}

absl::StatusOr<std::string> System(SharedMemoryRegistry& registry, const std::string& name, const std::string& action,
                                   const std::string& body) {
  if (action == "status") {
    if (name.empty()) return StatusJson(registry.List());
    absl::StatusOr<std::shared_ptr<const SharedMemoryRegion>> region = registry.Find(name);
    if (!region.ok()) return absl::InvalidArgumentError(region.status().message());
    return StatusJson({*region});
  }
  if (action == "register") {
    if (name.empty()) {
      return absl::InvalidArgumentError(
          "registering needs a region name: POST /v2/systemsharedmemory/region/{name}/register");
    }
    RETURN_IF_ERROR(Register(registry, name, body));
    return std::string();
  }
  if (name.empty()) {
    registry.UnregisterAll();
  } else {
    registry.Unregister(name);
  }
  return std::string();
}

absl::StatusOr<std::string> Cuda(const std::string& name, const std::string& action) {
  if (action == "status") {
    if (name.empty()) return std::string("[]");
    return absl::InvalidArgumentError(
        absl::StrCat("cuda shared memory region '", name, "' is not registered: ", kCudaUnsupported));
  }
  if (action == "register") {
    const std::string region = name.empty() ? std::string() : absl::StrCat(" region '", name, "'");
    return absl::InvalidArgumentError(
        absl::StrCat("failed to register CUDA shared memory", region, ": ", kCudaUnsupported));
  }
  return std::string();  // unregister: no CUDA region can exist
}

}  // namespace

absl::StatusOr<std::string> SharedMemoryEndpoint(SharedMemoryRegistry& registry, std::string_view method,
                                                 const std::vector<std::string>& segments, const std::string& body) {
  // {"v2", kind, action} or {"v2", kind, "region", name, action}
  std::optional<std::string> name;
  if (segments.size() == 3) {
    name.emplace();
  } else if (segments.size() == 5 && segments[2] == "region") {
    name = segments[3];
  }
  const std::string action = name ? segments.back() : std::string();
  if (!name || (action != "status" && action != "register" && action != "unregister")) {
    return absl::NotFoundError(absl::StrCat("no such endpoint: ", Path(segments)));
  }
  const char* allowed = action == "status" ? "GET" : "POST";
  if (method != allowed) {
    return absl::InvalidArgumentError(
        absl::StrCat("method ", std::string(method), " not allowed on ", Path(segments), " (use ", allowed, ")"));
  }
  if (segments[1] == "cudasharedmemory") return Cuda(*name, action);
  return System(registry, *name, action, body);
}

}  // namespace peregrine::kserve
