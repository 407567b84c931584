#include "aprc/cpu_target.h"

#include <algorithm>
#include <array>
#include <cstdint>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace aprc {
namespace {

enum Reg { EAX, EBX, ECX, EDX };
// What a feature needs from the operating system besides its cpuid bit.
enum class OsState { None, Avx, Avx512 };

struct FeatureBit {
  const char* name;  // LLVM's spelling
  unsigned leaf, subleaf;
  Reg reg;
  int bit;
  OsState os;
};

// cpuid bits from the Intel SDM / AMD APM. "evex512" (512-bit EVEX encodings) comes with avx512f.
constexpr FeatureBit kFeatures[] = {
    {"cx8", 1, 0, EDX, 8, OsState::None},
    {"cmov", 1, 0, EDX, 15, OsState::None},
    {"mmx", 1, 0, EDX, 23, OsState::None},
    {"fxsr", 1, 0, EDX, 24, OsState::None},
    {"sse", 1, 0, EDX, 25, OsState::None},
    {"sse2", 1, 0, EDX, 26, OsState::None},
    {"sse3", 1, 0, ECX, 0, OsState::None},
    {"pclmul", 1, 0, ECX, 1, OsState::None},
    {"ssse3", 1, 0, ECX, 9, OsState::None},
    {"fma", 1, 0, ECX, 12, OsState::Avx},
    {"cx16", 1, 0, ECX, 13, OsState::None},
    {"sse4.1", 1, 0, ECX, 19, OsState::None},
    {"sse4.2", 1, 0, ECX, 20, OsState::None},
    {"movbe", 1, 0, ECX, 22, OsState::None},
    {"popcnt", 1, 0, ECX, 23, OsState::None},
    {"aes", 1, 0, ECX, 25, OsState::None},
    {"xsave", 1, 0, ECX, 26, OsState::None},
    {"avx", 1, 0, ECX, 28, OsState::Avx},
    {"f16c", 1, 0, ECX, 29, OsState::Avx},
    {"bmi", 7, 0, EBX, 3, OsState::None},
    {"avx2", 7, 0, EBX, 5, OsState::Avx},
    {"bmi2", 7, 0, EBX, 8, OsState::None},
    {"avx512f", 7, 0, EBX, 16, OsState::Avx512},
    {"evex512", 7, 0, EBX, 16, OsState::Avx512},
    {"avx512dq", 7, 0, EBX, 17, OsState::Avx512},
    {"adx", 7, 0, EBX, 19, OsState::None},
    {"avx512ifma", 7, 0, EBX, 21, OsState::Avx512},
    {"avx512cd", 7, 0, EBX, 28, OsState::Avx512},
    {"avx512bw", 7, 0, EBX, 30, OsState::Avx512},
    {"avx512vl", 7, 0, EBX, 31, OsState::Avx512},
    {"avx512vbmi", 7, 0, ECX, 1, OsState::Avx512},
    {"avx512vbmi2", 7, 0, ECX, 6, OsState::Avx512},
    {"gfni", 7, 0, ECX, 8, OsState::None},
    {"vaes", 7, 0, ECX, 9, OsState::Avx},
    {"vpclmulqdq", 7, 0, ECX, 10, OsState::Avx},
    {"avx512vnni", 7, 0, ECX, 11, OsState::Avx512},
    {"avx512bitalg", 7, 0, ECX, 12, OsState::Avx512},
    {"avx512vpopcntdq", 7, 0, ECX, 14, OsState::Avx512},
    {"avxvnni", 7, 1, EAX, 4, OsState::Avx},
    {"avx512bf16", 7, 1, EAX, 5, OsState::Avx512},
    {"sahf", 0x80000001, 0, ECX, 0, OsState::None},
    {"lzcnt", 0x80000001, 0, ECX, 5, OsState::None},
    {"prfchw", 0x80000001, 0, ECX, 8, OsState::None},
};

constexpr auto kNames = [] {
  std::array<const char*, std::size(kFeatures)> names{};
  for (size_t i = 0; i < names.size(); ++i) names[i] = kFeatures[i].name;
  return names;
}();

}  // namespace

std::span<const char* const> known_cpu_features() { return kNames; }

std::vector<std::string> host_cpu_features() {
  std::vector<std::string> out;
#if defined(__x86_64__)
  unsigned a, b, c, d;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return out;
  const unsigned max_leaf = a;
  __get_cpuid(0x80000000, &a, &b, &c, &d);
  const unsigned max_ext_leaf = a;
  // The operating system saves the AVX (XMM|YMM) and AVX-512 (opmask|ZMM) state when XCR0 says so.
  uint64_t xcr0 = 0;
  if (__get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 27))) {  // OSXSAVE
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    xcr0 = (uint64_t(hi) << 32) | lo;
  }
  const bool os_avx = (xcr0 & 0x6) == 0x6;
  const bool os_avx512 = os_avx && (xcr0 & 0xe0) == 0xe0;
  for (const FeatureBit& f : kFeatures) {
    const unsigned limit = f.leaf >= 0x80000000 ? max_ext_leaf : max_leaf;
    if (f.leaf > limit) continue;
    unsigned r[4];
    __cpuid_count(f.leaf, f.subleaf, r[0], r[1], r[2], r[3]);
    if (!(r[f.reg] & (1u << f.bit))) continue;
    if (f.os == OsState::Avx && !os_avx) continue;
    if (f.os == OsState::Avx512 && !os_avx512) continue;
    out.push_back(f.name);
  }
#endif
  return out;
}

std::vector<std::string> missing_cpu_features(const CpuTarget& target) {
  const std::vector<std::string> host = host_cpu_features();
  std::vector<std::string> missing;
  for (const std::string& f : target.features)
    if (std::find(host.begin(), host.end(), f) == host.end()) missing.push_back(f);
  return missing;
}

}  // namespace aprc
