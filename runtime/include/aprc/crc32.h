// CRC-32 (IEEE 802.3, polynomial 0xEDB88320, init and final xor 0xFFFFFFFF), as APR v2 and plans use.
#pragma once

#include <cstddef>
#include <cstdint>

namespace aprc {

// crc32(data) == crc32_update(0, data); feeding pieces in order gives the same result.
uint32_t crc32(const void* data, size_t size);
uint32_t crc32_update(uint32_t crc, const void* data, size_t size);

}  // namespace aprc
