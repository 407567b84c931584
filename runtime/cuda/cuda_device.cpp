// The GPU through the CUDA driver API, loaded at run time: dlopen("libcuda.so.1"), then every entry
// point through cuGetProcAddress at the ABI version of the cuda.h we compiled against (cuda.h is used
// for its types only; nothing links libcuda, so every binary starts on machines without a GPU).
#include <dlfcn.h>

#include <cstdio>
#include <cstring>
#include <mutex>
#include <vector>

#include "aprc/cuda/device.h"
#include "aprc/error.h"

#if __has_include(<cuda.h>)
#include <cuda.h>
#define APRC_HAVE_CUDA_H 1
#endif

namespace aprc::cuda {

#if defined(APRC_HAVE_CUDA_H)
namespace {

// The driver entry points we use. decltype(&cuX) follows cuda.h's versioned names (cuMemAlloc is
// cuMemAlloc_v2 there), and cuGetProcAddress("cuX", version) returns that same version. Names that
// cuda.h maps to another function (cuGraphInstantiate -> cuGraphInstantiateWithFlags) are listed under
// the name they map to.
#define APRC_CU_FUNCTIONS(X)                                                                              \
  X(cuInit) X(cuDriverGetVersion) X(cuDeviceGetCount) X(cuDeviceGet) X(cuDeviceGetName)                    \
  X(cuDeviceGetAttribute) X(cuDeviceTotalMem) X(cuDevicePrimaryCtxRetain) X(cuCtxSetCurrent)               \
  X(cuStreamCreate) X(cuStreamSynchronize) X(cuMemAlloc) X(cuMemFree) X(cuMemGetInfo)                     \
  X(cuMemcpyHtoDAsync) X(cuMemcpyDtoHAsync) X(cuMemcpyDtoDAsync) X(cuMemsetD8Async) X(cuModuleLoadDataEx) \
  X(cuModuleGetFunction) X(cuFuncSetAttribute) X(cuLaunchKernel) X(cuLaunchKernelEx)                      \
  X(cuStreamBeginCapture) X(cuStreamEndCapture) X(cuGraphInstantiateWithFlags) X(cuGraphLaunch)                    \
  X(cuGraphExecDestroy) X(cuGraphDestroy) X(cuEventCreate) X(cuEventRecord) X(cuEventSynchronize)          \
  X(cuEventElapsedTime) X(cuGetErrorName) X(cuGetErrorString) X(cuModuleUnload) X(cuStreamDestroy)            \
  X(cuEventDestroy)

struct Driver {
#define APRC_DECLARE(name) decltype(&name) name##_ = nullptr;
  APRC_CU_FUNCTIONS(APRC_DECLARE)
#undef APRC_DECLARE
  std::string error;  // why the driver is unusable, empty when it is fine
};

const Driver& driver() {
  static Driver d;
  static std::once_flag once;
  std::call_once(once, [] {
    void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      d.error = "libcuda.so.1 not found (no NVIDIA driver on this machine)";
      return;
    }
    using GetProc = CUresult (*)(const char*, void**, int, cuuint64_t, CUdriverProcAddressQueryResult*);
    auto get_proc = reinterpret_cast<GetProc>(dlsym(lib, "cuGetProcAddress_v2"));
    auto driver_version = reinterpret_cast<CUresult (*)(int*)>(dlsym(lib, "cuDriverGetVersion"));
    if (!get_proc || !driver_version) {
      d.error = "libcuda.so.1 is older than CUDA 12 (no cuGetProcAddress_v2): update the NVIDIA driver";
      return;
    }
    int version = 0;
    driver_version(&version);
    const int want = version < CUDA_VERSION ? version : CUDA_VERSION;
    auto resolve = [&](const char* name, void** fn) {
      CUdriverProcAddressQueryResult q{};
      if (get_proc(name, fn, want, CU_GET_PROC_ADDRESS_DEFAULT, &q) != CUDA_SUCCESS || !*fn) {
        if (d.error.empty())
          d.error = std::string("the driver (CUDA ") + std::to_string(version / 1000) + "." +
                    std::to_string(version % 1000 / 10) + ") lacks " + name;
      }
    };
#define APRC_RESOLVE(name) resolve(#name, reinterpret_cast<void**>(&d.name##_));
    APRC_CU_FUNCTIONS(APRC_RESOLVE)
#undef APRC_RESOLVE
    if (d.error.empty()) {
      const CUresult r = d.cuInit_(0);
      if (r != CUDA_SUCCESS) {
        const char* n = nullptr;
        d.cuGetErrorName_(r, &n);
        d.error = std::string("cuInit failed: ") + (n ? n : "?") + " (no usable GPU)";
      }
    }
  });
  return d;
}

std::string error_text(CUresult r) {
  const Driver& d = driver();
  const char* name = nullptr;
  const char* text = nullptr;
  if (d.cuGetErrorName_) d.cuGetErrorName_(r, &name);
  if (d.cuGetErrorString_) d.cuGetErrorString_(r, &text);
  return std::string(name ? name : "CUDA error " + std::to_string(int(r))) + " (" + (text ? text : "?") + ")";
}

// Every failing call names the call and what it was for: "cuda: cuLaunchKernel (step 3, kernel k): ...".
void check(CUresult r, const char* call, const std::string& what) {
  if (r == CUDA_SUCCESS) return;
  const std::string msg = std::string("cuda: ") + call + " (" + what + ") failed: " + error_text(r);
  if (r == CUDA_ERROR_OUT_OF_MEMORY || r == CUDA_ERROR_NO_BINARY_FOR_GPU || r == CUDA_ERROR_UNSUPPORTED_PTX_VERSION)
    throw_bad_input(msg);
  throw_internal(msg);
}

class CudaDevice final : public Device {
 public:
  explicit CudaDevice(int ordinal) : d_(driver()) {
    if (!d_.error.empty()) throw_bad_input("cuda: " + d_.error);
    int count = 0;
    check(d_.cuDeviceGetCount_(&count), "cuDeviceGetCount", "device discovery");
    if (ordinal < 0 || ordinal >= count)
      throw_bad_input("cuda: no GPU number " + std::to_string(ordinal) + " (this machine has " + std::to_string(count) + ")");
    check(d_.cuDeviceGet_(&dev_, ordinal), "cuDeviceGet", "device " + std::to_string(ordinal));
    int major = 0, minor = 0;
    check(d_.cuDeviceGetAttribute_(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev_), "cuDeviceGetAttribute", "compute capability");
    check(d_.cuDeviceGetAttribute_(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev_), "cuDeviceGetAttribute", "compute capability");
    check(d_.cuDeviceGetAttribute_(&sms_, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev_), "cuDeviceGetAttribute", "SM count");
    cc_ = 10 * major + minor;
    char name[256] = {};
    d_.cuDeviceGetName_(name, sizeof name - 1, dev_);
    name_ = name;
    check(d_.cuDeviceTotalMem_(&total_mem_, dev_), "cuDeviceTotalMem", "device memory size");
    check(d_.cuDevicePrimaryCtxRetain_(&ctx_, dev_), "cuDevicePrimaryCtxRetain", "context");
    check(d_.cuCtxSetCurrent_(ctx_), "cuCtxSetCurrent", "context");
    check(d_.cuStreamCreate_(&stream_, CU_STREAM_NON_BLOCKING), "cuStreamCreate", "stream");
    check(d_.cuEventCreate_(&ev0_, CU_EVENT_DEFAULT), "cuEventCreate", "timer");
    check(d_.cuEventCreate_(&ev1_, CU_EVENT_DEFAULT), "cuEventCreate", "timer");
  }

  ~CudaDevice() override {
    if (module_) d_.cuModuleUnload_(module_);
    if (ev0_) d_.cuEventDestroy_(ev0_);
    if (ev1_) d_.cuEventDestroy_(ev1_);
    if (stream_) d_.cuStreamDestroy_(stream_);
  }

  std::string description() const override {
    char buf[320];
    snprintf(buf, sizeof buf, "%s (sm_%d, %d SMs, %.1f GiB)", name_.c_str(), cc_, sms_, total_mem_ / 1073741824.0);
    return buf;
  }
  int compute_capability() const override { return cc_; }

  DevPtr alloc(uint64_t bytes, const std::string& what) override {
    CUdeviceptr p = 0;
    const CUresult r = d_.cuMemAlloc_(&p, bytes ? bytes : 1);
    if (r == CUDA_ERROR_OUT_OF_MEMORY) {
      size_t free_b = 0, total_b = 0;
      d_.cuMemGetInfo_(&free_b, &total_b);
      throw_bad_input("cuda: out of device memory allocating " + what + " (" + std::to_string(bytes >> 20) +
                      " MiB; " + std::to_string(free_b >> 20) + " MiB free of " + std::to_string(total_b >> 20) + ")");
    }
    check(r, "cuMemAlloc", what);
    return p;
  }
  void free(DevPtr p) override {
    if (p) d_.cuMemFree_(p);
  }
  void upload(DevPtr dst, const void* src, uint64_t bytes) override {
    if (bytes) check(d_.cuMemcpyHtoDAsync_(dst, src, bytes, stream_), "cuMemcpyHtoDAsync", "upload");
  }
  void download(void* dst, DevPtr src, uint64_t bytes) override {
    if (bytes) check(d_.cuMemcpyDtoHAsync_(dst, src, bytes, stream_), "cuMemcpyDtoHAsync", "download");
    check(d_.cuStreamSynchronize_(stream_), "cuStreamSynchronize", "download");
  }
  void zero(DevPtr dst, uint64_t bytes) override {
    if (bytes) check(d_.cuMemsetD8Async_(dst, 0, bytes, stream_), "cuMemsetD8Async", "zero");
  }

  void load_module(const ModuleImage& image) override {
    const LoadableCode code = select_code(image, cc_);
    const void* data = code.data;
    const std::string& what = code.what;
    char log[8192] = {};
    CUjit_option opts[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
    void* vals[] = {log, reinterpret_cast<void*>(sizeof log - 1)};
    if (module_) d_.cuModuleUnload_(module_);
    module_ = nullptr;
    const CUresult r = d_.cuModuleLoadDataEx_(&module_, data, 2, opts, vals);
    if (r != CUDA_SUCCESS)
      throw_internal("cuda: cuModuleLoadDataEx (" + what + ") failed: " + error_text(r) + (log[0] ? std::string(": ") + log : ""));
    module_what_ = what;
  }

  void* kernel(const std::string& name) override {
    CUfunction f = nullptr;
    const CUresult r = d_.cuModuleGetFunction_(&f, module_, name.c_str());
    if (r == CUDA_ERROR_NOT_FOUND) throw_internal("cuda: kernel " + name + " is not in the plan's module (" + module_what_ + ")");
    check(r, "cuModuleGetFunction", "kernel " + name);
    return f;
  }
  void set_max_shared(void* k, const std::string& name, unsigned bytes) override {
    check(d_.cuFuncSetAttribute_(static_cast<CUfunction>(k), CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, int(bytes)),
          "cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES)", "kernel " + name + ", " + std::to_string(bytes) + " bytes");
  }

  void launch(void* k, const LaunchShape& s, void** params, const std::string& what) override {
    CUlaunchConfig cfg{};
    cfg.gridDimX = s.grid[0], cfg.gridDimY = s.grid[1], cfg.gridDimZ = s.grid[2];
    cfg.blockDimX = s.block[0], cfg.blockDimY = s.block[1], cfg.blockDimZ = s.block[2];
    cfg.sharedMemBytes = s.shared_bytes;
    cfg.hStream = stream_;
    CUlaunchAttribute attr{};
    if (pdl_) {  // the next kernel may start while this one ends (kernels wait with griddepcontrol.wait)
      attr.id = CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION;
      attr.value.programmaticStreamSerializationAllowed = 1;
      cfg.attrs = &attr;
      cfg.numAttrs = 1;
    }
    check(d_.cuLaunchKernelEx_(&cfg, static_cast<CUfunction>(k), params, nullptr), "cuLaunchKernelEx", what);
    if (sync_each_) check(d_.cuStreamSynchronize_(stream_), "cuStreamSynchronize after launch", what);
  }
  void synchronize(const std::string& what) override {
    check(d_.cuStreamSynchronize_(stream_), "cuStreamSynchronize", what);
  }

  bool supports_graphs() const override { return true; }
  void begin_capture() override {
    check(d_.cuStreamBeginCapture_(stream_, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL), "cuStreamBeginCapture", "graph capture");
  }
  void* end_capture() override {
    CUgraph g = nullptr;
    check(d_.cuStreamEndCapture_(stream_, &g), "cuStreamEndCapture", "graph capture");
    CUgraphExec exec = nullptr;
    const CUresult r = d_.cuGraphInstantiateWithFlags_(&exec, g, 0);
    d_.cuGraphDestroy_(g);
    check(r, "cuGraphInstantiate", "graph capture");
    return exec;
  }
  void replay(void* graph, const std::string& what) override {
    check(d_.cuGraphLaunch_(static_cast<CUgraphExec>(graph), stream_), "cuGraphLaunch", what);
  }
  void destroy_graph(void* graph) override {
    if (graph) d_.cuGraphExecDestroy_(static_cast<CUgraphExec>(graph));
  }

  double copy_bandwidth_gbs(uint64_t bytes, int reps) override {
    const DevPtr a = alloc(bytes, "bandwidth probe"), b = alloc(bytes, "bandwidth probe");
    zero(a, bytes);
    check(d_.cuMemcpyDtoDAsync_(b, a, bytes, stream_), "cuMemcpyDtoDAsync", "bandwidth probe");  // warm-up
    timer_start();
    for (int i = 0; i < reps; ++i)
      check(d_.cuMemcpyDtoDAsync_(i % 2 ? a : b, i % 2 ? b : a, bytes, stream_), "cuMemcpyDtoDAsync", "bandwidth probe");
    const double s = timer_stop_seconds();
    free(a);
    free(b);
    return 2.0 * double(bytes) * reps / s / 1e9;
  }
  void timer_start() override { check(d_.cuEventRecord_(ev0_, stream_), "cuEventRecord", "timer"); }
  double timer_stop_seconds() override {
    check(d_.cuEventRecord_(ev1_, stream_), "cuEventRecord", "timer");
    check(d_.cuEventSynchronize_(ev1_), "cuEventSynchronize", "timer");
    float ms = 0;
    check(d_.cuEventElapsedTime_(&ms, ev0_, ev1_), "cuEventElapsedTime", "timer");
    return ms / 1e3;
  }

  void set_programmatic_launch(bool on) override { pdl_ = on && cc_ >= 90; }
  bool programmatic_launch() const override { return pdl_; }
  void set_sync_each(bool on) { sync_each_ = on; }

 private:
  const Driver& d_;
  CUdevice dev_ = 0;
  CUcontext ctx_ = nullptr;
  CUstream stream_ = nullptr;
  CUmodule module_ = nullptr;
  CUevent ev0_ = nullptr, ev1_ = nullptr;
  std::string name_, module_what_;
  int cc_ = 0, sms_ = 0;
  size_t total_mem_ = 0;
  bool pdl_ = false;
  bool sync_each_ = false;
};

}  // namespace

std::unique_ptr<Device> open_cuda_device(int ordinal) {
  auto dev = std::make_unique<CudaDevice>(ordinal);
  // APRC_CUDA_SYNC=1 synchronizes after every launch, so an asynchronous fault names its kernel.
  if (const char* s = getenv("APRC_CUDA_SYNC"); s && *s == '1') dev->set_sync_each(true);
  // APRC_CUDA_PDL=0 turns off programmatic dependent launch.
  const char* p = getenv("APRC_CUDA_PDL");
  dev->set_programmatic_launch(!(p && *p == '0'));
  return dev;
}

bool cuda_available(std::string* why) {
  const Driver& d = driver();
  if (!d.error.empty()) {
    if (why) *why = d.error;
    return false;
  }
  int count = 0;
  if (d.cuDeviceGetCount_(&count) != CUDA_SUCCESS || count == 0) {
    if (why) *why = "the driver sees no GPU";
    return false;
  }
  return true;
}

#else  // built without cuda.h

std::unique_ptr<Device> open_cuda_device(int) {
  throw_bad_input("cuda: this aprc was built without the CUDA headers (install the CUDA toolkit and rebuild)");
}

bool cuda_available(std::string* why) {
  if (why) *why = "aprc was built without the CUDA headers";
  return false;
}

#endif

}  // namespace aprc::cuda
