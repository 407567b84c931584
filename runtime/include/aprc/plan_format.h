// The bytes of a plan file. A plan is one file:
//
//   [0, 4096)   the header and the section table (this file's structs, little-endian)
//   sections    each at a 4096-aligned offset, in any order; one of them is the JSON manifest
//
// The header names the format version and holds a CRC32 of itself and the table; each table entry
// holds its section's offset, size and CRC32, so a truncated or altered plan is refused before any
// of it is used. Weights are stored in their target layout inside the "weights" section, so that the
// runtime maps them and uses them in place. What the manifest holds is described in plan.h.
#pragma once

#include <cstdint>
#include <string_view>

#include "aprc/crc32.h"

namespace aprc {

inline constexpr char kPlanMagic[8] = {'A', 'P', 'R', 'C', 'P', 'L', 'A', 'N'};

// Bumped whenever the header, the manifest schema or a section's contents change incompatibly.
// A runtime reads exactly its own version and refuses others.
inline constexpr uint32_t kPlanFormatVersion = 1;

inline constexpr uint64_t kPlanAlignment = 4096;  // sections start at multiples of this
inline constexpr uint64_t kPlanWeightAlignment = 64;  // each weight inside the weights section
inline constexpr uint32_t kPlanMaxSections = 63;  // header + table fit in the first 4096 bytes

struct PlanHeader {
  char magic[8];             // kPlanMagic
  uint32_t format_version;   // kPlanFormatVersion
  uint32_t section_count;    // entries in the table that follows the header
  uint64_t file_size;        // the whole file, so that truncation is named as such
  uint32_t header_crc32;     // CRC32 of the header with this field zero, then of the section table
  uint32_t reserved;         // zero
};
static_assert(sizeof(PlanHeader) == 32, "plan header is 32 bytes");

struct PlanSectionEntry {
  char name[40];    // NUL-padded, e.g. "manifest", "weights", "cuda.cubin.sm_90"
  uint64_t offset;  // from the start of the file; a multiple of kPlanAlignment
  uint64_t size;    // bytes
  uint32_t crc32;   // of the section's bytes
  uint32_t reserved;
};
static_assert(sizeof(PlanSectionEntry) == 64, "plan section entry is 64 bytes");

// What header_crc32 holds: the CRC32 of `header` with that field zero, then of the section table of
// header.section_count entries at `table` (the bytes that follow the header).
inline uint32_t plan_header_crc(PlanHeader header, const void* table) {
  header.header_crc32 = 0;
  return crc32_update(crc32(&header, sizeof header), table, header.section_count * sizeof(PlanSectionEntry));
}
static_assert(sizeof(PlanHeader) + kPlanMaxSections * sizeof(PlanSectionEntry) <= kPlanAlignment,
              "header and table fit in the first page");

// Section names. Every plan has the manifest; the rest depend on the targets compiled for.
namespace plan_section {
inline constexpr std::string_view kManifest = "manifest";        // JSON (plan.h)
inline constexpr std::string_view kWeights = "weights";          // weights in target layouts
inline constexpr std::string_view kCpuObject = "cpu.so";          // the CPU kernels, a shared object
inline constexpr std::string_view kCpuMlir = "cpu.mlir";          // the generated CPU MLIR, text
inline constexpr std::string_view kCudaCubinPrefix = "cuda.cubin.";  // + "sm_90": a cubin per arch
inline constexpr std::string_view kCudaPtx = "cuda.ptx";          // PTX, the fallback for newer cards
inline constexpr std::string_view kCudaSource = "cuda.source";    // the generated CUDA C++
inline constexpr std::string_view kReferenceIr = "ir.reference";  // the module before any pass
}  // namespace plan_section

}  // namespace aprc
