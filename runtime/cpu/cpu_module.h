// Generated CPU code at run time: a shared object (the bytes the CPU code generator returns and a
// plan stores) loaded from memory, and its kernels looked up by name. No LLVM here: the object is
// an ordinary ELF shared library that the dynamic loader maps.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace aprc {

// The ABI of every generated CPU kernel (docs/design.md): args are the step's buffers in the
// order its KernelSpec kind lists them, scalars are {T, pos, ...}, and [begin, end) is the chunk
// of the step's parallel extent to compute. Kernels are thread-safe and allocate nothing.
using CpuKernelFn = void (*)(void* const* args, const int64_t* scalars, int64_t begin, int64_t end);

class CpuModule {
 public:
  // Loads a shared object from its bytes (they are copied; the span need not outlive the call).
  // `origin` names where the bytes came from ("model.plan: section cpu_so") for error messages.
  // Throws Error(BadInput) when the bytes are not an x86-64 ELF shared object or do not load.
  static std::unique_ptr<CpuModule> load(std::span<const uint8_t> bytes, const std::string& origin);
  ~CpuModule();
  CpuModule(const CpuModule&) = delete;
  CpuModule& operator=(const CpuModule&) = delete;

  // The kernel called `name`, or nullptr when the module has none.
  CpuKernelFn find(const std::string& name) const;
  // The kernel called `name`; throws Error(BadInput) naming the origin when it is absent.
  CpuKernelFn get(const std::string& name) const;

 private:
  CpuModule(void* handle, int fd, std::string origin) : handle_(handle), fd_(fd), origin_(std::move(origin)) {}
  void* handle_;
  int fd_;
  std::string origin_;
};

}  // namespace aprc
