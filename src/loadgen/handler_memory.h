// Per-operation handler memory for Asio, so a connection's steady-state reads, writes and timer waits
// allocate nothing (the pattern of Asio's "allocation" example, written for this code).
//
// A HandlerMemory block serves one outstanding operation at a time; Asio asks for the operation's storage
// through the handler's associated allocator (AllocatingHandler::get_allocator) and frees it before calling
// the handler, so the block is free again when the handler starts the next operation. When the block is
// busy or too small the allocator falls back to operator new, so correctness never depends on the size.
#pragma once

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace peregrine::loadgen {

class HandlerMemory {
 public:
  HandlerMemory() = default;
  HandlerMemory(const HandlerMemory&) = delete;
  HandlerMemory& operator=(const HandlerMemory&) = delete;

  void* Allocate(size_t size) {
    if (!in_use_ && size <= sizeof(storage_)) {
      in_use_ = true;
      return &storage_;
    }
    return ::operator new(size);
  }
  void Deallocate(void* pointer) {
    if (pointer == &storage_) {
      in_use_ = false;
    } else {
      ::operator delete(pointer);
    }
  }

 private:
  std::aligned_storage_t<1024, alignof(std::max_align_t)> storage_;
  bool in_use_ = false;
};

template <typename T>
class HandlerAllocator {
 public:
  using value_type = T;
  explicit HandlerAllocator(HandlerMemory* memory) : memory_(memory) {}
  template <typename U>
  HandlerAllocator(const HandlerAllocator<U>& other) noexcept : memory_(other.memory_) {}

  T* allocate(size_t n) const { return static_cast<T*>(memory_->Allocate(sizeof(T) * n)); }
  void deallocate(T* pointer, size_t) const { memory_->Deallocate(pointer); }

  template <typename U>
  bool operator==(const HandlerAllocator<U>& other) const noexcept { return memory_ == other.memory_; }
  template <typename U>
  bool operator!=(const HandlerAllocator<U>& other) const noexcept { return memory_ != other.memory_; }

 private:
  template <typename> friend class HandlerAllocator;
  HandlerMemory* memory_;
};

template <typename Handler>
class AllocatingHandler {
 public:
  using allocator_type = HandlerAllocator<Handler>;
  AllocatingHandler(HandlerMemory* memory, Handler handler) : memory_(memory), handler_(std::move(handler)) {}
  allocator_type get_allocator() const noexcept { return allocator_type(memory_); }
  template <typename... Args>
  void operator()(Args&&... args) {
    handler_(std::forward<Args>(args)...);
  }

 private:
  HandlerMemory* memory_;
  Handler handler_;
};

template <typename Handler>
AllocatingHandler<std::decay_t<Handler>> WithMemory(HandlerMemory& memory, Handler&& handler) {
  return AllocatingHandler<std::decay_t<Handler>>(&memory, std::forward<Handler>(handler));
}

}  // namespace peregrine::loadgen
