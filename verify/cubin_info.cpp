#include "aprc/verify/cubin_info.h"

#include <algorithm>
#include <cstring>
#include <regex>
#include <vector>

#include "aprc/error.h"

namespace aprc::verify {
namespace {

// .nv.info entries: a format byte, an attribute byte, a 16-bit value or size, then `size` bytes
// for the sized format.
constexpr uint8_t kFormatSized = 0x04;
constexpr uint8_t kAttrFrameSize = 0x11;
constexpr uint8_t kAttrMaxStackSize = 0x23;
constexpr uint8_t kAttrRegCount = 0x2f;
constexpr int64_t kReservedSharedBytes = 1024;

class Elf {
 public:
  Elf(std::span<const uint8_t> bytes, const std::string& what) : b_(bytes), what_(what) {
    static const uint8_t kMagic[4] = {0x7f, 'E', 'L', 'F'};
    if (b_.size() < 64 || std::memcmp(b_.data(), kMagic, 4) != 0) fail("not an ELF file");
    if (b_[4] != 2 || b_[5] != 1) fail("not a 64-bit little-endian ELF file");
    if (u16(18) != 190) fail("not NVIDIA machine code (ELF machine " + std::to_string(u16(18)) + ", expected 190)");
    const uint64_t shoff = u64(0x28);
    const uint16_t shentsize = u16(0x3a), shnum = u16(0x3c), shstrndx = u16(0x3e);
    if (shentsize != 64) fail("section headers of " + std::to_string(shentsize) + " bytes");
    check_range(shoff, uint64_t{shnum} * 64, "the section headers");
    for (uint16_t i = 0; i < shnum; ++i) {
      const uint64_t h = shoff + uint64_t{i} * 64;
      Section s{u32(h), u32(h + 4), u64(h + 24), u64(h + 32), u32(h + 40), ""};
      if (s.type != 8 /* SHT_NOBITS */) check_range(s.offset, s.size, "section " + std::to_string(i));
      sections_.push_back(s);
    }
    if (shstrndx >= sections_.size()) fail("no section name table");
    for (Section& s : sections_) s.name = string_at(sections_[shstrndx], s.name_offset);
  }

  struct Section {
    uint32_t name_offset, type;
    uint64_t offset, size;
    uint32_t link;
    std::string name;
  };
  const std::vector<Section>& sections() const { return sections_; }

  // Symbol index -> name, from the (first) symbol table.
  std::vector<std::string> symbols() const {
    std::vector<std::string> names;
    for (const Section& s : sections_) {
      if (s.type != 2 /* SHT_SYMTAB */) continue;
      if (s.link >= sections_.size()) fail("the symbol table names no string table");
      for (uint64_t off = s.offset; off + 24 <= s.offset + s.size; off += 24)
        names.push_back(string_at(sections_[s.link], u32(off)));
      break;
    }
    return names;
  }

  uint8_t u8(uint64_t off) const { return b_[off]; }
  uint16_t u16(uint64_t off) const { return static_cast<uint16_t>(b_[off] | (b_[off + 1] << 8)); }
  uint32_t u32(uint64_t off) const { return u16(off) | (static_cast<uint32_t>(u16(off + 2)) << 16); }
  uint64_t u64(uint64_t off) const { return u32(off) | (static_cast<uint64_t>(u32(off + 4)) << 32); }
  [[noreturn]] void fail(const std::string& why) const { throw_bad_input(what_ + ": " + why); }

 private:
  void check_range(uint64_t offset, uint64_t size, const std::string& what) const {
    if (offset > b_.size() || size > b_.size() - offset)
      fail(what + " [" + std::to_string(offset) + ", +" + std::to_string(size) + ") runs past the end (" +
           std::to_string(b_.size()) + " bytes)");
  }
  std::string string_at(const Section& table, uint32_t offset) const {
    if (offset >= table.size) fail("a name outside its string table");
    const char* begin = reinterpret_cast<const char*>(b_.data() + table.offset + offset);
    return std::string(begin, strnlen(begin, table.size - offset));
  }

  std::span<const uint8_t> b_;
  std::string what_;
  std::vector<Section> sections_;
};

}  // namespace

std::map<std::string, KernelResources> cubin_resources(std::span<const uint8_t> cubin, const std::string& what) {
  const Elf elf(cubin, what);
  const std::vector<std::string> symbols = elf.symbols();
  std::map<std::string, KernelResources> out;
  const std::string text = ".text.", shared = ".nv.shared.";
  // A kernel has code (.text.K); .nv.shared.K is its static shared memory (other .nv.shared
  // sections, e.g. reserved ones, belong to no kernel).
  for (const auto& s : elf.sections())
    if (s.name.rfind(text, 0) == 0) out[s.name.substr(text.size())];
  // Where the cubin declares a reserved shared memory area (.nv.shared.reserved.N: sm_90 and
  // later), each kernel's section starts with it: the 1 KiB every block reserves for the system
  // (cudaDevAttrReservedSharedMemoryPerBlock), which ptxas does not count as the kernel's.
  bool reserved = false;
  for (const auto& s : elf.sections()) reserved = reserved || s.name.rfind(".nv.shared.reserved.", 0) == 0;
  for (const auto& s : elf.sections())
    if (s.name.rfind(shared, 0) == 0)
      if (auto it = out.find(s.name.substr(shared.size())); it != out.end())
        it->second.shared_bytes = std::max<int64_t>(0, static_cast<int64_t>(s.size) - (reserved ? kReservedSharedBytes : 0));
  for (auto& [name, r] : out)
    if (r.shared_bytes < 0) r.shared_bytes = 0;  // no .nv.shared section: no static shared memory
  // The attributes that name a function by symbol index, in .nv.info (and .nv.info.KERNEL).
  for (const auto& s : elf.sections()) {
    if (s.name != ".nv.info" && s.name.rfind(".nv.info.", 0) != 0) continue;
    for (uint64_t off = s.offset; off + 4 <= s.offset + s.size;) {
      const uint8_t format = elf.u8(off), attr = elf.u8(off + 1);
      const uint16_t value = elf.u16(off + 2);
      off += 4;
      if (format != kFormatSized) continue;
      if (off + value > s.offset + s.size) elf.fail("section " + s.name + ": an attribute runs past its end");
      if (value == 8 && (attr == kAttrRegCount || attr == kAttrFrameSize || attr == kAttrMaxStackSize)) {
        const uint32_t symbol = elf.u32(off), v = elf.u32(off + 4);
        if (symbol >= symbols.size()) elf.fail("section " + s.name + ": attribute of symbol " + std::to_string(symbol) + ", which does not exist");
        auto it = out.find(symbols[symbol]);
        if (it != out.end()) {
          if (attr == kAttrRegCount) it->second.registers = v;
          if (attr == kAttrFrameSize) it->second.frame_bytes = v;
          if (attr == kAttrMaxStackSize) it->second.max_stack_bytes = v;
        }
      }
      off += value;
    }
  }
  return out;
}

std::map<std::string, KernelResources> ptxas_resources(const std::string& log, const std::string& arch) {
  std::map<std::string, KernelResources> out;
  static const std::regex entry(R"(Compiling entry function '([^']+)' for '(\w+)')");
  static const std::regex properties(R"(Function properties for (\S+))");
  static const std::regex frame(R"((\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads)");
  static const std::regex used(R"(Used (\d+) registers)");
  static const std::regex smem(R"((\d+) bytes smem)");
  std::string current;  // the entry function whose lines follow
  bool wanted = false;
  size_t begin = 0;
  while (begin < log.size()) {
    size_t end = log.find('\n', begin);
    if (end == std::string::npos) end = log.size();
    const std::string line = log.substr(begin, end - begin);
    begin = end + 1;
    std::smatch m;
    if (std::regex_search(line, m, entry)) {
      current = m[1];
      wanted = arch.empty() || m[2] == arch;
      if (wanted) out[current];
    } else if (std::regex_search(line, m, properties)) {
      if (m[1] != current) wanted = false;  // a device function's properties
    } else if (wanted && !current.empty()) {
      KernelResources& r = out[current];
      if (std::regex_search(line, m, frame)) {
        r.frame_bytes = std::stoll(m[1]);
        r.spill_store_bytes = std::stoll(m[2]);
        r.spill_load_bytes = std::stoll(m[3]);
      }
      if (std::regex_search(line, m, used)) r.registers = std::stoll(m[1]);
      if (std::regex_search(line, m, smem)) r.shared_bytes = std::stoll(m[1]);
    }
  }
  return out;
}

}  // namespace aprc::verify
