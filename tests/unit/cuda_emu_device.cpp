#include "cuda_emu_device.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "aprc/error.h"

#ifndef APRC_EMU_RUNTIME_HEADER
#error "APRC_EMU_RUNTIME_HEADER must name tests/unit/cuda_emu_runtime.h"
#endif
#ifndef APRC_EMU_CXX
#define APRC_EMU_CXX "c++"
#endif

namespace aprc::cuda::test {
namespace {

constexpr size_t kGuard = 256;
constexpr uint8_t kGuardByte = 0xA5;

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

}  // namespace

std::string build_emulated_module(const std::string& source) {
  namespace fs = std::filesystem;
  std::ifstream hdr(APRC_EMU_RUNTIME_HEADER);
  const std::string header((std::istreambuf_iterator<char>(hdr)), std::istreambuf_iterator<char>());
  const fs::path dir = fs::temp_directory_path() / "aprc-emu-cache";
  fs::create_directories(dir);
  char hash[32];
  snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(fnv1a(header + source)));
  const fs::path so = dir / (std::string(hash) + ".so");
  if (fs::exists(so)) return so.string();
  const fs::path src = dir / (std::string(hash) + "." + std::to_string(getpid()) + ".cpp");
  const fs::path tmp = dir / (std::string(hash) + "." + std::to_string(getpid()) + ".so");
  {
    std::ofstream out(src);
    out << source;
  }
  const std::string cmd = std::string(APRC_EMU_CXX) + " -std=c++17 -O1 -w -fPIC -shared -DAPRC_EMU -include " +
                          APRC_EMU_RUNTIME_HEADER + " " + src.string() + " -o " + tmp.string() + " 2>" +
                          (dir / (std::string(hash) + ".log")).string();
  if (std::system(cmd.c_str()) != 0) {
    std::ifstream log(dir / (std::string(hash) + ".log"));
    const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
    throw_internal("emulator: compiling the generated module failed (" + src.string() + "):\n" + text.substr(0, 6000));
  }
  fs::rename(tmp, so);
  fs::remove(src);
  return so.string();
}

EmuDevice::EmuDevice() = default;

EmuDevice::~EmuDevice() {
  if (module_) dlclose(module_);
}

DevPtr EmuDevice::alloc(uint64_t bytes, const std::string& what) {
  Allocation a;
  a.bytes = bytes;
  a.what = what;
  a.storage.assign(bytes + 2 * kGuard, kGuardByte);
  // Poison the payload: NaN floats, so a read of something no kernel wrote shows.
  std::memset(a.storage.data() + kGuard, 0xff, bytes);
  const uint64_t p = reinterpret_cast<uint64_t>(a.storage.data() + kGuard);
  allocs_[p] = std::move(a);
  return p;
}

void EmuDevice::free(DevPtr p) { allocs_.erase(p); }

void EmuDevice::upload(DevPtr dst, const void* src, uint64_t bytes) {
  std::memcpy(reinterpret_cast<void*>(dst), src, bytes);
}
void EmuDevice::download(void* dst, DevPtr src, uint64_t bytes) {
  check_guards("download");
  std::memcpy(dst, reinterpret_cast<const void*>(src), bytes);
}
void EmuDevice::zero(DevPtr dst, uint64_t bytes) { std::memset(reinterpret_cast<void*>(dst), 0, bytes); }

void EmuDevice::load_module(const ModuleImage& image) {
  if (image.source.empty()) throw_internal("emulator: the module image has no source");
  const std::string so = build_emulated_module(image.source);
  module_ = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!module_) throw_internal(std::string("emulator: dlopen failed: ") + dlerror());
  launch_fn_ = reinterpret_cast<decltype(launch_fn_)>(dlsym(module_, "aprc_emu_launch"));
  if (!launch_fn_) throw_internal("emulator: the module exports no aprc_emu_launch");
  kernels_.reserve(4096);
}

void* EmuDevice::kernel(const std::string& name) {
  if (kernels_.size() == kernels_.capacity()) throw_internal("emulator: too many kernel handles");
  kernels_.push_back(name);
  return &kernels_.back();
}

void EmuDevice::set_max_shared(void*, const std::string& name, unsigned bytes) {
  if (bytes > 227 * 1024) throw_internal("emulator: kernel " + name + " asks for more shared memory than sm_90 has");
}

void EmuDevice::run(const std::string& kernel, const LaunchShape& shape, void** params, const std::string& what) {
  char err[1024] = {};
  if (launch_fn_(kernel.c_str(), shape.grid, shape.block, shape.shared_bytes, params, err, sizeof err) != 0)
    throw_internal("emulator: " + what + ": " + err);
  check_guards(what);
}

void EmuDevice::launch(void* k, const LaunchShape& shape, void** params, const std::string& what) {
  const std::string& name = *static_cast<const std::string*>(k);
  const unsigned threads = shape.block[0] * shape.block[1] * shape.block[2];
  if (threads == 0 || threads > 1024) throw_internal("emulator: " + what + ": bad block size");
  if (capturing_) {
    Recorded r{name, shape, {}, what};
    // The parameter array is null-terminated, and every parameter is an 8-byte pointer.
    for (int i = 0; params[i] != nullptr; ++i) r.values.push_back(*static_cast<const uint64_t*>(params[i]));
    capturing_->launches.push_back(std::move(r));
    return;
  }
  run(name, shape, params, what);
}

void EmuDevice::synchronize(const std::string& what) { check_guards(what); }

void EmuDevice::check_guards(const std::string& what) const {
  for (const auto& [p, a] : allocs_) {
    const uint8_t* s = a.storage.data();
    for (size_t i = 0; i < kGuard; ++i)
      if (s[i] != kGuardByte || s[kGuard + a.bytes + i] != kGuardByte)
        throw_internal("emulator: after " + what + ": a kernel wrote outside " + a.what);
  }
}

void EmuDevice::begin_capture() { capturing_ = new Graph; }

void* EmuDevice::end_capture() {
  Graph* g = capturing_;
  capturing_ = nullptr;
  return g;
}

void EmuDevice::replay(void* graph, const std::string& what) {
  for (auto& r : static_cast<Graph*>(graph)->launches) {
    std::vector<void*> params;
    for (auto& v : r.values) params.push_back(&v);
    params.push_back(nullptr);
    run(r.kernel, r.shape, params.data(), r.what + " in " + what);
  }
}

void EmuDevice::destroy_graph(void* graph) { delete static_cast<Graph*>(graph); }

}  // namespace aprc::cuda::test
