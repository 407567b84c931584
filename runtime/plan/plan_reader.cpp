// Opening a plan: every byte of the header, the section table and the manifest is checked before
// anything is used; sections are checked against their CRC32s.
#include <algorithm>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aprc/crc32.h"
#include "aprc/error.h"
#include "aprc/plan.h"
#include "aprc/plan_format.h"
#include "aprc/synthetic.h"
#include "crc32_parallel.h"

namespace aprc {
namespace {

std::string section_name(const PlanSectionEntry& e, const std::string& path, uint32_t index) {
  const char* end = static_cast<const char*>(std::memchr(e.name, 0, sizeof e.name));
  if (end == nullptr || end == e.name)
    throw_bad_input(path + ": section " + std::to_string(index) + " has no valid name (an altered plan?)");
  return std::string(e.name, end);
}

std::vector<PlanSection> read_section_table(const MappedFile& file) {
  const std::string& path = file.path();
  const size_t size = file.size();
  PlanHeader h;
  if (size < sizeof h || std::memcmp(file.data(), kPlanMagic, sizeof kPlanMagic) != 0)
    throw_bad_input(path + ": not an aprc plan (no APRCPLAN magic)");
  std::memcpy(&h, file.data(), sizeof h);
  if (h.format_version != kPlanFormatVersion)
    throw_bad_input(path + ": plan format version " + std::to_string(h.format_version) + "; this aprc reads version " +
                    std::to_string(kPlanFormatVersion) + " (recompile the plan with this aprc)");
  if (h.file_size > size)
    throw_bad_input(path + ": truncated plan: " + std::to_string(size) + " bytes, the header says " +
                    std::to_string(h.file_size));
  if (h.file_size < size)
    throw_bad_input(path + ": plan has " + std::to_string(size - h.file_size) + " bytes past its end (an altered plan?)");
  if (h.section_count == 0 || h.section_count > kPlanMaxSections)
    throw_bad_input(path + ": plan header: " + std::to_string(h.section_count) + " sections (an altered plan?)");
  const size_t table_bytes = h.section_count * sizeof(PlanSectionEntry);
  if (size < sizeof h + table_bytes) throw_bad_input(path + ": truncated plan: the section table is cut short");

  if (plan_header_crc(h, file.data() + sizeof h) != h.header_crc32) throw_bad_input(path + ": plan header CRC32 mismatch (an altered plan)");

  std::vector<PlanSection> sections;
  for (uint32_t i = 0; i < h.section_count; ++i) {
    PlanSectionEntry e;
    std::memcpy(&e, file.data() + sizeof h + i * sizeof e, sizeof e);
    PlanSection s{section_name(e, path, i), e.offset, e.size, e.crc32};
    if (s.offset % kPlanAlignment != 0 || s.offset < kPlanAlignment)
      throw_bad_input(path + ": section '" + s.name + "' starts at " + std::to_string(s.offset) +
                      ", not a multiple of 4096 past the header");
    if (s.offset > size || s.size > size - s.offset)
      throw_bad_input(path + ": truncated plan: section '" + s.name + "' [" + std::to_string(s.offset) + ", " +
                      std::to_string(s.offset + s.size) + ") runs past the end of the file (" + std::to_string(size) + " bytes)");
    for (const PlanSection& other : sections) {
      if (other.name == s.name) throw_bad_input(path + ": section '" + s.name + "' appears twice");
      if (s.offset < other.offset + other.size && other.offset < s.offset + s.size)
        throw_bad_input(path + ": sections '" + other.name + "' and '" + s.name + "' overlap");
    }
    sections.push_back(std::move(s));
  }
  // Checked after the table as a whole is known to be sound; large sections on every core.
  for (const PlanSection& s : sections)
    if (crc32_parallel(file.data() + s.offset, s.size) != s.crc32)
      throw_bad_input(path + ": section '" + s.name + "' CRC32 mismatch (an altered or damaged plan)");
  return sections;
}

// What the manifest promises about the sections: every weight inside the weights section (or
// inside the generated weights of a synthetic plan), and the code each target needs.
void check_manifest_against_sections(const Plan& plan) {
  const PlanManifest& m = plan.manifest();
  const std::string& path = plan.path();
  auto weights_section = plan.section(plan_section::kWeights);
  if (m.synthetic) {
    if (weights_section)
      throw_bad_input(path + ": a synthetic plan with a weights section (an altered plan?)");
    check_synthetic_manifest(m, path);
  } else {
    const uint64_t available = weights_section ? weights_section->size() : 0;
    for (const PlanWeight& w : m.weights)
      if (w.offset > available || w.bytes > available - w.offset)
        throw_bad_input(path + ": weight '" + w.name + "' [" + std::to_string(w.offset) + ", " +
                        std::to_string(w.offset + w.bytes) + ") is past the end of the weights section (" +
                        std::to_string(available) + " bytes)");
  }
  for (const PlanTarget& t : m.targets) {
    if (t.name == "cpu" && !t.functions.empty() && !plan.section(plan_section::kCpuObject))
      throw_bad_input(path + ": the cpu target has no '" + std::string(plan_section::kCpuObject) + "' section");
    if (t.name == "cuda") {
      for (const std::string& arch : t.cuda_archs)
        if (!plan.section(std::string(plan_section::kCudaCubinPrefix) + arch))
          throw_bad_input(path + ": the cuda target lists " + arch + " but the plan has no cubin for it");
      if (t.has_ptx && !plan.section(plan_section::kCudaPtx))
        throw_bad_input(path + ": the cuda target lists PTX but the plan has no PTX section");
    }
  }
}

}  // namespace

std::shared_ptr<const Plan> Plan::open(const std::string& path) {
  std::shared_ptr<Plan> plan(new Plan());
  plan->path_ = path;
  plan->file_ = MappedFile::open(path);
  plan->sections_ = read_section_table(*plan->file_);

  auto manifest = plan->section(plan_section::kManifest);
  if (!manifest) throw_bad_input(path + ": plan has no manifest section");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(manifest->begin(), manifest->end());
  } catch (const nlohmann::json::exception& e) {
    throw_bad_input(path + ": manifest: not valid JSON: " + e.what());
  }
  plan->manifest_ = manifest_from_json(j, path);
  if (plan->manifest_.format_version != kPlanFormatVersion)
    throw_bad_input(path + ": manifest: format_version " + std::to_string(plan->manifest_.format_version) +
                    " disagrees with the header's " + std::to_string(kPlanFormatVersion));
  check_manifest_against_sections(*plan);
  return plan;
}

std::optional<std::span<const uint8_t>> Plan::section(std::string_view name) const {
  for (const PlanSection& s : sections_)
    if (s.name == name) return file_->bytes().subspan(s.offset, s.size);
  return std::nullopt;
}

uint64_t Plan::weights_size() const {
  if (!synthetic()) {
    auto s = section(plan_section::kWeights);
    return s ? s->size() : 0;
  }
  uint64_t end = 0;
  for (const PlanWeight& w : manifest_.weights) end = std::max(end, w.offset + w.bytes);
  return end;
}

std::span<const uint8_t> Plan::weights() const {
  if (!synthetic()) {
    auto s = section(plan_section::kWeights);
    return s ? *s : std::span<const uint8_t>();
  }
  std::call_once(weights_once_, [this] { generated_weights_ = generate_synthetic_weights(manifest_, path_); });
  return generated_weights_->bytes();
}

std::span<const uint8_t> Plan::weight(size_t index) const {
  if (index >= manifest_.weights.size()) throw_internal("Plan::weight: index out of range");
  const PlanWeight& w = manifest_.weights[index];
  return weights().subspan(w.offset, w.bytes);
}

bool is_plan_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st {};
  char magic[sizeof kPlanMagic];
  bool is_plan = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
                 ::pread(fd, magic, sizeof magic, 0) == static_cast<ssize_t>(sizeof magic) &&
                 std::memcmp(magic, kPlanMagic, sizeof magic) == 0;
  ::close(fd);
  return is_plan;
}

}  // namespace aprc
