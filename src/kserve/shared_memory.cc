#include "kserve/shared_memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace peregrine::kserve {
namespace {

// Closes the descriptor on every path out of Register(); the mapping does not need it.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() { ::close(fd_); }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;

 private:
  int fd_;
};

absl::Status OpenError(const std::string& name, const std::string& key, int error) {
  std::string why;
  switch (error) {
    case ENOENT: why = "no such shared-memory object"; break;
    case EACCES: why = "permission denied (the server opens it read-write)"; break;
    case EINVAL:
    case ENAMETOOLONG: why = "not a valid shared-memory key (use \"/name\")"; break;
    default: why = std::strerror(error); break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("failed to register shared memory region '", name, "': cannot open key '", key, "': ", why));
}

}  // namespace

SharedMemoryRegion::SharedMemoryRegion(std::string name, std::string key, uint64_t offset, uint64_t byte_size,
                                       void* mapping, size_t mapping_size, char* data)
    : name_(std::move(name)),
      key_(std::move(key)),
      offset_(offset),
      byte_size_(byte_size),
      mapping_(mapping),
      mapping_size_(mapping_size),
      data_(data) {}

SharedMemoryRegion::~SharedMemoryRegion() { ::munmap(mapping_, mapping_size_); }

absl::StatusOr<char*> SharedMemoryRegion::Bytes(uint64_t offset, uint64_t size) const {
  if (offset > byte_size_ || size > byte_size_ - offset) {
    return absl::InvalidArgumentError(absl::StrCat("shared memory region '", name_, "' has ", byte_size_,
                                                   " bytes: offset ", offset, " + byte size ", size,
                                                   " runs past its end"));
  }
  return data_ + offset;
}

absl::Status SharedMemoryRegistry::Register(const std::string& name, const std::string& key, uint64_t offset,
                                            uint64_t byte_size) {
  if (name.empty()) return absl::InvalidArgumentError("a shared memory region needs a name");
  if (key.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("failed to register shared memory region '", name,
                                                   "': the key (the shared-memory object, e.g. \"/my_shm\") is empty"));
  }
  if (byte_size == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("failed to register shared memory region '", name, "': byte_size must be positive"));
  }
  // Held across open and mmap (a few system calls) so that two registrations of one name cannot both succeed.
  std::lock_guard<std::mutex> lock(mu_);
  if (regions_.count(name) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("shared memory region '", name, "' is already registered"));
  }
  const int fd = ::shm_open(key.c_str(), O_RDWR, 0);
  if (fd < 0) return OpenError(name, key, errno);
  FdCloser closer(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0) return OpenError(name, key, errno);
  const uint64_t object_size = st.st_size > 0 ? static_cast<uint64_t>(st.st_size) : 0;
  if (offset > object_size || byte_size > object_size - offset) {
    return absl::InvalidArgumentError(absl::StrCat("failed to register shared memory region '", name, "': offset ",
                                                   offset, " + byte_size ", byte_size, " is beyond the ",
                                                   object_size, " bytes of '", key, "'"));
  }
  // mmap needs a page-aligned file offset: map from the page holding `offset` and skip the difference.
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t skip = offset % page;
  const size_t mapping_size = static_cast<size_t>(skip + byte_size);
  void* mapping = ::mmap(nullptr, mapping_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                         static_cast<off_t>(offset - skip));
  if (mapping == MAP_FAILED) {
    return absl::InvalidArgumentError(absl::StrCat("failed to register shared memory region '", name,
                                                   "': cannot map '", key, "': ", std::strerror(errno)));
  }
  regions_.emplace(name, std::shared_ptr<const SharedMemoryRegion>(new SharedMemoryRegion(
                             name, key, offset, byte_size, mapping, mapping_size, static_cast<char*>(mapping) + skip)));
  return absl::OkStatus();
}

bool SharedMemoryRegistry::Unregister(const std::string& name) {
  std::shared_ptr<const SharedMemoryRegion> dropped;  // released after the lock: munmap runs outside it
  std::lock_guard<std::mutex> lock(mu_);
  auto it = regions_.find(name);
  if (it == regions_.end()) return false;
  dropped = std::move(it->second);
  regions_.erase(it);
  return true;
}

void SharedMemoryRegistry::UnregisterAll() {
  std::map<std::string, std::shared_ptr<const SharedMemoryRegion>> dropped;
  std::lock_guard<std::mutex> lock(mu_);
  dropped.swap(regions_);
}

absl::StatusOr<std::shared_ptr<const SharedMemoryRegion>> SharedMemoryRegistry::Find(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = regions_.find(name);
  if (it == regions_.end()) {
    return absl::NotFoundError(absl::StrCat("shared memory region '", name, "' is not registered"));
  }
  return it->second;
}

std::vector<std::shared_ptr<const SharedMemoryRegion>> SharedMemoryRegistry::List() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<const SharedMemoryRegion>> regions;
  regions.reserve(regions_.size());
  for (const auto& [name, region] : regions_) regions.push_back(region);
  return regions;
}

// ---- Outputs --------------------------------------------------------------------------------------------

size_t SerializedByteSize(const Tensor& tensor) {
  if (tensor.dtype() != DataType::kString) return tensor.byte_size();
  size_t size = 0;
  for (const std::string& s : tensor.values<std::string>()) size += 4 + s.size();
  return size;
}

namespace {

void Serialize(const Tensor& tensor, char* out) {
  if (tensor.dtype() != DataType::kString) {
    // Output tensors own their data by contract; a data-less one is written as zeros, as the JSON encoder does.
    if (tensor.data() == nullptr) {
      std::memset(out, 0, tensor.byte_size());
    } else {
      std::memcpy(out, tensor.data(), tensor.byte_size());
    }
    return;
  }
  if (tensor.data() == nullptr) {
    std::memset(out, 0, SerializedByteSize(tensor));
    return;
  }
  for (const std::string& s : tensor.values<std::string>()) {
    uint32_t length = static_cast<uint32_t>(s.size());
    if constexpr (std::endian::native == std::endian::big) length = __builtin_bswap32(length);
    std::memcpy(out, &length, 4);
    std::memcpy(out + 4, s.data(), s.size());
    out += 4 + s.size();
  }
}

}  // namespace

const SharedMemoryOutput* FindSharedMemoryOutput(const SharedMemoryOutputs* outputs, const std::string& name) {
  if (outputs == nullptr) return nullptr;
  for (const SharedMemoryOutput& output : *outputs) {
    if (output.name == name) return &output;
  }
  return nullptr;
}

absl::Status WriteSharedMemoryOutputs(const SharedMemoryOutputs& outputs, const serving::InferenceResponse& response) {
  // Check every size first: a failed request leaves the client's regions as they were.
  std::vector<std::pair<const Tensor*, char*>> writes;
  for (const serving::InferenceOutput& out : response.outputs) {
    const SharedMemoryOutput* shm = FindSharedMemoryOutput(&outputs, out.name);
    if (shm == nullptr) continue;
    const size_t needed = SerializedByteSize(out.tensor);
    if (needed > shm->byte_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "output '", out.name, "': shared_memory_byte_size ", shm->byte_size, " is too small for the result (",
          needed, " bytes, shape ", ShapeToString(out.tensor.shape()), ")"));
    }
    ASSIGN_OR_RETURN(char* destination, shm->region->Bytes(shm->offset, needed));
    writes.emplace_back(&out.tensor, destination);
  }
  for (const auto& [tensor, destination] : writes) Serialize(*tensor, destination);
  return absl::OkStatus();
}

}  // namespace peregrine::kserve
