// aprc-plan-memory: live ranges, in-place results and greedy-by-size packing into one arena.
// RUN: aprc-opt %s --aprc-plan-memory --split-input-file --verify-diagnostics --allow-unregistered-dialect | FileCheck %s

aprc.weight @e : !aprc.weight<q8_0, [1000, 256]> {source = "e"}
aprc.weight @n : !aprc.weight<f32, [256]> {source = "n"}
aprc.weight @q : !aprc.weight<q8_0, [256, 256]> {source = "q"}
aprc.weight @k : !aprc.weight<q8_0, [128, 256]> {source = "k"}
aprc.weight @v : !aprc.weight<q8_0, [128, 256]> {source = "v"}
aprc.weight @o : !aprc.weight<q8_0, [256, 256]> {source = "o"}
aprc.kv_cache @kv {num_kv_heads = 2, head_dim = 64, max_seq = 128}

// One unfused layer at T = 4: a row of 256 floats is 1 KiB, so [T, 256] buffers take 4096 bytes
// and [T, 128] ones 2048. Live ranges (op indices): x [1,16], h [3,9], q = qr [5,13] (rope in
// place), k = kr [7,12], v [9,12], a [13,15], o [15,16], r [16,18]. Larger first: x 0, h 4096,
// q 8192, a 4096 (h is dead by then), o 8192, r 4096; then k 12288 and v 14336.
// CHECK-LABEL: func.func @layer
// CHECK-SAME: attributes {aprc.arena_bytes = 16384 : i64, aprc.max_tokens = 4 : i64}
// CHECK: aprc.embedding {{.*}} {aprc.offsets = array<i64: 0>}
// CHECK: aprc.rms_norm {{.*}} {aprc.offsets = array<i64: 4096>
// CHECK: aprc.linear {{.*}} {aprc.offsets = array<i64: 8192>}
// CHECK: aprc.linear {{.*}} {aprc.offsets = array<i64: 12288>}
// CHECK: aprc.linear {{.*}} {aprc.offsets = array<i64: 14336>}
// CHECK: aprc.rope {{.*}} {aprc.offsets = array<i64: 8192>
// CHECK: aprc.rope {{.*}} {aprc.offsets = array<i64: 12288>
// CHECK: aprc.kv_append %{{[0-9]+}}, %{{[0-9]+}}, @kv[%{{[a-z0-9]+}}] : tensor
// CHECK: aprc.attention {{.*}} {aprc.offsets = array<i64: 4096>
// CHECK: aprc.linear {{.*}} {aprc.offsets = array<i64: 8192>}
// CHECK: aprc.add {{.*}} {aprc.offsets = array<i64: 4096>}
// CHECK: aprc.logits {{.*}} {aprc.offsets = array<i64: -1>}
func.func @layer(%ids: tensor<?xi32>, %pos: index) -> tensor<?x1000xf32> attributes {aprc.max_tokens = 4 : i64} {
  %we = aprc.weight_ref @e : !aprc.weight<q8_0, [1000, 256]>
  %x = aprc.embedding %ids, %we : (tensor<?xi32>, !aprc.weight<q8_0, [1000, 256]>) -> tensor<?x256xf32>
  %wn = aprc.weight_ref @n : !aprc.weight<f32, [256]>
  %h = aprc.rms_norm %x, %wn {eps = 1.0e-6 : f64} : (tensor<?x256xf32>, !aprc.weight<f32, [256]>) -> tensor<?x256xf32>
  %wq = aprc.weight_ref @q : !aprc.weight<q8_0, [256, 256]>
  %q = aprc.linear %h, %wq : (tensor<?x256xf32>, !aprc.weight<q8_0, [256, 256]>) -> tensor<?x256xf32>
  %wk = aprc.weight_ref @k : !aprc.weight<q8_0, [128, 256]>
  %k = aprc.linear %h, %wk : (tensor<?x256xf32>, !aprc.weight<q8_0, [128, 256]>) -> tensor<?x128xf32>
  %wv = aprc.weight_ref @v : !aprc.weight<q8_0, [128, 256]>
  %v = aprc.linear %h, %wv : (tensor<?x256xf32>, !aprc.weight<q8_0, [128, 256]>) -> tensor<?x128xf32>
  %qr = aprc.rope %q, %pos {theta = 1.0e6 : f64, head_dim = 64} : tensor<?x256xf32>
  %kr = aprc.rope %k, %pos {theta = 1.0e6 : f64, head_dim = 64} : tensor<?x128xf32>
  aprc.kv_append %kr, %v, @kv[%pos] : tensor<?x128xf32>, tensor<?x128xf32>
  %a = aprc.attention %qr, @kv[%pos] {scale = 0.125 : f64} : tensor<?x256xf32>
  %wo = aprc.weight_ref @o : !aprc.weight<q8_0, [256, 256]>
  %o = aprc.linear %a, %wo : (tensor<?x256xf32>, !aprc.weight<q8_0, [256, 256]>) -> tensor<?x256xf32>
  %r = aprc.add %x, %o : tensor<?x256xf32>
  %l = aprc.logits %r, %we : (tensor<?x256xf32>, !aprc.weight<q8_0, [1000, 256]>) -> tensor<?x1000xf32>
  return %l : tensor<?x1000xf32>
}

// Fused ops, one token (max_tokens comes from the ids' static row count): the q/k/v results get
// three buffers; rope_kv_append rotates k in place; the first residual epilogue writes over its
// dying residual (x), the second cannot, since its residual r is read again by the add.
// CHECK-LABEL: func.func @decode
// CHECK-SAME: attributes {aprc.arena_bytes = 3072 : i64, aprc.max_tokens = 1 : i64}
// CHECK: aprc.embedding {{.*}} {aprc.offsets = array<i64: 0>}
// CHECK: aprc.fused_linear {{.*}} {aprc.offsets = array<i64: 1024, 2048, 2560>
// CHECK: aprc.rope_kv_append {{.*}} {aprc.offsets = array<i64: 2048>
// CHECK: aprc.fused_linear {{.*}} {aprc.offsets = array<i64: 0>
// CHECK: aprc.fused_linear {{.*}} {aprc.offsets = array<i64: 1024>
// CHECK: aprc.add {{.*}} {aprc.offsets = array<i64: 2048>}
// CHECK: aprc.logits {{.*}} {aprc.offsets = array<i64: -1>}
func.func @decode(%ids: tensor<1xi32>, %pos: index) -> tensor<1x1000xf32> {
  %we = aprc.weight_ref @e : !aprc.weight<q8_0, [1000, 256]>
  %x = aprc.embedding %ids, %we : (tensor<1xi32>, !aprc.weight<q8_0, [1000, 256]>) -> tensor<1x256xf32>
  %wn = aprc.weight_ref @n : !aprc.weight<f32, [256]>
  %wq = aprc.weight_ref @q : !aprc.weight<q8_0, [256, 256]>
  %wk = aprc.weight_ref @k : !aprc.weight<q8_0, [128, 256]>
  %wv = aprc.weight_ref @v : !aprc.weight<q8_0, [128, 256]>
  %q, %k, %v = aprc.fused_linear %x norm(%wn) weights(%wq, %wk, %wv) epilogue none {eps = 1.0e-6 : f64, result_names = ["q", "k", "v"]} : (tensor<1x256xf32>, !aprc.weight<f32, [256]>, !aprc.weight<q8_0, [256, 256]>, !aprc.weight<q8_0, [128, 256]>, !aprc.weight<q8_0, [128, 256]>) -> (tensor<1x256xf32>, tensor<1x128xf32>, tensor<1x128xf32>)
  %kr = aprc.rope_kv_append %k, %v, @kv[%pos] {theta = 1.0e6 : f64, result_names = ["k_rope"]} : tensor<1x128xf32>, tensor<1x128xf32>
  %wo = aprc.weight_ref @o : !aprc.weight<q8_0, [256, 256]>
  %r = aprc.fused_linear %q weights(%wo) residual(%x) epilogue residual {result_names = ["r"]} : (tensor<1x256xf32>, !aprc.weight<q8_0, [256, 256]>, tensor<1x256xf32>) -> tensor<1x256xf32>
  %r2 = aprc.fused_linear %r weights(%wo) residual(%r) epilogue residual {result_names = ["r2"]} : (tensor<1x256xf32>, !aprc.weight<q8_0, [256, 256]>, tensor<1x256xf32>) -> tensor<1x256xf32>
  %s = aprc.add %r2, %r : tensor<1x256xf32>
  %l = aprc.logits %s, %we : (tensor<1x256xf32>, !aprc.weight<q8_0, [1000, 256]>) -> tensor<1x1000xf32>
  return %l : tensor<1x1000xf32>
}

// -----

// A rope rotates in place, so its input must die there.
func.func @rope_input_read_later(%ids: tensor<?xi32>, %pos: index) -> tensor<?x128xf32> {
  %0 = "test.source"() : () -> tensor<?x128xf32>
  // expected-error @+1 {{'aprc.rope' op aprc-plan-memory: writes its result over its operand, which is read after it or is not in the arena}}
  %1 = aprc.rope %0, %pos {theta = 1.0e6 : f64, head_dim = 64} : tensor<?x128xf32>
  %2 = aprc.add %0, %1 : tensor<?x128xf32>
  return %2 : tensor<?x128xf32>
}

// -----

// expected-error @+1 {{'func.func' op aprc-plan-memory: argument #0 is an activation; activations must be computed in the function}}
func.func @activation_argument(%x: tensor<?x128xf32>) -> tensor<?x128xf32> {
  %0 = aprc.silu %x : tensor<?x128xf32>
  return %0 : tensor<?x128xf32>
}

// -----

// rope_qk_kv_append rotates q and k in place: each result takes its own operand's buffer (q [0, 4]
// with the attention that reads the rotated q, k [1, 3], v [2, 3]; 1 KiB, 512 B, 512 B).
aprc.kv_cache @kv {num_kv_heads = 2, head_dim = 64, max_seq = 128}
// CHECK-LABEL: func.func @qk_in_place
// CHECK-SAME: attributes {aprc.arena_bytes = 2048 : i64, aprc.max_tokens = 1 : i64}
// CHECK: aprc.rope_qk_kv_append {{.*}} {aprc.offsets = array<i64: 0, 1024>
// CHECK: aprc.attention {{.*}} {aprc.offsets = array<i64: -1>
func.func @qk_in_place(%ids: tensor<1xi32>, %pos: index) -> tensor<1x256xf32> {
  %q = "test.make"() : () -> tensor<1x256xf32>
  %k = "test.make"() : () -> tensor<1x128xf32>
  %v = "test.make"() : () -> tensor<1x128xf32>
  %qr, %kr = aprc.rope_qk_kv_append %q, %k, %v, @kv[%pos] {theta = 1.0e6 : f64, result_names = ["q_rope", "k_rope"]} : tensor<1x256xf32>, tensor<1x128xf32>, tensor<1x128xf32>
  %a = aprc.attention %qr, @kv[%pos] {scale = 0.125 : f64} : tensor<1x256xf32>
  return %a : tensor<1x256xf32>
}

// -----

// The attention on rope_qk_kv_append's rotated q keeps the append's k and v live (one CUDA decode
// kernel does both): k [1, 4] and v [2, 4] do not share bytes with the attention's result a [4, 5]
// (without that, k would take a's 1024).
aprc.kv_cache @kv {num_kv_heads = 2, head_dim = 64, max_seq = 128}
// CHECK-LABEL: func.func @qk_append_kv_live_through_attention
// CHECK-SAME: attributes {aprc.arena_bytes = 3072 : i64, aprc.max_tokens = 1 : i64}
// CHECK: "test.make"() {aprc.offsets = array<i64: 0>}
// CHECK: "test.make"() {aprc.offsets = array<i64: 2048>}
// CHECK: "test.make"() {aprc.offsets = array<i64: 2560>}
// CHECK: aprc.rope_qk_kv_append {{.*}} {aprc.offsets = array<i64: 0, 2048>
// CHECK: aprc.attention {{.*}} {aprc.offsets = array<i64: 1024>
func.func @qk_append_kv_live_through_attention(%ids: tensor<1xi32>, %pos: index) -> tensor<1x256xf32> {
  %q = "test.make"() : () -> tensor<1x256xf32>
  %k = "test.make"() : () -> tensor<1x128xf32>
  %v = "test.make"() : () -> tensor<1x128xf32>
  %qr, %kr = aprc.rope_qk_kv_append %q, %k, %v, @kv[%pos] {theta = 1.0e6 : f64, result_names = ["q_rope", "k_rope"]} : tensor<1x256xf32>, tensor<1x128xf32>, tensor<1x128xf32>
  %a = aprc.attention %qr, @kv[%pos] {scale = 0.125 : f64} : tensor<1x256xf32>
  %s = aprc.silu %a : tensor<1x256xf32>
  return %s : tensor<1x256xf32>
}
