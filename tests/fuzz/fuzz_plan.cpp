// libFuzzer target: opening a plan (header, section table, the manifest's JSON and schema, the
// manifest against its sections). The input is a plan file whose CRC32s are made right first (the
// header's, and each section's that the table locates inside the input), so that mutations reach the
// manifest parser instead of stopping at a checksum.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "aprc/crc32.h"
#include "aprc/plan.h"
#include "aprc/plan_format.h"
#include "fuzz_support.h"

namespace {

void repair_crcs(std::vector<uint8_t>& bytes) {
  using namespace aprc;
  PlanHeader h;
  if (bytes.size() < sizeof h) return;
  std::memcpy(&h, bytes.data(), sizeof h);
  if (h.section_count > kPlanMaxSections || bytes.size() < sizeof h + h.section_count * sizeof(PlanSectionEntry)) return;
  uint8_t* table = bytes.data() + sizeof h;
  for (uint32_t i = 0; i < h.section_count; ++i) {
    PlanSectionEntry e;
    std::memcpy(&e, table + i * sizeof e, sizeof e);
    if (e.offset <= bytes.size() && e.size <= bytes.size() - e.offset) {
      e.crc32 = crc32(bytes.data() + e.offset, e.size);
      std::memcpy(table + i * sizeof e, &e, sizeof e);
    }
  }
  h.header_crc32 = plan_header_crc(h, table);
  std::memcpy(bytes.data(), &h, sizeof h);
}

// One file per process, rewritten for every input (Plan::open maps a file).
const std::string& plan_path() {
  static const std::string path = [] {
    const char* dir = std::getenv("TMPDIR");
    std::string p = std::string(dir ? dir : "/tmp") + "/aprc-fuzz-plan-" + std::to_string(getpid()) + ".plan";
    std::atexit([] { unlink(plan_path().c_str()); });
    return p;
  }();
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> bytes(data, data + size);
  repair_crcs(bytes);
  {
    std::ofstream out(plan_path(), std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }
  aprc::fuzz::expect_bad_input_only([&] {
    const auto plan = aprc::Plan::open(plan_path());
    // Stored weights only: a synthetic plan generates its weights, whatever size its config names.
    if (!plan->synthetic())
      for (size_t i = 0; i < plan->manifest().weights.size(); ++i) (void)plan->weight(i);
  });
  return 0;
}
