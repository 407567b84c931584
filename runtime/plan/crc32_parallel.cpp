#include "crc32_parallel.h"

#include <algorithm>
#include <thread>
#include <vector>

#include "aprc/thread_pool.h"
#include "aprc/crc32.h"

namespace aprc {
namespace {

// The CRC is the remainder of the message polynomial modulo P over GF(2), in the bit-reflected
// form: bit 31 of a word is the coefficient of x^0. Appending n zero bytes to A multiplies A's
// remainder by x^(8n) mod P, so crc(A || B) = crc(A) * x^(8|B|) + crc(B) (the init and final
// xor cancel out in this sum, as they are the same for both).
constexpr uint32_t kPoly = 0xEDB88320u;

// a * b mod P, both reflected.
uint32_t multiply_mod_p(uint32_t a, uint32_t b) {
  uint32_t product = 0;
  for (uint32_t bit = 1u << 31; bit != 0; bit >>= 1) {
    if (a & bit) product ^= b;
    b = (b & 1) ? (b >> 1) ^ kPoly : b >> 1;  // b *= x
  }
  return product;
}

// x^(2^k) mod P for k = 0..63, by repeated squaring of x (reflected x is 1 << 30).
struct PowersOfX {
  uint32_t pow2[64];
  PowersOfX() {
    pow2[0] = 1u << 30;
    for (int k = 1; k < 64; ++k) pow2[k] = multiply_mod_p(pow2[k - 1], pow2[k - 1]);
  }
};

// x^(8n) mod P.
uint32_t x_to_8n(uint64_t n) {
  static const PowersOfX powers;
  uint32_t result = 1u << 31;  // x^0
  int k = 3;                   // 8n = n << 3
  for (; n != 0; n >>= 1, ++k)
    if (n & 1) result = multiply_mod_p(powers.pow2[k], result);
  return result;
}

}  // namespace

uint32_t crc32_combine(uint32_t crc_a, uint32_t crc_b, uint64_t length_b) {
  return multiply_mod_p(x_to_8n(length_b), crc_a) ^ crc_b;
}

uint32_t crc32_parallel(const void* data, size_t size, int threads) {
  constexpr size_t kMinPiece = size_t{16} << 20;
  if (threads <= 0) threads = available_cores();
  const size_t pieces = std::clamp<size_t>(size / kMinPiece, 1, static_cast<size_t>(threads));
  if (pieces == 1) return crc32(data, size);
  const auto* bytes = static_cast<const uint8_t*>(data);
  const size_t piece = (size + pieces - 1) / pieces;
  std::vector<uint32_t> crcs(pieces);
  std::vector<std::thread> workers;
  for (size_t i = 1; i < pieces; ++i)
    workers.emplace_back([&, i] {
      const size_t begin = i * piece, end = std::min(size, begin + piece);
      crcs[i] = crc32(bytes + begin, end - begin);
    });
  crcs[0] = crc32(bytes, piece);
  for (auto& w : workers) w.join();
  uint32_t crc = crcs[0];
  for (size_t i = 1; i < pieces; ++i) {
    const size_t begin = i * piece, end = std::min(size, begin + piece);
    crc = crc32_combine(crc, crcs[i], end - begin);
  }
  return crc;
}

}  // namespace aprc
