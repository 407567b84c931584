#include "page_release.h"

#include <sys/mman.h>
#include <unistd.h>

namespace aprc {

void release_pages(const MappedFile& file, const uint8_t* begin, const uint8_t* end) {
  const uint8_t* lo = file.data();
  const uint8_t* hi = lo + file.size();
  if (begin < lo || end > hi || begin >= end) return;
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t first = (reinterpret_cast<uintptr_t>(begin) + page - 1) / page * page;
  const uintptr_t last = reinterpret_cast<uintptr_t>(end) / page * page;
  if (first < last) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

}  // namespace aprc
