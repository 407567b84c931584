// aprc CUDA device library, part 6: picking the next token where the logits are. Greedy decoding on
// the GPU needs no logits download and no host work between tokens: the next token's id goes straight
// into the ids buffer the decode step reads, and into the call's list of tokens.

#define APRC_GREEDY_BLOCKS 128  // abi.h: kGreedyBlocks

// The sampler's workspace (zeroed before a run of calls): the tokens picked so far, the blocks done
// with the current call, each block's largest logit and its index, the blocks that met a NaN in the
// current call, and 1 + the out[] index of the first token picked from logits holding a NaN (0: none;
// the host reports it, as its own sampler does). The NaN fields come last: a module from before them
// leaves them zero.
struct aprc_greedy_ws {
  int count;
  unsigned arrived;
  float best[APRC_GREEDY_BLOCKS];
  int at[APRC_GREEDY_BLOCKS];
  unsigned nan_blocks;
  int first_nan;
};

// Combines (value, index) candidates: the larger value, of equal ones the lower index; NaN never wins
// (index `vocab` with -inf stands for no candidate).
APRC_DEV void aprc_argmax_merge(float& best, int& at, float v, int a) {
  if (v > best || (v == best && a < at)) best = v, at = a;
}

// The warp's best candidate in every lane. Indices go through float shuffles: exact below 2^24 (the
// host checks the vocabulary).
APRC_DEV void aprc_argmax_warp(float& best, int& at) {
  for (int m = 16; m > 0; m >>= 1) aprc_argmax_merge(best, at, aprc_shfl_xor(best, m), (int)aprc_shfl_xor((float)at, m));
}

// Block b of the grid takes the b-th contiguous slice of logits[0, vocab) and leaves its first largest
// value (NaN never) in the workspace; the last block to finish takes the first of the blocks' maxima (a
// lower block has the lower indices), writes it to ids[0] and out[count], counts it, and moves the
// position of each of `steps` scalar slots of `table` (kScalarSlot = 2 values: T, pos) on by one, so
// that the next decode step follows with no upload from the host. All values -inf or NaN: token 0. A
// row holding a NaN still gives a token (the run goes on), and ws->first_nan records where.
APRC_DEV void aprc_greedy_sample(const float* logits, int vocab, int* ids, int* out, aprc_greedy_ws* ws, aprc_i64* table,
                                 int steps) {
  APRC_SHARED float sbest[32], snan[32];
  APRC_SHARED int sat[32];
  APRC_SHARED unsigned last;
  const int per = (vocab + gridDim.x - 1) / gridDim.x, b = blockIdx.x * per, e = aprc_min(vocab, b + per);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  float best = APRC_NEG_INF, nan = 0.f;
  int at = vocab;
  for (int i = b + threadIdx.x; i < e; i += blockDim.x) {
    const float v = logits[i];
    if (v != v) nan = 1.f;
    aprc_argmax_merge(best, at, v, i);
  }
  aprc_argmax_warp(best, at);
  nan = aprc_warp_max(nan);
  if (lane == 0) sbest[warp] = best, sat[warp] = at, snan[warp] = nan;
  aprc_sync();
  if (warp == 0) {
    best = lane < warps ? sbest[lane] : APRC_NEG_INF;
    at = lane < warps ? sat[lane] : vocab;
    nan = aprc_warp_max(lane < warps ? snan[lane] : 0.f);
    aprc_argmax_warp(best, at);
    if (lane == 0) {
      if (nan > 0.f) aprc_atomic_add(&ws->nan_blocks, 1u);
      ws->best[blockIdx.x] = best;
      ws->at[blockIdx.x] = at;
      aprc_threadfence();
      last = aprc_atomic_add(&ws->arrived, 1u) == gridDim.x - 1;
    }
  }
  aprc_sync();
  if (!last) return;
  aprc_threadfence();
  if (warp == 0) {
    best = APRC_NEG_INF;
    at = vocab;
    for (int k = lane; k < (int)gridDim.x; k += 32) aprc_argmax_merge(best, at, aprc_ldcg(&ws->best[k]), aprc_ldcg(&ws->at[k]));
    aprc_argmax_warp(best, at);
    if (lane == 0) {
      const int id = at == vocab ? 0 : at;
      ids[0] = id;
      out[ws->count] = id;
      if (aprc_ldcg(&ws->nan_blocks) != 0u && ws->first_nan == 0) ws->first_nan = ws->count + 1;
      ws->count += 1;
      ws->arrived = 0;
      ws->nan_blocks = 0;
    }
  }
  for (int i = threadIdx.x; i < steps; i += blockDim.x) table[2 * i + 1] += 1;
}
