// aprc-repack-weights: weights read only as the matrix of a matrix product take their target's
// layout (preferred_layout, runtime/core/target_layouts.cpp; the unit tests check each weight
// against it); norms, biases and unused weights stay row_major; tables and weights with both kinds of
// readers take the matrix layout too (both targets' embedding kernels read it: a tied model's one
// weight, stored once); every weight_ref follows its declaration.
// RUN: aprc-opt %s --aprc-repack-weights=target=cpu | FileCheck %s --check-prefixes=CHECK,CPU
// RUN: aprc-opt %s --aprc-repack-weights=target=cuda | FileCheck %s --check-prefixes=CHECK,CUDA
// RUN: not aprc-opt %s --aprc-repack-weights=target=tpu 2>&1 | FileCheck %s --check-prefix=BAD
// BAD: Cannot find option named 'tpu'

// CPU: aprc.weight @embed : !aprc.weight<q4_k, [1000, 256], cpu_r16> {source = "e"}
// CUDA: aprc.weight @embed : !aprc.weight<q4_k, [1000, 256], cuda_q4_k> {source = "e"}
aprc.weight @embed : !aprc.weight<q4_k, [1000, 256]> {source = "e"}
// CHECK: aprc.weight @norm : !aprc.weight<f32, [256]> {source = "n"}
aprc.weight @norm : !aprc.weight<f32, [256]> {source = "n"}
// CHECK: aprc.weight @bias : !aprc.weight<f32, [256]> {source = "b"}
aprc.weight @bias : !aprc.weight<f32, [256]> {source = "b"}
// CHECK: aprc.weight @unused : !aprc.weight<q4_k, [256, 256]> {source = "u"}
aprc.weight @unused : !aprc.weight<q4_k, [256, 256]> {source = "u"}
// Read as a table and as a matrix.
// CPU: aprc.weight @both : !aprc.weight<q8_0, [1000, 256], cpu_r16> {source = "e"}
// CUDA: aprc.weight @both : !aprc.weight<q8_0, [1000, 256], cuda_q8_0> {source = "e"}
aprc.weight @both : !aprc.weight<q8_0, [1000, 256]> {source = "e"}
// CHECK: aprc.weight @q : !aprc.weight<q4_k, [256, 256][[Q:.*]]> {source = "q"}
aprc.weight @q : !aprc.weight<q4_k, [256, 256]> {source = "q"}
// CHECK: aprc.weight @w : !aprc.weight<q6_k, [256, 256][[W:.*]]> {source = "w"}
aprc.weight @w : !aprc.weight<q6_k, [256, 256]> {source = "w"}
// CHECK: aprc.weight @logits : !aprc.weight<q8_0, [1000, 256][[L:.*]]> {source = "e"}
aprc.weight @logits : !aprc.weight<q8_0, [1000, 256]> {source = "e"}

// CHECK-LABEL: func.func @f
func.func @f(%ids: tensor<?xi32>) -> (tensor<?x1000xf32>, tensor<?x256xf32>, tensor<?x1000xf32>) {
  // CPU: aprc.weight_ref @embed : !aprc.weight<q4_k, [1000, 256], cpu_r16>
  // CUDA: aprc.weight_ref @embed : !aprc.weight<q4_k, [1000, 256], cuda_q4_k>
  %e = aprc.weight_ref @embed : !aprc.weight<q4_k, [1000, 256]>
  %x = aprc.embedding %ids, %e : (tensor<?xi32>, !aprc.weight<q4_k, [1000, 256]>) -> tensor<?x256xf32>
  %n = aprc.weight_ref @norm : !aprc.weight<f32, [256]>
  %b = aprc.weight_ref @bias : !aprc.weight<f32, [256]>
  // CHECK: aprc.weight_ref @q : !aprc.weight<q4_k, [256, 256][[Q]]>
  %q = aprc.weight_ref @q : !aprc.weight<q4_k, [256, 256]>
  // CHECK: aprc.weight_ref @w : !aprc.weight<q6_k, [256, 256][[W]]>
  %w = aprc.weight_ref @w : !aprc.weight<q6_k, [256, 256]>
  // CHECK: aprc.linear %{{.*}}, %{{.*}}, %{{.*}} : (tensor<?x256xf32>, !aprc.weight<q4_k, [256, 256][[Q]]>, !aprc.weight<f32, [256]>)
  %y = aprc.linear %x, %q, %b : (tensor<?x256xf32>, !aprc.weight<q4_k, [256, 256]>, !aprc.weight<f32, [256]>) -> tensor<?x256xf32>
  // CHECK: aprc.fused_linear
  // CHECK-SAME: (tensor<?x256xf32>, !aprc.weight<f32, [256]>, !aprc.weight<q4_k, [256, 256][[Q]]>, !aprc.weight<q6_k, [256, 256][[W]]>, !aprc.weight<f32, [256]>, !aprc.weight<f32, [256]>)
  %u, %v = aprc.fused_linear %y norm(%n) weights(%q, %w) biases(%b, %b) epilogue none {eps = 1.0e-6 : f64, result_names = ["u", "v"]} : (tensor<?x256xf32>, !aprc.weight<f32, [256]>, !aprc.weight<q4_k, [256, 256]>, !aprc.weight<q6_k, [256, 256]>, !aprc.weight<f32, [256]>, !aprc.weight<f32, [256]>) -> (tensor<?x256xf32>, tensor<?x256xf32>)
  %l = aprc.weight_ref @logits : !aprc.weight<q8_0, [1000, 256]>
  // CHECK: aprc.logits %{{.*}}, %{{.*}} : (tensor<?x256xf32>, !aprc.weight<q8_0, [1000, 256][[L]]>)
  %o = aprc.logits %u, %l : (tensor<?x256xf32>, !aprc.weight<q8_0, [1000, 256]>) -> tensor<?x1000xf32>
  // CPU: aprc.weight_ref @both : !aprc.weight<q8_0, [1000, 256], cpu_r16>
  // CUDA: aprc.weight_ref @both : !aprc.weight<q8_0, [1000, 256], cuda_q8_0>
  %t = aprc.weight_ref @both : !aprc.weight<q8_0, [1000, 256]>
  %x2 = aprc.embedding %ids, %t : (tensor<?xi32>, !aprc.weight<q8_0, [1000, 256]>) -> tensor<?x256xf32>
  %o2 = aprc.logits %x2, %t : (tensor<?x256xf32>, !aprc.weight<q8_0, [1000, 256]>) -> tensor<?x1000xf32>
  return %o, %v, %o2 : tensor<?x1000xf32>, tensor<?x256xf32>, tensor<?x1000xf32>
}
