// Lets a parser that walks a large part of a mapped file (a GGUF vocabulary) drop the pages it has
// finished with, so that resident memory stays at a few MB however large the metadata.
#pragma once

#include <cstdint>

#include "aprc/mapped_file.h"

namespace aprc {

// Drops the whole pages inside [begin, end) from this process's view of `file` (read-only, so they
// are re-read from the page cache if touched again). Does nothing for ranges outside the mapping.
void release_pages(const MappedFile& file, const uint8_t* begin, const uint8_t* end);

}  // namespace aprc
