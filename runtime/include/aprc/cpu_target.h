// The CPU a plan's generated code was built for, and whether this machine can run it.
//
// The CPU code generator (codegen/cpu) asks LLVM for the host's CPU name and features, keeps only
// the features listed by known_cpu_features() (those this file can detect without LLVM, through
// cpuid), compiles with exactly those, and records them here. The runtime refuses a plan whose
// features this machine lacks instead of dying on an illegal instruction.
#pragma once

#include <span>
#include <string>
#include <vector>

namespace aprc {

struct CpuTarget {
  std::string triple;                 // "x86_64-unknown-linux-gnu"
  std::string cpu;                    // the CPU the code is tuned for (LLVM's name), e.g. "znver5"
  std::vector<std::string> features;  // LLVM feature names the code may use, e.g. "avx512f"
  bool operator==(const CpuTarget&) const = default;
};

// The instruction-set features the code generator may enable (LLVM spellings), each detectable
// by host_cpu_features().
std::span<const char* const> known_cpu_features();

// The known features this machine (CPU and operating system) supports.
std::vector<std::string> host_cpu_features();

// The features of `target` this machine lacks; empty when it can run the target's code.
std::vector<std::string> missing_cpu_features(const CpuTarget& target);

}  // namespace aprc
