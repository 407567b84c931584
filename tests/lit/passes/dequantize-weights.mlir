// aprc-dequantize-weights: every weight (tables, norms, biases, matrices of any encoding, layout or
// fp8 scaling) and its weight_refs become f32 row_major; the module verifies again.
// RUN: aprc-opt %s --aprc-dequantize-weights | aprc-opt | FileCheck %s

// CHECK: aprc.weight @embed.weight : !aprc.weight<f32, [1000, 256]> {source = "e"}
aprc.weight @embed.weight : !aprc.weight<q4_k, [1000, 256]> {source = "e"}
// CHECK: aprc.weight @norm.weight : !aprc.weight<f32, [256]> {source = "n"}
aprc.weight @norm.weight : !aprc.weight<bf16, [256]> {source = "n"}
// CHECK: aprc.weight @q.weight : !aprc.weight<f32, [256, 256]> {source = "q"}
aprc.weight @q.weight : !aprc.weight<fp8e4m3, [256, 256], per_tensor> {source = "q"}
// CHECK: aprc.weight @unused.weight : !aprc.weight<f32, [32, 64]> {source = "u"}
aprc.weight @unused.weight : !aprc.weight<q8_0, [32, 64]> {source = "u"}

// CHECK-LABEL: func.func @f
func.func @f(%ids: tensor<?xi32>, %pos: index) -> tensor<1x1000xf32> {
  // CHECK: aprc.weight_ref @embed.weight : !aprc.weight<f32, [1000, 256]>
  %e = aprc.weight_ref @embed.weight : !aprc.weight<q4_k, [1000, 256]>
  %x = aprc.embedding %ids, %e : (tensor<?xi32>, !aprc.weight<q4_k, [1000, 256]>) -> tensor<?x256xf32>
  // CHECK: aprc.rms_norm %{{.*}}, %{{.*}} {eps = {{.*}}} : (tensor<?x256xf32>, !aprc.weight<f32, [256]>) -> tensor<?x256xf32>
  %n = aprc.weight_ref @norm.weight : !aprc.weight<bf16, [256]>
  %h = aprc.rms_norm %x, %n {eps = 1.0e-6 : f64} : (tensor<?x256xf32>, !aprc.weight<bf16, [256]>) -> tensor<?x256xf32>
  // CHECK: aprc.linear %{{.*}}, %{{.*}} : (tensor<?x256xf32>, !aprc.weight<f32, [256, 256]>) -> tensor<?x256xf32>
  %wq = aprc.weight_ref @q.weight : !aprc.weight<fp8e4m3, [256, 256], per_tensor>
  %q = aprc.linear %h, %wq : (tensor<?x256xf32>, !aprc.weight<fp8e4m3, [256, 256], per_tensor>) -> tensor<?x256xf32>
  // CHECK: aprc.logits %{{.*}}, %{{.*}} last_only : (tensor<?x256xf32>, !aprc.weight<f32, [1000, 256]>) -> tensor<1x1000xf32>
  %l = aprc.logits %q, %e last_only : (tensor<?x256xf32>, !aprc.weight<q4_k, [1000, 256]>) -> tensor<1x1000xf32>
  return %l : tensor<1x1000xf32>
}

// -----
// RUN: aprc-opt %s -split-input-file --aprc-dequantize-weights | FileCheck %s --check-prefix=ACT
// ACT-LABEL: func.func @g
// ACT-NOT: aprc.fp8_per_token_activations
// ACT: aprc.linear
aprc.weight @w : !aprc.weight<fp8e4m3, [8, 8], per_channel> {source = "w"}
func.func @g(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %w = aprc.weight_ref @w : !aprc.weight<fp8e4m3, [8, 8], per_channel>
  %y = aprc.linear %x, %w {aprc.fp8_per_token_activations} : (tensor<?x8xf32>, !aprc.weight<fp8e4m3, [8, 8], per_channel>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}
