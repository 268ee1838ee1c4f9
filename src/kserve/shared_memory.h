// SharedMemoryRegistry: Triton's system shared-memory extension. A client that shares a machine with the
// server puts tensors into a POSIX shared-memory object, registers a range of it once under a name, and then
// names that region in inference requests instead of sending the bytes: inputs are read from it, outputs are
// written into it.
//
// Register() opens the object read-write (shm_open), checks that [offset, offset + byte_size) lies inside it
// and maps exactly that range once (mmap, MAP_SHARED; any offset, the page rounding is ours). Regions are
// reference-counted: Find() hands out a shared_ptr, a request holds it while it uses the region, and
// Unregister() only drops the registry's reference - the range is unmapped when the last user lets go. A name
// can be registered again as soon as it is unregistered.
//
// Trust, as in Triton: whoever reaches the HTTP port can map any shared-memory object the server's user can
// open, and read or overwrite it through inference; the extension is for co-located, trusted clients. A client
// that shrinks an object (ftruncate) while it is registered makes the server fault (SIGBUS) on the missing
// pages; shared memory cannot guard against that.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "serving/inference.h"

namespace peregrine::kserve {

// One registered range of a shared-memory object. Immutable; unmapped when the last reference goes.
class SharedMemoryRegion {
 public:
  ~SharedMemoryRegion();
  SharedMemoryRegion(const SharedMemoryRegion&) = delete;
  SharedMemoryRegion& operator=(const SharedMemoryRegion&) = delete;

  const std::string& name() const { return name_; }
  const std::string& key() const { return key_; }
  uint64_t offset() const { return offset_; }        // of the range within the object
  uint64_t byte_size() const { return byte_size_; }  // of the range

  // The bytes [offset, offset + size) of the range (offset relative to the range's start), or InvalidArgument
  // saying why they do not lie inside it.
  absl::StatusOr<char*> Bytes(uint64_t offset, uint64_t size) const;

 private:
  friend class SharedMemoryRegistry;
  SharedMemoryRegion(std::string name, std::string key, uint64_t offset, uint64_t byte_size, void* mapping,
                     size_t mapping_size, char* data);

  std::string name_;
  std::string key_;
  uint64_t offset_;
  uint64_t byte_size_;
  void* mapping_;        // what mmap returned: starts at the page holding `offset`
  size_t mapping_size_;
  char* data_;           // mapping_ + (offset % page size): the range's first byte
};

class SharedMemoryRegistry {
 public:
  SharedMemoryRegistry() = default;
  SharedMemoryRegistry(const SharedMemoryRegistry&) = delete;
  SharedMemoryRegistry& operator=(const SharedMemoryRegistry&) = delete;

  // Maps [offset, offset + byte_size) of the shared-memory object `key` (e.g. "/my_shm") as region `name`.
  // InvalidArgument: empty name or key, byte_size 0, a name already registered, an object that cannot be
  // opened read-write (missing, no permission), or a range beyond the object's size.
  absl::Status Register(const std::string& name, const std::string& key, uint64_t offset, uint64_t byte_size);

  // Forgets `name`; requests already using it keep it mapped until they finish. Returns whether it was
  // registered (unregistering an unknown name is not an error, as in Triton).
  bool Unregister(const std::string& name);
  void UnregisterAll();

  // NotFound when `name` is not registered.
  absl::StatusOr<std::shared_ptr<const SharedMemoryRegion>> Find(const std::string& name) const;

  // Every registered region, by name.
  std::vector<std::shared_ptr<const SharedMemoryRegion>> List() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<const SharedMemoryRegion>> regions_;
};

// An output a request asked to receive in shared memory: parameters shared_memory_region,
// shared_memory_offset (default 0) and shared_memory_byte_size of a requested output.
struct SharedMemoryOutput {
  std::string name;                                  // the output tensor
  std::shared_ptr<const SharedMemoryRegion> region;  // keeps the mapping alive until the response is written
  uint64_t offset = 0;                               // within the region; offset + byte_size is inside it
  uint64_t byte_size = 0;                            // room for the output
};
using SharedMemoryOutputs = std::vector<SharedMemoryOutput>;

// Bytes of `tensor` in shared memory (and binary tensor data): its raw elements, or for BYTES each element as
// a 4-byte little-endian length followed by its bytes.
size_t SerializedByteSize(const Tensor& tensor);

// Writes every output of `response` that `outputs` names into its region. When any of them needs more than
// its byte_size, nothing is written and the error (InvalidArgument) names that output.
absl::Status WriteSharedMemoryOutputs(const SharedMemoryOutputs& outputs, const serving::InferenceResponse& response);

// The entry of `outputs` for output `name`, or null.
const SharedMemoryOutput* FindSharedMemoryOutput(const SharedMemoryOutputs* outputs, const std::string& name);

}  // namespace peregrine::kserve
