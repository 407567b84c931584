// The CUDA weight layouts (documented at their enumerators in formats/layouts.h): each block is split
// into planes, and every plane holds its part of every block in (row, block) order. A layout is
// defined by how one row_major block scatters into its planes; gathering is the exact inverse, so a
// repacked tensor dequantizes to bit-identical values through the row_major block code.
#include "layouts_cuda.h"

#include <array>
#include <cstring>

#include "aprc/error.h"
#include "aprc/formats/blocks.h"

namespace aprc {
namespace {

constexpr int kMaxPlanes = 4;

struct CudaLayoutDef {
  WeightLayout layout;
  DType dtype;
  int planes;
  std::array<int, kMaxPlanes> plane_bytes;  // bytes each block puts in each plane
  // blk (row_major block bytes) -> one pointer per plane, each receiving plane_bytes[p] bytes
  void (*scatter)(const uint8_t* blk, uint8_t* const* dst);
  // the inverse
  void (*gather)(const uint8_t* const* src, uint8_t* blk);
};

uint32_t load_u32(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}
void store_u32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = uint8_t(v >> (8 * i));
}

// Group order (layouts.h): element j of group g of a 32-weight chunk is weight 8 * (g / 2) + 2j + g % 2.
constexpr int group_weight(int g, int j) { return 8 * (g / 2) + 2 * j + (g % 2); }

// 5th bits of a 32-weight chunk, bit-sliced: bit 8j + g = code bit 4 of group g, element j.
uint32_t slice_bit4(const uint8_t* q) {
  uint32_t v = 0;
  for (int g = 0; g < 8; ++g)
    for (int j = 0; j < 4; ++j) v |= uint32_t((q[group_weight(g, j)] >> 4) & 1) << (8 * j + g);
  return v;
}
void unslice_bit4(uint32_t v, uint8_t* q) {
  for (int g = 0; g < 8; ++g)
    for (int j = 0; j < 4; ++j) q[group_weight(g, j)] |= uint8_t(((v >> (8 * j + g)) & 1) << 4);
}

// Packs n 4-bit values (n even) in natural order: value 2i in the low nibble of byte i.
void pack_nibbles(const uint8_t* q, int n, uint8_t* out) {
  for (int i = 0; i < n / 2; ++i) out[i] = uint8_t((q[2 * i] & 15) | (q[2 * i + 1] & 15) << 4);
}
void unpack_nibbles(const uint8_t* in, int n, uint8_t* q) {
  for (int i = 0; i < n / 2; ++i) {
    q[2 * i] = in[i] & 15;
    q[2 * i + 1] = in[i] >> 4;
  }
}

// --- Q4_K / Q5_K: the ggml quant order, chunk c of 64 weights = low nibbles of qs[32c..32c+32] then
// the high nibbles; weight 64c + 32h + l has its 5th bit (Q5_K) at bit 2c + h of qh[l].
void k4_quants_from_ggml(const uint8_t* qs, uint8_t* q /*256*/) {
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l) {
      q[64 * c + l] = qs[32 * c + l] & 15;
      q[64 * c + 32 + l] = qs[32 * c + l] >> 4;
    }
}
void k4_quants_to_ggml(const uint8_t* q, uint8_t* qs) {
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l) qs[32 * c + l] = uint8_t((q[64 * c + l] & 15) | (q[64 * c + 32 + l] & 15) << 4);
}

void q4k_scatter(const uint8_t* blk, uint8_t* const* dst) {
  const auto* b = reinterpret_cast<const aprc_block_q4_k*>(blk);
  uint8_t q[APRC_QK_K];
  k4_quants_from_ggml(b->qs, q);
  pack_nibbles(q, APRC_QK_K, dst[0]);
  std::memcpy(dst[1], blk, 16);
}
void q4k_gather(const uint8_t* const* src, uint8_t* blk) {
  auto* b = reinterpret_cast<aprc_block_q4_k*>(blk);
  uint8_t q[APRC_QK_K];
  unpack_nibbles(src[0], APRC_QK_K, q);
  std::memcpy(blk, src[1], 16);
  k4_quants_to_ggml(q, b->qs);
}

void q5k_scatter(const uint8_t* blk, uint8_t* const* dst) {
  const auto* b = reinterpret_cast<const aprc_block_q5_k*>(blk);
  uint8_t q[APRC_QK_K];
  k4_quants_from_ggml(b->qs, q);
  pack_nibbles(q, APRC_QK_K, dst[0]);
  for (int j = 0; j < 8; ++j) {  // sub-block j = 2c + h: 5th bits at bit j of qh[l]
    uint8_t code[32];
    for (int i = 0; i < 32; ++i) code[i] = uint8_t(((b->qh[i] >> j) & 1) << 4);
    store_u32(dst[1] + 4 * j, slice_bit4(code));
  }
  std::memcpy(dst[2], blk, 16);
}
void q5k_gather(const uint8_t* const* src, uint8_t* blk) {
  auto* b = reinterpret_cast<aprc_block_q5_k*>(blk);
  uint8_t q[APRC_QK_K];
  unpack_nibbles(src[0], APRC_QK_K, q);
  std::memcpy(blk, src[2], 16);
  k4_quants_to_ggml(q, b->qs);
  std::memset(b->qh, 0, sizeof b->qh);
  for (int j = 0; j < 8; ++j) {
    uint8_t code[32] = {};
    unslice_bit4(load_u32(src[1] + 4 * j), code);
    for (int i = 0; i < 32; ++i) b->qh[i] |= uint8_t((code[i] >> 4) << j);
  }
}

// --- Q6_K: 6-bit q of weight 128h + 32s + l from ql/qh as in blocks.h.
void q6k_scatter(const uint8_t* blk, uint8_t* const* dst) {
  const auto* b = reinterpret_cast<const aprc_block_q6_k*>(blk);
  uint8_t q[APRC_QK_K];
  for (int h = 0; h < 2; ++h)
    for (int l = 0; l < 32; ++l) {
      const uint8_t* ql = b->ql + 64 * h;
      const uint8_t qh = b->qh[32 * h + l];
      q[128 * h + l] = uint8_t((ql[l] & 15) | ((qh >> 0) & 3) << 4);
      q[128 * h + l + 32] = uint8_t((ql[l + 32] & 15) | ((qh >> 2) & 3) << 4);
      q[128 * h + l + 64] = uint8_t((ql[l] >> 4) | ((qh >> 4) & 3) << 4);
      q[128 * h + l + 96] = uint8_t((ql[l + 32] >> 4) | ((qh >> 6) & 3) << 4);
    }
  pack_nibbles(q, APRC_QK_K, dst[0]);
  for (int c = 0; c < 8; ++c)  // u32 a holds groups 4a..4a+3: bits 8j + 2k = group 4a + k, element j
    for (int a = 0; a < 2; ++a) {
      uint32_t bits = 0;
      for (int k = 0; k < 4; ++k)
        for (int j = 0; j < 4; ++j) bits |= uint32_t(q[32 * c + group_weight(4 * a + k, j)] >> 4) << (8 * j + 2 * k);
      store_u32(dst[1] + 8 * c + 4 * a, bits);
    }
  std::memcpy(dst[2], b->scales, 16);
  std::memcpy(dst[3], &b->d, 2);
}
void q6k_gather(const uint8_t* const* src, uint8_t* blk) {
  auto* b = reinterpret_cast<aprc_block_q6_k*>(blk);
  uint8_t q[APRC_QK_K];
  unpack_nibbles(src[0], APRC_QK_K, q);
  for (int c = 0; c < 8; ++c)
    for (int a = 0; a < 2; ++a) {
      const uint32_t bits = load_u32(src[1] + 8 * c + 4 * a);
      for (int k = 0; k < 4; ++k)
        for (int j = 0; j < 4; ++j) q[32 * c + group_weight(4 * a + k, j)] |= uint8_t(((bits >> (8 * j + 2 * k)) & 3) << 4);
    }
  for (int h = 0; h < 2; ++h)
    for (int l = 0; l < 32; ++l) {
      const uint8_t* w = q + 128 * h;
      b->ql[64 * h + l] = uint8_t((w[l] & 15) | (w[l + 64] & 15) << 4);
      b->ql[64 * h + l + 32] = uint8_t((w[l + 32] & 15) | (w[l + 96] & 15) << 4);
      b->qh[32 * h + l] = uint8_t((w[l] >> 4) | (w[l + 32] >> 4) << 2 | (w[l + 64] >> 4) << 4 | (w[l + 96] >> 4) << 6);
    }
  std::memcpy(b->scales, src[2], 16);
  std::memcpy(&b->d, src[3], 2);
}

// --- Q8_0
void q80_scatter(const uint8_t* blk, uint8_t* const* dst) {
  const auto* b = reinterpret_cast<const aprc_block_q8_0*>(blk);
  for (int g = 0; g < 8; ++g)
    for (int j = 0; j < 4; ++j) dst[0][4 * g + j] = static_cast<uint8_t>(b->qs[group_weight(g, j)]);
  std::memcpy(dst[1], &b->d, 2);
}
void q80_gather(const uint8_t* const* src, uint8_t* blk) {
  auto* b = reinterpret_cast<aprc_block_q8_0*>(blk);
  for (int g = 0; g < 8; ++g)
    for (int j = 0; j < 4; ++j) b->qs[group_weight(g, j)] = static_cast<int8_t>(src[0][4 * g + j]);
  std::memcpy(&b->d, src[1], 2);
}

// --- Q5_0: ggml puts weight j (j < 16) in the low nibble of qs[j] and j + 16 in its high nibble.
void q50_scatter(const uint8_t* blk, uint8_t* const* dst) {
  const auto* b = reinterpret_cast<const aprc_block_q5_0*>(blk);
  uint8_t q[32];
  for (int j = 0; j < 16; ++j) {
    q[j] = b->qs[j] & 15;
    q[j + 16] = b->qs[j] >> 4;
  }
  const uint32_t qh = load_u32(b->qh);  // bit i: weight i's 5th bit
  for (int i = 0; i < 32; ++i) q[i] = uint8_t(q[i] | ((qh >> i) & 1) << 4);
  pack_nibbles(q, 32, dst[0]);
  store_u32(dst[1], slice_bit4(q));
  std::memcpy(dst[2], &b->d, 2);
}
void q50_gather(const uint8_t* const* src, uint8_t* blk) {
  auto* b = reinterpret_cast<aprc_block_q5_0*>(blk);
  uint8_t q[32];
  unpack_nibbles(src[0], 32, q);
  unslice_bit4(load_u32(src[1]), q);
  uint32_t qh = 0;
  for (int i = 0; i < 32; ++i) qh |= uint32_t(q[i] >> 4) << i;
  for (int j = 0; j < 16; ++j) b->qs[j] = uint8_t((q[j] & 15) | (q[j + 16] & 15) << 4);
  store_u32(b->qh, qh);
  std::memcpy(&b->d, src[2], 2);
}

const CudaLayoutDef kDefs[] = {
    {WeightLayout::CudaQ4K, DType::Q4_K, 2, {128, 16, 0, 0}, q4k_scatter, q4k_gather},
    {WeightLayout::CudaQ5K, DType::Q5_K, 3, {128, 32, 16, 0}, q5k_scatter, q5k_gather},
    {WeightLayout::CudaQ6K, DType::Q6_K, 4, {128, 64, 16, 2}, q6k_scatter, q6k_gather},
    {WeightLayout::CudaQ8_0, DType::Q8_0, 2, {32, 2, 0, 0}, q80_scatter, q80_gather},
    {WeightLayout::CudaQ5_0, DType::Q5_0, 3, {16, 4, 2, 0}, q50_scatter, q50_gather},
};

const CudaLayoutDef& def_of(WeightLayout layout) {
  for (const auto& d : kDefs)
    if (d.layout == layout) return d;
  throw_internal("not a cuda layout");
}

struct Geometry {
  int64_t rows, blocks_per_row, total_blocks;
  int block_bytes;
};

Geometry geometry(const CudaLayoutDef& d, const TensorView& view, const char* what) {
  if (view.dtype != d.dtype)
    throw_internal(std::string(what) + ": layout " + layout_name(d.layout) + " holds " + dtype_name(d.dtype) +
                   " weights, not " + dtype_name(view.dtype));
  const FormatInfo& f = format_info(d.dtype);
  const int64_t cols = view.cols();
  if (cols % f.block_weights != 0)
    throw_internal(std::string(what) + ": row length " + std::to_string(cols) + " is not a whole number of " +
                   f.name + " blocks");
  Geometry g{view.rows(), cols / f.block_weights, 0, f.block_bytes};
  g.total_blocks = g.rows * g.blocks_per_row;
  if (view.bytes.size() < static_cast<uint64_t>(g.total_blocks) * g.block_bytes)
    throw_internal(std::string(what) + ": tensor view is shorter than its shape");
  return g;
}

}  // namespace

bool is_cuda_layout(WeightLayout layout) {
  for (const auto& d : kDefs)
    if (d.layout == layout) return true;
  return false;
}

DType cuda_layout_dtype(WeightLayout layout) { return def_of(layout).dtype; }

uint64_t cuda_layout_plane_offset(WeightLayout layout, int64_t total_blocks, int plane) {
  const CudaLayoutDef& d = def_of(layout);
  uint64_t off = 0;
  for (int p = 0; p < plane; ++p) off += static_cast<uint64_t>(total_blocks) * d.plane_bytes[p];
  return off;
}

std::vector<std::pair<uint64_t, uint64_t>> cuda_layout_planes(WeightLayout layout, int64_t total_blocks) {
  const CudaLayoutDef& d = def_of(layout);
  std::vector<std::pair<uint64_t, uint64_t>> planes;
  for (int p = 0; p < d.planes; ++p)
    planes.emplace_back(cuda_layout_plane_offset(layout, total_blocks, p), static_cast<uint64_t>(total_blocks) * d.plane_bytes[p]);
  return planes;
}

std::vector<uint8_t> cuda_repack(WeightLayout layout, const TensorView& row_major) {
  const CudaLayoutDef& d = def_of(layout);
  const Geometry g = geometry(d, row_major, "repack");
  std::vector<uint8_t> out(static_cast<size_t>(g.total_blocks) * g.block_bytes);
  uint8_t* planes[kMaxPlanes] = {};
  for (int p = 0; p < d.planes; ++p) planes[p] = out.data() + cuda_layout_plane_offset(layout, g.total_blocks, p);
  for (int64_t b = 0; b < g.total_blocks; ++b) {
    uint8_t* dst[kMaxPlanes];
    for (int p = 0; p < d.planes; ++p) dst[p] = planes[p] + b * d.plane_bytes[p];
    d.scatter(row_major.bytes.data() + b * g.block_bytes, dst);
  }
  return out;
}

namespace {

// Blocks [b0, b0 + n) of `view` (in d's layout) gathered back into row_major blocks at `out`.
void gather_blocks(const CudaLayoutDef& d, const Geometry& g, const TensorView& view, int64_t b0, int64_t n,
                   uint8_t* out) {
  const uint8_t* planes[kMaxPlanes] = {};
  for (int p = 0; p < d.planes; ++p) planes[p] = view.bytes.data() + cuda_layout_plane_offset(d.layout, g.total_blocks, p);
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* src[kMaxPlanes];
    for (int p = 0; p < d.planes; ++p) src[p] = planes[p] + (b0 + i) * d.plane_bytes[p];
    d.gather(src, out + i * g.block_bytes);
  }
}

}  // namespace

std::vector<uint8_t> cuda_unpack(WeightLayout layout, const TensorView& packed) {
  const CudaLayoutDef& d = def_of(layout);
  const Geometry g = geometry(d, packed, "unpack");
  std::vector<uint8_t> out(static_cast<size_t>(g.total_blocks) * g.block_bytes);
  gather_blocks(d, g, packed, 0, g.total_blocks, out.data());
  return out;
}

void cuda_dequantize_rows(WeightLayout layout, const TensorView& view, int64_t row_begin, int64_t row_end,
                          float* out) {
  const CudaLayoutDef& d = def_of(layout);
  const Geometry g = geometry(d, view, "dequantize_rows_in_layout");
  if (row_begin < 0 || row_end > g.rows || row_begin > row_end)
    throw_internal("dequantize_rows_in_layout: rows out of range");
  // Gather the rows back into row_major blocks, then use the one block decoder.
  const int64_t nblocks = (row_end - row_begin) * g.blocks_per_row;
  std::vector<uint8_t> blocks(static_cast<size_t>(nblocks) * g.block_bytes);
  gather_blocks(d, g, view, row_begin * g.blocks_per_row, nblocks, blocks.data());
  TensorView rows_view{d.dtype, {row_end - row_begin, view.cols()}, blocks, view.scales};
  dequantize_rows(rows_view, 0, row_end - row_begin, out);
}

}  // namespace aprc
