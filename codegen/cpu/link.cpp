// LLD as a library: the generated object becomes a shared object without any external tool. LLD
// reads and writes files, so the object and the result pass through a private temporary folder.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>

#include "aprc/error.h"
#include "lld/Common/Driver.h"
#include "llvm/Support/raw_ostream.h"
#include "lowering.h"

LLD_HAS_DRIVER(elf)

namespace aprc::cpu {
namespace {

// A folder that removes itself.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string templ = std::string(base && *base ? base : "/tmp") + "/aprc-link-XXXXXX";
    if (!::mkdtemp(templ.data())) throw_internal("cpu codegen: cannot create a temporary folder in " + templ);
    path = templ;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

std::vector<uint8_t> link_shared_object(const std::vector<uint8_t>& object) {
  static std::mutex lld_mutex;  // LLD keeps global state: one link at a time
  std::lock_guard<std::mutex> lock(lld_mutex);
  TempDir dir;
  const std::string obj = (dir.path / "kernels.o").string(), so = (dir.path / "kernels.so").string();
  {
    std::ofstream f(obj, std::ios::binary);
    f.write(reinterpret_cast<const char*>(object.data()), std::streamsize(object.size()));
    if (!f) throw_internal("cpu codegen: cannot write " + obj);
  }
  const char* args[] = {"ld.lld", "-shared", "--hash-style=gnu", "-z", "noexecstack", "-z", "now",
                        "--build-id=none", "-O1", "-o", so.c_str(), obj.c_str()};
  std::string out, err;
  llvm::raw_string_ostream out_os(out), err_os(err);
  lld::Result r = lld::lldMain(args, out_os, err_os, {{lld::Gnu, &lld::elf::link}});
  if (r.retCode != 0) throw_internal("cpu codegen: linking the kernels failed: " + err);
  std::ifstream f(so, std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (bytes.empty()) throw_internal("cpu codegen: the linker wrote no shared object");
  return bytes;
}

}  // namespace aprc::cpu
