// A device the CUDA engine runs on. CudaDevice (cuda_device.cpp) drives a GPU through the driver API,
// loaded with dlopen at run time; the tests also provide an emulator with the same interface, so the
// engine's own logic (arena, KV caches, argument binding, scalar slots) is checked without a GPU.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "aprc/cuda/module_image.h"

namespace aprc::cuda {

using DevPtr = uint64_t;

struct LaunchShape {
  unsigned grid[3] = {1, 1, 1};
  unsigned block[3] = {1, 1, 1};
  unsigned shared_bytes = 0;
};

class Device {
 public:
  virtual ~Device() = default;
  // "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.1 GiB)"
  virtual std::string description() const = 0;
  virtual int compute_capability() const = 0;  // 90 for sm_90
  // `what` names the buffer in out-of-memory errors.
  virtual DevPtr alloc(uint64_t bytes, const std::string& what) = 0;
  virtual void free(DevPtr p) = 0;
  // Stream-ordered; the host buffer may be reused when the call returns.
  virtual void upload(DevPtr dst, const void* src, uint64_t bytes) = 0;
  // Waits for all work before it.
  virtual void download(void* dst, DevPtr src, uint64_t bytes) = 0;
  virtual void zero(DevPtr dst, uint64_t bytes) = 0;
  // Loads the kernels: the cubin for this card, else the PTX (JIT), else an error saying why.
  virtual void load_module(const ModuleImage& image) = 0;
  // A handle for a kernel of the loaded module; an error naming the kernel when it is missing.
  virtual void* kernel(const std::string& name) = 0;
  // Raises the kernel's dynamic shared memory limit (needed above 48 KiB).
  virtual void set_max_shared(void* kernel, const std::string& name, unsigned bytes) = 0;
  // `params` as for cuLaunchKernel (pointers to the values), followed by a null pointer; `what` names
  // the step in errors.
  virtual void launch(void* kernel, const LaunchShape& shape, void** params, const std::string& what) = 0;
  virtual void synchronize(const std::string& what) = 0;

  // Graphs: capture the launches between begin and end once, then replay them.
  virtual bool supports_graphs() const { return false; }
  virtual void begin_capture() {}
  virtual void* end_capture() { return nullptr; }
  virtual void replay(void* graph, const std::string& what) {}
  virtual void destroy_graph(void* graph) {}

  // Programmatic dependent launch (sm_90): each kernel may start while the previous one finishes.
  virtual void set_programmatic_launch(bool on) {}
  virtual bool programmatic_launch() const { return false; }

  // Device-to-device copy bandwidth in GB/s (bytes read + written over time) with a buffer of `bytes`.
  virtual double copy_bandwidth_gbs(uint64_t bytes, int reps) { return 0; }
  // Seconds between two points of the stream's work (events); start/stop pairs.
  virtual void timer_start() {}
  virtual double timer_stop_seconds() { return 0; }
};

// The GPU through libcuda.so.1. Throws aprc::Error (BadInput) with a clear message when the driver
// or a GPU is missing: "cuda: libcuda.so.1 not found (no NVIDIA driver on this machine)".
std::unique_ptr<Device> open_cuda_device(int ordinal = 0);

// Whether a GPU can be used here, and if not, why (for tests that skip).
bool cuda_available(std::string* why = nullptr);

}  // namespace aprc::cuda
