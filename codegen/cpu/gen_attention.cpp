// RoPE, the KV-cache append (optionally with RoPE on k) and causal grouped-query attention over the
// f32 KV cache [max_seq, kv_heads, head_dim] (kernel_spec.h).
#include <cmath>

#include "aprc/error.h"
#include "kernels.h"

namespace aprc::cpu {

using mlir::arith::CmpIPredicate;

namespace {

// Rotate-half (NeoX) RoPE of `heads` heads of one token, in place: x[base + h*D + i] and
// x[base + h*D + D/2 + i] rotate by the angle p * theta^(-2i/D). The angles and their sine and
// cosine are computed in f64 once per token, 8 frequencies at a time, then applied to every head.
void rope_token(KB& k, Value x, Value base, Value p, int64_t heads, int64_t D, double theta) {
  const int64_t half = D / 2;
  Value pf = k.splat(k.sitofp(k.from_index(p, k.i64), k.f64), 8);
  for (int64_t i0 = 0; i0 < half; i0 += 8) {
    const int64_t n = std::min<int64_t>(8, half - i0);
    llvm::SmallVector<double> freq(8, 0.0);
    for (int64_t i = 0; i < n; ++i) freq[i] = std::pow(theta, -2.0 * double(i0 + i) / double(D));
    auto t = k.vec(8, k.f64);
    Value f = k.b.create<mlir::arith::ConstantOp>(t, mlir::DenseElementsAttr::get(t, llvm::ArrayRef<double>(freq)));
    auto [s64, c64] = k.sin_cos(k.mul(pf, f));
    Value s = k.truncf(s64, k.f32), c = k.truncf(c64, k.f32);
    Value mask = n < 8 ? k.lane_mask(k.ci(0), k.ci(n), 8) : Value();
    Value zero = k.vconst_f(0, 8);
    k.for_(k.ci(0), k.ci(heads), k.ci(1), [&](Value h) {
      Value a = k.add(base, k.add(k.mul(h, k.ci(D)), k.ci(i0)));
      Value b = k.add(a, k.ci(half));
      Value x1 = mask ? k.vload_masked(x, a, mask, zero) : k.vload(x, a, 8);
      Value x2 = mask ? k.vload_masked(x, b, mask, zero) : k.vload(x, b, 8);
      Value o1 = k.sub(k.mul(x1, c), k.mul(x2, s));
      Value o2 = k.fma(x1, s, k.mul(x2, c));
      if (mask) {
        k.vstore_masked(o1, x, a, mask);
        k.vstore_masked(o2, x, b, mask);
      } else {
        k.vstore(o1, x, a);
        k.vstore(o2, x, b);
      }
    });
  }
}

void copy_floats(KB& k, Value src, Value src_at, Value dst, Value dst_at, int64_t n) {
  for_lanes16(k, k.ci(0), k.ci(n), [&](Value i, Value mask) {
    if (mask) {
      Value v = k.vload_masked(src, k.add(src_at, i), mask, k.vconst_f(0, 16));
      k.vstore_masked(v, dst, k.add(dst_at, i), mask);
    } else {
      k.vstore(k.vload(src, k.add(src_at, i), 16), dst, k.add(dst_at, i));
    }
  });
}

void gen_rope(KB& k, KernelFn& fn, const KernelSpec& s) {
  Value x = fn.view(0, k.f32);
  Value pos = fn.pos();
  k.for_(fn.begin(), fn.end(), k.ci(1), [&](Value t) {
    rope_token(k, x, k.mul(t, k.ci(s.heads * s.head_dim)), k.add(pos, t), s.heads, s.head_dim, s.theta);
  });
}

void gen_kv_append(KB& k, KernelFn& fn, const KernelSpec& s) {
  Value kk = fn.view(0, k.f32), v = fn.view(1, k.f32), ck = fn.view(2, k.f32), cv = fn.view(3, k.f32);
  Value pos = fn.pos();
  const int64_t width = s.kv_heads * s.head_dim;
  k.for_(fn.begin(), fn.end(), k.ci(1), [&](Value t) {
    Value p = k.add(pos, t);
    Value row = k.mul(t, k.ci(width));
    if (s.rope) rope_token(k, kk, row, p, s.kv_heads, s.head_dim, s.theta);
    Value at = k.mul(p, k.ci(width));
    copy_floats(k, kk, row, ck, at, width);
    copy_floats(k, v, row, cv, at, width);
  });
}

// Per query head h and token t: online softmax over the keys [0, pos + t] in blocks of 16 keys
// (running max m, running sum l, output accumulator rescaled when m grows), so no score buffer is
// needed whatever the context length.
void gen_attention_kernel(KB& k, KernelFn& fn, const KernelSpec& s) {
  const int64_t H = s.heads, KVH = s.kv_heads, D = s.head_dim;
  if (KVH <= 0 || H % KVH != 0) throw_internal("attention: heads must be a multiple of kv_heads");
  Value q = fn.view(0, k.f32), ck = fn.view(1, k.f32), cv = fn.view(2, k.f32), out = fn.view(3, k.f32);
  Value T = fn.T(), pos = fn.pos();
  const int64_t nc = (D + 15) / 16;  // 16-lane chunks of a head
  const int64_t tail = D % 16;
  Value tail_mask = tail ? k.lane_mask(k.ci(0), k.ci(tail), 16) : Value();
  Value zero = k.vconst_f(0, 16);
  auto chunk_mask = [&](int64_t c) { return (tail && c == nc - 1) ? tail_mask : Value(); };
  auto ld = [&](Value mem, Value at, int64_t c) {
    Value m = chunk_mask(c);
    return m ? k.vload_masked(mem, k.add(at, k.ci(16 * c)), m, zero) : k.vload(mem, k.add(at, k.ci(16 * c)), 16);
  };
  Value scale = k.cf(s.scale);
  Value neg_inf = k.cf(-INFINITY);

  k.for_(fn.begin(), fn.end(), k.ci(1), [&](Value h) {
    Value g = k.b.create<mlir::arith::DivUIOp>(h, k.ci(H / KVH));
    k.for_(k.ci(0), T, k.ci(1), [&](Value t) {
      Value qa = k.add(k.mul(t, k.ci(H * D)), k.mul(h, k.ci(D)));
      Values qv;
      for (int64_t c = 0; c < nc; ++c) qv.push_back(k.mul(ld(q, qa, c), k.splat(scale, 16)));
      Value n = k.add(k.add(pos, t), k.ci(1));  // keys 0 .. pos + t
      Values init{neg_inf, k.cf(0)};
      for (int64_t c = 0; c < nc; ++c) init.push_back(zero);
      Values res = k.for_(k.ci(0), n, k.ci(16), init, [&](Value j0, mlir::ValueRange st) -> Values {
        Value m = st[0], l = st[1];
        auto key_at = [&](Value cache, Value jj) {
          Value j = k.min(k.add(j0, jj), k.sub(n, k.ci(1)));  // clamped: masked keys read a valid row
          return k.mul(k.add(k.mul(j, k.ci(KVH)), g), k.ci(D));
        };
        // scores of the block's 16 keys
        Value sc = k.for_(k.ci(0), k.ci(16), k.ci(1), {k.vconst_f(-INFINITY, 16)}, [&](Value jj, mlir::ValueRange a) -> Values {
          Value at = key_at(ck, jj);
          Value acc = k.mul(qv[0], ld(ck, at, 0));
          for (int64_t c = 1; c < nc; ++c) acc = k.fma(qv[c], ld(ck, at, c), acc);
          Value dot = k.reduce_add(acc);
          Value valid = k.cmp(CmpIPredicate::slt, k.add(j0, jj), n);
          return {k.insert(k.select(valid, dot, neg_inf), a[0], jj)};
        })[0];
        Value m_new = k.max(m, k.reduce_max(sc));
        Value corr = k.exp(k.sub(m, m_new));
        Value p = k.exp(k.sub(sc, k.splat(m_new, 16)));
        Value l_new = k.fma(l, corr, k.reduce_add(p));
        Values acc0;
        for (int64_t c = 0; c < nc; ++c) acc0.push_back(k.mul(st[2 + c], k.splat(corr, 16)));
        Values acc = k.for_(k.ci(0), k.ci(16), k.ci(1), acc0, [&](Value jj, mlir::ValueRange a) -> Values {
          Value at = key_at(cv, jj);
          Value pj = k.splat(k.extract(p, jj), 16);
          Values o;
          for (int64_t c = 0; c < nc; ++c) o.push_back(k.fma(pj, ld(cv, at, c), a[c]));
          return o;
        });
        Values next{m_new, l_new};
        next.append(acc.begin(), acc.end());
        return next;
      });
      Value inv_l = k.splat(k.div(k.cf(1.0), res[1]), 16);
      for (int64_t c = 0; c < nc; ++c) {
        Value o = k.mul(res[2 + c], inv_l);
        Value at = k.add(qa, k.ci(16 * c));
        if (Value msk = chunk_mask(c)) k.vstore_masked(o, out, at, msk);
        else k.vstore(o, out, at);
      }
    });
  });
}

}  // namespace

void gen_attention(KB& k, mlir::ModuleOp module, const KernelSpec& s) {
  if (s.head_dim <= 0 || s.head_dim % 2 != 0) throw_internal("rope/attention: head_dim must be even");
  if ((s.kind == KernelKind::KvAppend || s.kind == KernelKind::Attention) && s.cache_dtype != DType::F32)
    throw_internal(std::string("cpu codegen: the KV cache must be f32, not ") + dtype_name(s.cache_dtype));
  KernelFn fn(k, module, s.name());
  switch (s.kind) {
    case KernelKind::Rope:
      gen_rope(k, fn, s);
      break;
    case KernelKind::KvAppend:
      gen_kv_append(k, fn, s);
      break;
    case KernelKind::Attention:
      gen_attention_kernel(k, fn, s);
      break;
    default:
      throw_internal("gen_attention: not an attention kernel");
  }
  fn.finish();
}

}  // namespace aprc::cpu
