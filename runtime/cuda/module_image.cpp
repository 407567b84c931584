#include <cstring>
#include <fstream>

#include "aprc/cuda/module_image.h"
#include "aprc/error.h"

namespace aprc::cuda {
namespace {

constexpr char kMagic[8] = {'A', 'P', 'R', 'C', 'C', 'U', 'M', '1'};

void put_u64(std::string& out, uint64_t v) { out.append(reinterpret_cast<const char*>(&v), 8); }
void put_bytes(std::string& out, const void* p, uint64_t n) {
  put_u64(out, n);
  out.append(static_cast<const char*>(p), n);
}

struct Reader {
  const std::string& data;
  const std::string& path;
  size_t at = 0;
  uint64_t u64() {
    if (data.size() - at < 8) throw_bad_input(path + ": truncated cuda module file");
    uint64_t v;
    std::memcpy(&v, data.data() + at, 8);
    at += 8;
    return v;
  }
  std::string bytes() {
    const uint64_t n = u64();
    if (data.size() - at < n) throw_bad_input(path + ": truncated cuda module file");
    std::string s = data.substr(at, n);
    at += n;
    return s;
  }
};

}  // namespace

LoadableCode select_code(const ModuleImage& image, int cc) {
  // A cubin runs on cards of its major version with an equal or higher minor one.
  const std::vector<uint8_t>* best = nullptr;
  int best_arch = 0;
  for (const auto& [arch, bin] : image.cubins)
    if (arch / 10 == cc / 10 && arch <= cc && arch > best_arch && !bin.empty()) best = &bin, best_arch = arch;
  if (best) return {best->data(), "cubin sm_" + std::to_string(best_arch)};
  if (image.ptx_arch && image.ptx_arch <= cc && !image.ptx.empty())
    return {image.ptx.c_str(), "PTX compute_" + std::to_string(image.ptx_arch) + " (JIT for sm_" + std::to_string(cc) + ")"};
  std::string have;
  for (const auto& c : image.cubins) have += " sm_" + std::to_string(c.first);
  if (image.ptx_arch) have += " compute_" + std::to_string(image.ptx_arch) + " (PTX)";
  throw_bad_input("cuda: the plan's kernels were built for" + (have.empty() ? std::string(" no GPU") : have) +
                  "; this GPU is sm_" + std::to_string(cc) + ": compile the plan with --target cuda:sm_" +
                  std::to_string(cc));
}

void save_module_image(const ModuleImage& image, const std::string& path) {
  std::string out(kMagic, 8);
  put_u64(out, image.cubins.size());
  for (const auto& [arch, bin] : image.cubins) {
    put_u64(out, static_cast<uint64_t>(arch));
    put_bytes(out, bin.data(), bin.size());
  }
  put_u64(out, static_cast<uint64_t>(image.ptx_arch));
  put_bytes(out, image.ptx.data(), image.ptx.size());
  put_bytes(out, image.source.data(), image.source.size());
  std::ofstream f(path, std::ios::binary);
  f.write(out.data(), static_cast<std::streamsize>(out.size()));
  if (!f) throw_bad_input(path + ": cannot write the cuda module file");
}

ModuleImage load_module_image(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw_bad_input(path + ": cannot open the cuda module file");
  const std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (data.size() < 8 || std::memcmp(data.data(), kMagic, 8) != 0) throw_bad_input(path + ": not a cuda module file");
  Reader r{data, path, 8};
  ModuleImage m;
  const uint64_t n = r.u64();
  if (n > 64) throw_bad_input(path + ": corrupt cuda module file (cubin count)");
  for (uint64_t i = 0; i < n; ++i) {
    const int arch = static_cast<int>(r.u64());
    const std::string bin = r.bytes();
    m.cubins.emplace_back(arch, std::vector<uint8_t>(bin.begin(), bin.end()));
  }
  m.ptx_arch = static_cast<int>(r.u64());
  m.ptx = r.bytes();
  m.source = r.bytes();
  return m;
}

}  // namespace aprc::cuda
