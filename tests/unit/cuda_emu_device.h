// A Device that runs generated kernels on the host through the warp-level emulator (cuda_emu_runtime.h):
// the module's source is compiled as host C++ into a shared object (cached by content hash), device
// memory is host memory with guard zones checked at every synchronization, and graphs are recorded
// launches. It lets the engine and every kernel run in CI, where there is no GPU.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "aprc/cuda/device.h"

namespace aprc::cuda::test {

class EmuDevice final : public Device {
 public:
  EmuDevice();
  ~EmuDevice() override;
  std::string description() const override { return "emulator (host fibers)"; }
  int compute_capability() const override { return 90; }
  DevPtr alloc(uint64_t bytes, const std::string& what) override;
  void free(DevPtr p) override;
  void upload(DevPtr dst, const void* src, uint64_t bytes) override;
  void download(void* dst, DevPtr src, uint64_t bytes) override;
  void zero(DevPtr dst, uint64_t bytes) override;
  void load_module(const ModuleImage& image) override;
  void* kernel(const std::string& name) override;
  void set_max_shared(void*, const std::string&, unsigned bytes) override;
  void launch(void* kernel, const LaunchShape& shape, void** params, const std::string& what) override;
  void synchronize(const std::string& what) override;
  bool supports_graphs() const override { return true; }
  void begin_capture() override;
  void* end_capture() override;
  void replay(void* graph, const std::string& what) override;
  void destroy_graph(void* graph) override;

 private:
  struct Allocation {
    std::vector<uint8_t> storage;  // guard, payload, guard
    uint64_t bytes = 0;
    std::string what;
  };
  struct Recorded {
    std::string kernel;
    LaunchShape shape;
    std::vector<uint64_t> values;  // the parameters (all 8-byte pointers)
    std::string what;
  };
  struct Graph {
    std::vector<Recorded> launches;
  };
  void check_guards(const std::string& what) const;
  void run(const std::string& kernel, const LaunchShape& shape, void** params, const std::string& what);

  std::map<uint64_t, Allocation> allocs_;
  void* module_ = nullptr;
  int (*launch_fn_)(const char*, const unsigned*, const unsigned*, unsigned, void**, char*, int) = nullptr;
  std::vector<std::string> kernels_;  // handles point at these
  Graph* capturing_ = nullptr;
};

// Compiles `source` for the emulator (or reuses a cached build) and returns the shared object's path.
std::string build_emulated_module(const std::string& source);

}  // namespace aprc::cuda::test
