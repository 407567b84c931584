#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

#include "aprc/crc32.h"
#include "aprc/error.h"
#include "aprc/plan.h"
#include "aprc/plan_format.h"

namespace aprc {
namespace {

uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

// Every kernel a step calls is in its target's table, with the step's spec.
void complete_kernel_tables(PlanManifest& m) {
  for (PlanTarget& t : m.targets)
    for (const Function& f : t.functions)
      for (const Step& st : f.steps) {
        if (const PlanKernel* k = t.kernel(st.kernel)) {
          if (!(k->spec == st.spec))
            throw_internal("plan writer: two different kernels are named '" + st.kernel + "' in the " + t.name + " target");
        } else {
          t.kernels.push_back(PlanKernel{st.kernel, st.spec, nlohmann::json::object()});
        }
      }
}

}  // namespace

PlanWriter::PlanWriter(std::string path) : path_(std::move(path)) {
  tmp_path_ = path_ + ".tmp." + std::to_string(::getpid());
  fd_ = ::open(tmp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw_bad_input(path_ + ": cannot create: " + std::strerror(errno));
}

PlanWriter::~PlanWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!finished_) ::unlink(tmp_path_.c_str());
}

void PlanWriter::write_at(uint64_t offset, const void* data, size_t size) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (size > 0) {
    ssize_t n = ::pwrite(fd_, p, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw_bad_input(path_ + ": cannot write: " + std::strerror(n < 0 ? errno : EIO));
    p += n;
    offset += static_cast<uint64_t>(n);
    size -= static_cast<size_t>(n);
  }
}

size_t PlanWriter::add_weight(PlanWeight w, std::span<const uint8_t> bytes) {
  if (generated_) throw_internal("plan writer: stored and generated weights in one plan");
  if (finished_) throw_internal("plan writer: add_weight after finish");
  auto expected = layout_bytes(w.layout, w.dtype, w.rows(), w.cols(), w.scales);
  if (!expected || *expected != bytes.size())
    throw_internal("plan writer: weight '" + w.name + "' has " + std::to_string(bytes.size()) +
                   " bytes for its dtype, layout and shape");
  const uint64_t offset = align_up(weights_end_, kPlanWeightAlignment);
  static const uint8_t kZeros[kPlanWeightAlignment] = {};
  if (offset > weights_end_) {
    weights_crc_ = crc32_update(weights_crc_, kZeros, offset - weights_end_);
    write_at(kPlanAlignment + weights_end_, kZeros, offset - weights_end_);
  }
  write_at(kPlanAlignment + offset, bytes.data(), bytes.size());
  weights_crc_ = crc32_update(weights_crc_, bytes.data(), bytes.size());
  weights_end_ = offset + bytes.size();
  w.offset = offset;
  w.bytes = bytes.size();
  weights_.push_back(std::move(w));
  return weights_.size() - 1;
}

size_t PlanWriter::add_generated_weight(PlanWeight w) {
  if (!weights_.empty() && !generated_) throw_internal("plan writer: stored and generated weights in one plan");
  generated_ = true;
  auto expected = layout_bytes(w.layout, w.dtype, w.rows(), w.cols(), w.scales);
  if (!expected) throw_internal("plan writer: weight '" + w.name + "' is not a whole number of blocks per row");
  w.offset = align_up(weights_end_, kPlanWeightAlignment);
  w.bytes = *expected;
  weights_end_ = w.offset + w.bytes;
  weights_.push_back(std::move(w));
  return weights_.size() - 1;
}

void PlanWriter::add_section(std::string name, std::vector<uint8_t> bytes) {
  if (name.empty() || name.size() >= sizeof(PlanSectionEntry::name))
    throw_internal("plan writer: bad section name '" + name + "'");
  if (name == plan_section::kManifest || name == plan_section::kWeights)
    throw_internal("plan writer: section '" + name + "' is written by the writer itself");
  for (const auto& [n, b] : sections_)
    if (n == name) throw_internal("plan writer: section '" + name + "' added twice");
  sections_.emplace_back(std::move(name), std::move(bytes));
}

void PlanWriter::finish(PlanManifest manifest) {
  if (finished_) throw_internal("plan writer: finish called twice");
  if (generated_ != manifest.synthetic.has_value())
    throw_internal("plan writer: a synthetic plan's weights are generated, and only a synthetic plan's");
  manifest.format_version = kPlanFormatVersion;
  manifest.weights = weights_;
  complete_kernel_tables(manifest);

  std::vector<PlanSectionEntry> table;
  auto add_entry = [&](const std::string& name, uint64_t offset, uint64_t size, uint32_t crc) {
    PlanSectionEntry e{};
    std::memcpy(e.name, name.data(), name.size());
    e.offset = offset;
    e.size = size;
    e.crc32 = crc;
    table.push_back(e);
  };
  uint64_t end = kPlanAlignment;
  if (!generated_ && !weights_.empty()) {
    add_entry(std::string(plan_section::kWeights), kPlanAlignment, weights_end_, weights_crc_);
    end += weights_end_;
  }
  auto append = [&](const std::string& name, const uint8_t* data, size_t size) {
    const uint64_t offset = align_up(end, kPlanAlignment);
    write_at(offset, data, size);
    add_entry(name, offset, size, crc32(data, size));
    end = offset + size;
  };
  for (const auto& [name, bytes] : sections_) append(name, bytes.data(), bytes.size());
  std::string json;
  try {
    json = manifest_to_json(manifest).dump();
  } catch (const nlohmann::json::exception& e) {
    throw_internal(path_ + ": cannot write the manifest: " + e.what());
  }
  append(std::string(plan_section::kManifest), reinterpret_cast<const uint8_t*>(json.data()), json.size());
  if (table.size() > kPlanMaxSections) throw_internal("plan writer: too many sections");

  PlanHeader h{};
  std::memcpy(h.magic, kPlanMagic, sizeof h.magic);
  h.format_version = kPlanFormatVersion;
  h.section_count = static_cast<uint32_t>(table.size());
  h.file_size = end;
  h.header_crc32 = plan_header_crc(h, table.data());
  write_at(0, &h, sizeof h);
  write_at(sizeof h, table.data(), table.size() * sizeof(PlanSectionEntry));
  // Zero the rest of the first page, so the file never holds stale bytes from an earlier write.
  std::vector<uint8_t> pad(kPlanAlignment - sizeof h - table.size() * sizeof(PlanSectionEntry), 0);
  write_at(sizeof h + table.size() * sizeof(PlanSectionEntry), pad.data(), pad.size());
  if (::ftruncate(fd_, static_cast<off_t>(end)) != 0)
    throw_bad_input(path_ + ": cannot write: " + std::strerror(errno));
  if (::close(fd_) != 0) {
    fd_ = -1;
    throw_bad_input(path_ + ": cannot write: " + std::strerror(errno));
  }
  fd_ = -1;
  if (std::rename(tmp_path_.c_str(), path_.c_str()) != 0)
    throw_bad_input(path_ + ": cannot create: " + std::strerror(errno));
  finished_ = true;
}

}  // namespace aprc
