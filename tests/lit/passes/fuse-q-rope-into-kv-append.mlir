// aprc-fuse-q-rope-into-kv-append: the rope of q that an attention on a cache reads, and the
// rope_kv_append on that cache at the same position and theta -> one rope_qk_kv_append at the
// earlier of the two; its results (rotated q, rotated k) keep the names of the rope and of the
// rope_kv_append, and its location names every op it computes.
// RUN: aprc-opt %s --aprc-fuse-q-rope-into-kv-append --mlir-print-debuginfo | FileCheck %s

aprc.kv_cache @kv {num_kv_heads = 2, head_dim = 64, max_seq = 128}

// CHECK-LABEL: func.func @layer
// CHECK-SAME: (%[[Q:[^:]*]]: tensor<?x384xf32>{{.*}}, %[[K:[^:]*]]: tensor<?x128xf32>{{.*}}, %[[V:[^:]*]]: tensor<?x128xf32>{{.*}}, %[[POS:[^:]*]]: index
// CHECK-NOT: aprc.rope %
// CHECK: %[[FQ:[^,]*]], %[[FK:[^ ]*]] = aprc.rope_qk_kv_append %[[Q]], %[[K]], %[[V]], @kv[%[[POS]]] {result_names = ["layers.0.attn.q_rope", "layers.0.attn.k_rope"], theta = 1.000000e+06 : f64} : tensor<?x384xf32>, tensor<?x128xf32>, tensor<?x128xf32> loc(#[[LOC:.*]])
// CHECK-NOT: aprc.rope_kv_append
// CHECK: %[[A:.*]] = aprc.attention %[[FQ]], @kv[%[[POS]]]
// CHECK: return %[[A]], %[[FK]]
func.func @layer(%q: tensor<?x384xf32>, %k: tensor<?x128xf32>, %v: tensor<?x128xf32>, %pos: index) -> (tensor<?x384xf32>, tensor<?x128xf32>) {
  %qr = aprc.rope %q, %pos {theta = 1.0e6 : f64, head_dim = 64} : tensor<?x384xf32> loc("layers.0.attn.q_rope")
  %kr = aprc.rope_kv_append %k, %v, @kv[%pos] {theta = 1.0e6 : f64, result_names = ["layers.0.attn.k_rope"]} : tensor<?x128xf32>, tensor<?x128xf32> loc(fused["layers.0.attn.k_rope", "layers.0.attn.kv_append"])
  %a = aprc.attention %qr, @kv[%pos] {scale = 0.125 : f64} : tensor<?x384xf32> loc("layers.0.attn.attention")
  return %a, %kr : tensor<?x384xf32>, tensor<?x128xf32>
}

// The append before the rope of q: the fused op takes the append's place (q is computed before it).
// CHECK-LABEL: func.func @append_first
// CHECK-NEXT: %[[FQ:[^,]*]], %{{.*}} = aprc.rope_qk_kv_append
// CHECK-SAME: result_names = ["q_rope", "k_rope"]
// CHECK-NEXT: aprc.attention %[[FQ]],
func.func @append_first(%q: tensor<?x384xf32>, %k: tensor<?x128xf32>, %v: tensor<?x128xf32>, %pos: index) -> tensor<?x384xf32> {
  %kr = aprc.rope_kv_append %k, %v, @kv[%pos] {theta = 1.0e6 : f64, result_names = ["k_rope"]} : tensor<?x128xf32>, tensor<?x128xf32>
  %qr = aprc.rope %q, %pos {theta = 1.0e6 : f64, head_dim = 64} : tensor<?x384xf32> loc("q_rope")
  %a = aprc.attention %qr, @kv[%pos] {scale = 0.125 : f64} : tensor<?x384xf32>
  return %a : tensor<?x384xf32>
}

// Stay apart: q rotated at another position, with another theta, with heads of 32; the attention
// reads a value computed from the rotated q (a perturbed q, as aprc-inject-fault writes it); q is
// computed between the two (it cannot move before the append).
// CHECK-LABEL: func.func @not_fusable
// CHECK-NOT: aprc.rope_qk_kv_append
// CHECK: return
func.func @not_fusable(%q: tensor<?x384xf32>, %k: tensor<?x128xf32>, %v: tensor<?x128xf32>, %pos: index, %other: index) -> (tensor<?x384xf32>, tensor<?x384xf32>, tensor<?x384xf32>, tensor<?x384xf32>, tensor<?x384xf32>) {
  %kr = aprc.rope_kv_append %k, %v, @kv[%pos] {theta = 1.0e6 : f64, result_names = ["k_rope"]} : tensor<?x128xf32>, tensor<?x128xf32>
  %q1 = aprc.rope %q, %other {theta = 1.0e6 : f64, head_dim = 64} : tensor<?x384xf32>
  %a1 = aprc.attention %q1, @kv[%pos] {scale = 0.125 : f64} : tensor<?x384xf32>
  %q2 = aprc.rope %q, %pos {theta = 1.0e4 : f64, head_dim = 64} : tensor<?x384xf32>
  %a2 = aprc.attention %q2, @kv[%pos] {scale = 0.125 : f64} : tensor<?x384xf32>
  %q3 = aprc.rope %q, %pos {theta = 1.0e6 : f64, head_dim = 32} : tensor<?x384xf32>
  %a3 = aprc.attention %q3, @kv[%pos] {scale = 0.125 : f64} : tensor<?x384xf32>
  %q4 = aprc.rope %q, %pos {theta = 1.0e6 : f64, head_dim = 64} : tensor<?x384xf32>
  %s4 = aprc.silu %q4 : tensor<?x384xf32>
  %p4 = aprc.add %q4, %s4 : tensor<?x384xf32>
  %a4 = aprc.attention %p4, @kv[%pos] {scale = 0.125 : f64} : tensor<?x384xf32>
  %q5 = aprc.silu %q : tensor<?x384xf32>
  %r5 = aprc.rope %q5, %pos {theta = 1.0e6 : f64, head_dim = 64} : tensor<?x384xf32>
  %a5 = aprc.attention %r5, @kv[%pos] {scale = 0.125 : f64} : tensor<?x384xf32>
  return %a1, %a2, %a3, %a4, %a5 : tensor<?x384xf32>, tensor<?x384xf32>, tensor<?x384xf32>, tensor<?x384xf32>, tensor<?x384xf32>
}

// Stay apart: another append to the cache sits between the two.
// CHECK-LABEL: func.func @cache_between
// CHECK-NOT: aprc.rope_qk_kv_append
// CHECK: return
func.func @cache_between(%q: tensor<?x384xf32>, %k: tensor<?x128xf32>, %v: tensor<?x128xf32>, %pos: index) -> tensor<?x384xf32> {
  %qr = aprc.rope %q, %pos {theta = 1.0e6 : f64, head_dim = 64} : tensor<?x384xf32>
  aprc.kv_append %k, %v, @kv[%pos] : tensor<?x128xf32>, tensor<?x128xf32>
  %kr = aprc.rope_kv_append %k, %v, @kv[%pos] {theta = 1.0e6 : f64, result_names = ["k_rope"]} : tensor<?x128xf32>, tensor<?x128xf32>
  %a = aprc.attention %qr, @kv[%pos] {scale = 0.125 : f64} : tensor<?x384xf32>
  return %a : tensor<?x384xf32>
}

// The first function's fused op is located at the ops it computes, in program order.
// CHECK: #[[QL:loc[0-9]+]] = loc("layers.0.attn.q_rope")
// CHECK-NEXT: #[[KL:loc[0-9]+]] = loc("layers.0.attn.k_rope")
// CHECK-NEXT: #[[AL:loc[0-9]+]] = loc("layers.0.attn.kv_append")
// CHECK: #[[LOC]] = loc(fused[#[[QL]], #[[KL]], #[[AL]]])
