// Writable, zeroed, page-aligned host memory for arenas and KV caches. Pages are mapped lazily by
// the OS, so a KV cache costs resident memory only for the positions that have been written.
#pragma once

#include <sys/mman.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "aprc/error.h"

namespace aprc {

class HostBuffer {
 public:
  HostBuffer() = default;
  // `what` names the buffer in an out-of-memory error ("model.plan: KV cache").
  HostBuffer(size_t size, const std::string& what) : size_(size) {
    if (size == 0) return;
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
      throw_bad_input(what + ": cannot allocate " + std::to_string(size >> 20) + " MiB: " + std::strerror(errno));
    data_ = static_cast<uint8_t*>(p);
  }
  ~HostBuffer() {
    if (data_) ::munmap(data_, size_);
  }
  HostBuffer(HostBuffer&& o) noexcept : data_(o.data_), size_(o.size_) { o.data_ = nullptr; }
  HostBuffer& operator=(HostBuffer&& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    return *this;
  }
  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace aprc
