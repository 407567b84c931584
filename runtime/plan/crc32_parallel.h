// CRC32 of large buffers on several threads: the buffer is cut into pieces whose CRCs are computed
// at once and then joined (crc32_combine), giving exactly crc32() of the whole. A plan's weights
// section is checked this way every time it is opened.
#pragma once

#include <cstddef>
#include <cstdint>

namespace aprc {

// crc32 of A followed by B, from crc32(A), crc32(B) and B's length.
uint32_t crc32_combine(uint32_t crc_a, uint32_t crc_b, uint64_t length_b);

// crc32(data, size), on up to `threads` threads (0: one per core).
uint32_t crc32_parallel(const void* data, size_t size, int threads = 0);

}  // namespace aprc
