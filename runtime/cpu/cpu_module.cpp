#include "cpu/cpu_module.h"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "aprc/error.h"

namespace aprc {
namespace {

void check_elf(std::span<const uint8_t> bytes, const std::string& origin) {
  Elf64_Ehdr h;
  if (bytes.size() < sizeof h) throw_bad_input(origin + ": generated CPU code is truncated (" + std::to_string(bytes.size()) + " bytes)");
  std::memcpy(&h, bytes.data(), sizeof h);
  if (std::memcmp(h.e_ident, ELFMAG, SELFMAG) != 0) throw_bad_input(origin + ": generated CPU code is not an ELF file");
  if (h.e_ident[EI_CLASS] != ELFCLASS64 || h.e_machine != EM_X86_64)
    throw_bad_input(origin + ": generated CPU code is not for x86-64 (ELF machine " + std::to_string(h.e_machine) + ")");
  if (h.e_type != ET_DYN) throw_bad_input(origin + ": generated CPU code is not a shared object");
  // Every table and loaded segment must lie inside the bytes: the loader maps the file, and a
  // segment past its end would fault on first use instead of failing here.
  const uint64_t size = bytes.size();
  auto inside = [&](uint64_t off, uint64_t len) { return off <= size && len <= size - off; };
  if (h.e_phentsize != sizeof(Elf64_Phdr) || !inside(h.e_phoff, uint64_t(h.e_phnum) * sizeof(Elf64_Phdr)))
    throw_bad_input(origin + ": generated CPU code is truncated (program headers past the end)");
  if (h.e_shoff != 0 && !inside(h.e_shoff, uint64_t(h.e_shnum) * h.e_shentsize))
    throw_bad_input(origin + ": generated CPU code is truncated (section headers past the end)");
  for (int i = 0; i < h.e_phnum; ++i) {
    Elf64_Phdr ph;
    std::memcpy(&ph, bytes.data() + h.e_phoff + uint64_t(i) * sizeof ph, sizeof ph);
    if (ph.p_type == PT_LOAD && !inside(ph.p_offset, ph.p_filesz))
      throw_bad_input(origin + ": generated CPU code is truncated (segment " + std::to_string(i) + " past the end)");
  }
}

bool write_all(int fd, std::span<const uint8_t> bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// The bytes in an anonymous in-memory file (memfd), or where the kernel lacks memfd_create, in an
// unlinked temporary file. Returns the descriptor, or -1.
int bytes_to_fd(std::span<const uint8_t> bytes) {
  int fd = ::memfd_create("aprc-cpu-kernels", MFD_CLOEXEC);
  if (fd < 0) {
    const char* dir = std::getenv("TMPDIR");
    std::string path = std::string(dir && *dir ? dir : "/tmp") + "/aprc-cpu-kernels-XXXXXX";
    fd = ::mkstemp(path.data());
    if (fd < 0) return -1;
    ::unlink(path.c_str());
  }
  if (!write_all(fd, bytes)) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

std::unique_ptr<CpuModule> CpuModule::load(std::span<const uint8_t> bytes, const std::string& origin) {
  check_elf(bytes, origin);
  const int fd = bytes_to_fd(bytes);
  if (fd < 0) throw_bad_input(origin + ": cannot stage the generated CPU code for loading: " + std::strerror(errno));
  // The descriptor stays open while the module lives: the loader recognizes an already loaded
  // object by its path, so no two live modules may share a /proc/self/fd/N name.
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* why = ::dlerror();
    ::close(fd);
    throw_bad_input(origin + ": cannot load the generated CPU code: " + (why ? why : "unknown error"));
  }
  return std::unique_ptr<CpuModule>(new CpuModule(handle, fd, origin));
}

CpuModule::~CpuModule() {
  ::dlclose(handle_);
  ::close(fd_);
}

CpuKernelFn CpuModule::find(const std::string& name) const {
  return reinterpret_cast<CpuKernelFn>(::dlsym(handle_, name.c_str()));
}

CpuKernelFn CpuModule::get(const std::string& name) const {
  CpuKernelFn fn = find(name);
  if (!fn) throw_bad_input(origin_ + ": the generated CPU code has no kernel '" + name + "'");
  return fn;
}

}  // namespace aprc
