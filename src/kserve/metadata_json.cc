#include "kserve/metadata_json.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "kserve/codec.h"
#include "serving/model_config.h"

namespace peregrine::kserve {
namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

void String(JsonWriter& w, const std::string& s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); }
void Key(JsonWriter& w, const char* key) { w.Key(key); }

std::string DatatypeOf(config::DataType type) {
  absl::StatusOr<DataType> dtype = serving::FromConfigType(type);
  return dtype.ok() ? std::string(DatatypeName(*dtype)) : "INVALID";
}

template <typename TensorConfig>
void WriteTensors(JsonWriter& w, const char* key, const google::protobuf::RepeatedPtrField<TensorConfig>& tensors,
                  bool batched) {
  Key(w, key);
  w.StartArray();
  for (const TensorConfig& t : tensors) {
    w.StartObject();
    Key(w, "name");
    String(w, t.name());
    Key(w, "datatype");
    String(w, DatatypeOf(t.data_type()));
    Key(w, "shape");
    w.StartArray();
    if (batched) w.Int64(-1);
    for (int64_t d : t.dims()) w.Int64(d);
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
}

void WriteDuration(JsonWriter& w, const char* key, const serving::ModelStatistics::Duration& d) {
  Key(w, key);
  w.StartObject();
  Key(w, "count");
  w.Uint64(d.count);
  Key(w, "ns");
  w.Uint64(d.ns);
  w.EndObject();
}

}  // namespace

std::string ServerMetadataJson(const std::string& name, const std::string& version,
                               const std::vector<std::string>& extensions) {
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  Key(w, "name");
  String(w, name);
  Key(w, "version");
  String(w, version);
  Key(w, "extensions");
  w.StartArray();
  for (const std::string& e : extensions) String(w, e);
  w.EndArray();
  w.EndObject();
  return buffer.GetString();
}

std::string ModelMetadataJson(const serving::Model& model, const std::vector<int64_t>& ready_versions) {
  const config::ModelConfig& config = model.config();
  const bool batched = config.max_batch_size() > 0;
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  Key(w, "name");
  String(w, model.name());
  Key(w, "versions");
  w.StartArray();
  for (int64_t v : ready_versions) String(w, std::to_string(v));
  w.EndArray();
  Key(w, "platform");
  String(w, config.platform());
  WriteTensors(w, "inputs", config.input(), batched);
  WriteTensors(w, "outputs", config.output(), batched);
  w.EndObject();
  return buffer.GetString();
}

std::string ModelStatisticsJson(const std::vector<std::shared_ptr<serving::Model>>& models) {
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  Key(w, "model_stats");
  w.StartArray();
  for (const auto& model : models) {
    const serving::ModelStatistics s = model->statistics();
    w.StartObject();
    Key(w, "name");
    String(w, model->name());
    Key(w, "version");
    String(w, std::to_string(model->version()));
    Key(w, "last_inference");
    w.Uint64(s.last_inference_ms);
    Key(w, "inference_count");
    w.Uint64(s.inference_count);
    Key(w, "execution_count");
    w.Uint64(s.execution_count);
    Key(w, "inference_stats");
    w.StartObject();
    WriteDuration(w, "success", s.success);
    WriteDuration(w, "fail", s.fail);
    WriteDuration(w, "queue", s.queue);
    WriteDuration(w, "compute_input", s.compute_input);
    WriteDuration(w, "compute_infer", s.compute_infer);
    WriteDuration(w, "compute_output", s.compute_output);
    WriteDuration(w, "cache_hit", {});
    WriteDuration(w, "cache_miss", {});
    w.EndObject();
    Key(w, "batch_stats");
    w.StartArray();
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return buffer.GetString();
}

std::string RepositoryIndexJson(const std::vector<serving::ModelIndexEntry>& index, bool ready_only) {
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartArray();
  for (const serving::ModelIndexEntry& e : index) {
    if (ready_only && e.state != "READY") continue;
    w.StartObject();
    Key(w, "name");
    String(w, e.name);
    if (e.version > 0) {
      Key(w, "version");
      String(w, std::to_string(e.version));
    }
    if (!e.state.empty()) {
      Key(w, "state");
      String(w, e.state);
    }
    if (!e.reason.empty()) {
      Key(w, "reason");
      String(w, e.reason);
    }
    w.EndObject();
  }
  w.EndArray();
  return buffer.GetString();
}

}  // namespace peregrine::kserve
