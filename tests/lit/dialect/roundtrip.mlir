// Every aprc op and type parses, verifies and prints back to the same text, in the custom and in
// the generic form.
// RUN: aprc-opt %s | aprc-opt | FileCheck %s
// RUN: aprc-opt %s --mlir-print-op-generic | aprc-opt | FileCheck %s

// CHECK: module attributes {aprc.config = {hidden_size = 64 : i64}}
module attributes {aprc.config = {hidden_size = 64 : i64}} {
  // CHECK: aprc.weight @embed.weight : !aprc.weight<q4_k, [1000, 256]> {source = "model.embed_tokens.weight"}
  aprc.weight @embed.weight : !aprc.weight<q4_k, [1000, 256]> {source = "model.embed_tokens.weight"}
  // CHECK: aprc.weight @norm.weight : !aprc.weight<f32, [256]> {source = "n"}
  aprc.weight @norm.weight : !aprc.weight<f32, [256]> {source = "n"}
  // CHECK: aprc.weight @q.weight : !aprc.weight<q6_k, [256, 256]> {source = "q"}
  aprc.weight @q.weight : !aprc.weight<q6_k, [256, 256], row_major> {source = "q"}
  // CHECK: aprc.weight @q.bias : !aprc.weight<bf16, [256]> {source = "qb"}
  aprc.weight @q.bias : !aprc.weight<bf16, [256]> {source = "qb"}
  // CHECK: aprc.weight @k.weight : !aprc.weight<q8_0, [128, 256]> {source = "k"}
  aprc.weight @k.weight : !aprc.weight<q8_0, [128, 256]> {source = "k"}
  // CHECK: aprc.weight @v.weight : !aprc.weight<q5_0, [128, 256]> {source = "v"}
  aprc.weight @v.weight : !aprc.weight<q5_0, [128, 256]> {source = "v"}
  // CHECK: aprc.weight @gate.weight : !aprc.weight<q5_k, [512, 256]> {source = "g"}
  aprc.weight @gate.weight : !aprc.weight<q5_k, [512, 256]> {source = "g"}
  // CHECK: aprc.weight @up.weight : !aprc.weight<fp8e4m3, [512, 256], per_channel> {source = "u"}
  aprc.weight @up.weight : !aprc.weight<fp8e4m3, [512, 256]> {source = "u"}
  // CHECK: aprc.weight @down.weight : !aprc.weight<fp8e4m3, [256, 512], per_tensor> {source = "d"}
  aprc.weight @down.weight : !aprc.weight<fp8e4m3, [256, 512], row_major, per_tensor> {source = "d"}
  // CHECK: aprc.weight @o.weight : !aprc.weight<aprq4, [256, 256]> {source = "o"}
  aprc.weight @o.weight : !aprc.weight<aprq4, [256, 256]> {source = "o"}
  // CHECK: aprc.weight @x.weight : !aprc.weight<aprq8, [7, 5]> {source = "x"}
  aprc.weight @x.weight : !aprc.weight<aprq8, [7, 5]> {source = "x"}
  // CHECK: aprc.weight @h.weight : !aprc.weight<f16, [3]> {source = "h"}
  aprc.weight @h.weight : !aprc.weight<"f16", [3]> {source = "h"}
  // CHECK: aprc.kv_cache @layers.0.kv {head_dim = 64 : i64, max_seq = 128 : i64, num_kv_heads = 2 : i64}
  aprc.kv_cache @layers.0.kv {num_kv_heads = 2, head_dim = 64, max_seq = 128}

  // CHECK-LABEL: func.func @original
  func.func @original(%ids: tensor<?xi32>, %pos: index) -> tensor<1x1000xf32> {
    // CHECK: %[[E:.*]] = aprc.weight_ref @embed.weight : !aprc.weight<q4_k, [1000, 256]>
    %e = aprc.weight_ref @embed.weight : !aprc.weight<q4_k, [1000, 256]>
    // CHECK: %[[X:.*]] = aprc.embedding %{{.*}}, %[[E]] : (tensor<?xi32>, !aprc.weight<q4_k, [1000, 256]>) -> tensor<?x256xf32>
    %x = aprc.embedding %ids, %e : (tensor<?xi32>, !aprc.weight<q4_k, [1000, 256]>) -> tensor<?x256xf32>
    %n = aprc.weight_ref @norm.weight : !aprc.weight<f32, [256]>
    // CHECK: aprc.rms_norm %[[X]], %{{.*}} {eps = 9.9999999999999995E-7 : f64} : (tensor<?x256xf32>, !aprc.weight<f32, [256]>) -> tensor<?x256xf32>
    %h = aprc.rms_norm %x, %n {eps = 1.0e-6 : f64} : (tensor<?x256xf32>, !aprc.weight<f32, [256]>) -> tensor<?x256xf32>
    %wq = aprc.weight_ref @q.weight : !aprc.weight<q6_k, [256, 256]>
    %bq = aprc.weight_ref @q.bias : !aprc.weight<bf16, [256]>
    // CHECK: aprc.linear %{{.*}}, %{{.*}}, %{{.*}} : (tensor<?x256xf32>, !aprc.weight<q6_k, [256, 256]>, !aprc.weight<bf16, [256]>) -> tensor<?x256xf32>
    %q = aprc.linear %h, %wq, %bq : (tensor<?x256xf32>, !aprc.weight<q6_k, [256, 256]>, !aprc.weight<bf16, [256]>) -> tensor<?x256xf32>
    %wk = aprc.weight_ref @k.weight : !aprc.weight<q8_0, [128, 256]>
    // CHECK: aprc.linear %{{.*}}, %{{.*}} : (tensor<?x256xf32>, !aprc.weight<q8_0, [128, 256]>) -> tensor<?x128xf32>
    %k = aprc.linear %h, %wk : (tensor<?x256xf32>, !aprc.weight<q8_0, [128, 256]>) -> tensor<?x128xf32>
    %wv = aprc.weight_ref @v.weight : !aprc.weight<q5_0, [128, 256]>
    %v = aprc.linear %h, %wv : (tensor<?x256xf32>, !aprc.weight<q5_0, [128, 256]>) -> tensor<?x128xf32>
    // CHECK: aprc.rope %{{.*}}, %{{.*}} {head_dim = 64 : i64, theta = 1.000000e+06 : f64} : tensor<?x256xf32>
    %qr = aprc.rope %q, %pos {theta = 1.0e6 : f64, head_dim = 64} : tensor<?x256xf32>
    %kr = aprc.rope %k, %pos {theta = 1.0e6 : f64, head_dim = 64} : tensor<?x128xf32>
    // CHECK: aprc.kv_append %{{.*}}, %{{.*}}, @layers.0.kv[%{{.*}}] : tensor<?x128xf32>, tensor<?x128xf32>
    aprc.kv_append %kr, %v, @layers.0.kv[%pos] : tensor<?x128xf32>, tensor<?x128xf32>
    // CHECK: aprc.attention %{{.*}}, @layers.0.kv[%{{.*}}] {scale = 1.250000e-01 : f64} : tensor<?x256xf32>
    %a = aprc.attention %qr, @layers.0.kv[%pos] {scale = 0.125 : f64} : tensor<?x256xf32>
    // CHECK: aprc.silu %{{.*}} : tensor<?x256xf32>
    %s = aprc.silu %a : tensor<?x256xf32>
    // CHECK: aprc.mul %{{.*}}, %{{.*}} : tensor<?x256xf32>
    %m = aprc.mul %s, %a : tensor<?x256xf32>
    // CHECK: aprc.add %{{.*}}, %{{.*}} : tensor<?x256xf32>
    %r = aprc.add %m, %x : tensor<?x256xf32>
    // CHECK: aprc.logits %{{.*}}, %{{.*}} last_only : (tensor<?x256xf32>, !aprc.weight<q4_k, [1000, 256]>) -> tensor<1x1000xf32>
    %l = aprc.logits %r, %e last_only : (tensor<?x256xf32>, !aprc.weight<q4_k, [1000, 256]>) -> tensor<1x1000xf32>
    return %l : tensor<1x1000xf32>
  }

  // CHECK-LABEL: func.func @fused
  func.func @fused(%x: tensor<1x256xf32>, %pos: index) -> tensor<1x256xf32> {
    %n = aprc.weight_ref @norm.weight : !aprc.weight<f32, [256]>
    %wq = aprc.weight_ref @q.weight : !aprc.weight<q6_k, [256, 256]>
    %bq = aprc.weight_ref @q.bias : !aprc.weight<bf16, [256]>
    %wk = aprc.weight_ref @k.weight : !aprc.weight<q8_0, [128, 256]>
    %wv = aprc.weight_ref @v.weight : !aprc.weight<q5_0, [128, 256]>
    // CHECK: %{{.*}}:3 = aprc.fused_linear %{{.*}} norm(%{{.*}}) weights(%{{.*}}, %{{.*}}, %{{.*}}) epilogue none {eps = 9.9999999999999995E-7 : f64, result_names = ["q", "k", "v"]}
    %q, %k, %v = aprc.fused_linear %x norm(%n) weights(%wq, %wk, %wv) epilogue none {eps = 1.0e-6 : f64, result_names = ["q", "k", "v"]} : (tensor<1x256xf32>, !aprc.weight<f32, [256]>, !aprc.weight<q6_k, [256, 256]>, !aprc.weight<q8_0, [128, 256]>, !aprc.weight<q5_0, [128, 256]>) -> (tensor<1x256xf32>, tensor<1x128xf32>, tensor<1x128xf32>)
    // CHECK: aprc.rope_kv_append %{{.*}}, %{{.*}}, @layers.0.kv[%{{.*}}] {result_names = ["k_rope"], theta = 1.000000e+06 : f64} : tensor<1x128xf32>, tensor<1x128xf32>
    %kr = aprc.rope_kv_append %k, %v, @layers.0.kv[%pos] {theta = 1.0e6 : f64, result_names = ["k_rope"]} : tensor<1x128xf32>, tensor<1x128xf32>
    // CHECK: %{{.*}}, %{{.*}} = aprc.rope_qk_kv_append %{{.*}}, %{{.*}}, %{{.*}}, @layers.0.kv[%{{.*}}] {result_names = ["q_rope", "k_rope2"], theta = 1.000000e+06 : f64} : tensor<1x256xf32>, tensor<1x128xf32>, tensor<1x128xf32>
    %qr2, %kr2 = aprc.rope_qk_kv_append %q, %k, %v, @layers.0.kv[%pos] {theta = 1.0e6 : f64, result_names = ["q_rope", "k_rope2"]} : tensor<1x256xf32>, tensor<1x128xf32>, tensor<1x128xf32>
    %wg = aprc.weight_ref @gate.weight : !aprc.weight<q5_k, [512, 256]>
    %wu = aprc.weight_ref @up.weight : !aprc.weight<fp8e4m3, [512, 256], per_channel>
    // CHECK: aprc.fused_linear %{{.*}} weights(%{{.*}}, %{{.*}}) epilogue swiglu {result_names = ["mul"]}
    %m = aprc.fused_linear %q weights(%wg, %wu) epilogue swiglu {result_names = ["mul"]} : (tensor<1x256xf32>, !aprc.weight<q5_k, [512, 256]>, !aprc.weight<fp8e4m3, [512, 256], per_channel>) -> tensor<1x512xf32>
    %wd = aprc.weight_ref @down.weight : !aprc.weight<fp8e4m3, [256, 512], per_tensor>
    %b = aprc.weight_ref @norm.weight : !aprc.weight<f32, [256]>
    // CHECK: aprc.fused_linear %{{.*}} weights(%{{.*}}) biases(%{{.*}}) residual(%{{.*}}) epilogue residual {result_names = ["res"]}
    %r = aprc.fused_linear %m weights(%wd) biases(%b) residual(%x) epilogue residual {result_names = ["res"]} : (tensor<1x512xf32>, !aprc.weight<fp8e4m3, [256, 512], per_tensor>, !aprc.weight<f32, [256]>, tensor<1x256xf32>) -> tensor<1x256xf32>
    return %r : tensor<1x256xf32>
  }
}
