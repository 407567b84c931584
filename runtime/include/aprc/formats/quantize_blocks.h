// The block quantizers behind quantize_row (formats.h), one block at a time. Each writes a block
// that its dequantizer in blocks.h reads back.
//
// The K-quants (Q4_K, Q5_K, Q6_K) search their sub-block scales: per sub-block, several trial steps
// around the min/max one, each followed by the weighted least-squares fit of the levels it gives,
// keeping the fit of least weighted squared error (the idea of llama.cpp's make_qkx2_quants and
// make_qx_quants); then the 6- or 8-bit codes of those scales against the super-block's f16 scale,
// each tried one code either side. The weights favour large weights (|x| plus the sub-block's rms
// for Q4_K/Q5_K, x^2 plus the super-block's mean square for Q6_K), whose errors move a model's
// output most. A super-block keeps the plain min/max choice (KQuantSearch::MinMax: the range mapped
// onto the levels, scales rounded up so nothing is clamped) where that has the smaller plain
// squared error, so the search is never worse than min/max on any block.
#pragma once

#include <cstdint>

#include "aprc/formats/blocks.h"

namespace aprc {

enum class KQuantSearch {
  MinMax,           // the range of each sub-block onto the levels (aprc's first quantizer)
  ErrorMinimizing,  // the search above (the default)
};

void quantize_block_q8_0(const float* x, aprc_block_q8_0* b);
void quantize_block_q5_0(const float* x, aprc_block_q5_0* b);
void quantize_block_aprq4(const float* x, aprc_block_aprq4* b);
void quantize_block_q4_k(const float* x, aprc_block_q4_k* b, KQuantSearch search = KQuantSearch::ErrorMinimizing);
void quantize_block_q5_k(const float* x, aprc_block_q5_k* b, KQuantSearch search = KQuantSearch::ErrorMinimizing);
void quantize_block_q6_k(const float* x, aprc_block_q6_k* b, KQuantSearch search = KQuantSearch::ErrorMinimizing);

// v rounded to the nearest integer, clamped to [lo, hi]; NaN gives lo.
int round_clamp(float v, int lo, int hi);

}  // namespace aprc
