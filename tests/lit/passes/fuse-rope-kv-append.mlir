// aprc-fuse-rope-kv-append: kv_append(rope(k), v) at the rope's position and with the cache's
// head_dim -> rope_kv_append, whose result (the rotated k) is named after the rope.
// RUN: aprc-opt %s --aprc-fuse-rope-kv-append | FileCheck %s

aprc.kv_cache @kv {num_kv_heads = 2, head_dim = 64, max_seq = 128}

// CHECK-LABEL: func.func @append
// CHECK-SAME: (%[[K:.*]]: tensor<?x128xf32>, %[[V:.*]]: tensor<?x128xf32>, %[[POS:.*]]: index)
// CHECK-NOT: aprc.rope %
// CHECK: %[[R:.*]] = aprc.rope_kv_append %[[K]], %[[V]], @kv[%[[POS]]] {result_names = ["layers.0.attn.k_rope"], theta = 1.000000e+06 : f64} : tensor<?x128xf32>, tensor<?x128xf32>
// CHECK-NOT: aprc.kv_append
// CHECK: return %[[R]]
func.func @append(%k: tensor<?x128xf32>, %v: tensor<?x128xf32>, %pos: index) -> tensor<?x128xf32> {
  %kr = aprc.rope %k, %pos {theta = 1.0e6 : f64, head_dim = 64} : tensor<?x128xf32> loc("layers.0.attn.k_rope")
  aprc.kv_append %kr, %v, @kv[%pos] : tensor<?x128xf32>, tensor<?x128xf32> loc("layers.0.attn.kv_append")
  return %kr : tensor<?x128xf32>
}

// Stays: the rope's head_dim (32) is not the cache's; rotated at another position; the rotated k
// is read before the append; k is not rotated at all.
// CHECK-LABEL: func.func @not_fusable
// CHECK-COUNT-4: aprc.kv_append
// CHECK-NOT: aprc.rope_kv_append
func.func @not_fusable(%k: tensor<?x128xf32>, %v: tensor<?x128xf32>, %pos: index, %other: index) -> tensor<?x128xf32> {
  %a = aprc.rope %k, %pos {theta = 1.0e6 : f64, head_dim = 32} : tensor<?x128xf32>
  aprc.kv_append %a, %v, @kv[%pos] : tensor<?x128xf32>, tensor<?x128xf32>
  %b = aprc.rope %k, %other {theta = 1.0e6 : f64, head_dim = 64} : tensor<?x128xf32>
  aprc.kv_append %b, %v, @kv[%pos] : tensor<?x128xf32>, tensor<?x128xf32>
  %c = aprc.rope %k, %pos {theta = 1.0e6 : f64, head_dim = 64} : tensor<?x128xf32>
  %d = aprc.add %c, %v : tensor<?x128xf32>
  aprc.kv_append %c, %v, @kv[%pos] : tensor<?x128xf32>, tensor<?x128xf32>
  aprc.kv_append %k, %v, @kv[%pos] : tensor<?x128xf32>, tensor<?x128xf32>
  return %d : tensor<?x128xf32>
}
