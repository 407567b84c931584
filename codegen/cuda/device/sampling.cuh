// aprc CUDA device library, part 6: picking the next token where the logits are. Greedy decoding on
// the GPU needs no logits download and no host work between tokens: the next token's id goes straight
// into the ids buffer the decode step reads, and into the call's list of tokens.

// ids[0] = out[*count] = the index of the largest of logits[0, vocab) (then *count += 1): the first of equal ones, NaN never
// (all NaN or -inf: 0), as std::max_element over the row picks. One block; every thread scans a
// strided part of the row in order, then the block reduces (value, index) pairs.
APRC_DEV void aprc_greedy_next(const float* logits, int vocab, int* ids, int* out, int* count, float* sbest, int* sat) {
  float best = aprc_as_float(0xff800000u);  // -inf
  int at = vocab;  // none yet; indices go through float shuffles, exact below 2^24 (the host checks)
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
    const float v = logits[i];
    if (v > best) best = v, at = i;  // strict: a thread keeps its first maximum
  }
  for (int m = 16; m > 0; m >>= 1) {
    const float ob = aprc_shfl_xor(best, m);
    const int oa = (int)aprc_shfl_xor((float)at, m);
    if (ob > best || (ob == best && oa < at)) best = ob, at = oa;
  }
  const int warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  if ((threadIdx.x & 31) == 0) sbest[warp] = best, sat[warp] = at;
  aprc_sync();
  if (threadIdx.x == 0) {
    for (int w = 1; w < warps; ++w)
      if (sbest[w] > best || (sbest[w] == best && sat[w] < at)) best = sbest[w], at = sat[w];
    const int id = at == vocab ? 0 : at;
    ids[0] = id;
    out[*count] = id;
    *count += 1;
  }
}

// The next call's position in each of `steps` scalar slots (kScalarSlot = 2 values: T, pos), so that
// decode steps follow one another with no upload from the host. Runs after aprc_greedy_next's reads
// (the slots are not read by it); the next decode step starts only when this kernel has finished.
APRC_DEV void aprc_next_position(aprc_i64* table, int steps) {
  for (int i = threadIdx.x; i < steps; i += blockDim.x) table[2 * i + 1] += 1;
}
