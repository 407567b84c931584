// aprc-fuse-gate-up-swiglu: mul(silu(gate), up) of two projections of one input -> one fused_linear
// with a swiglu epilogue named after the mul; the cases it must leave alone stay as they are.
// RUN: aprc-opt %s --aprc-fuse-gate-up-swiglu --split-input-file | FileCheck %s

aprc.weight @gate : !aprc.weight<q4_k, [512, 256]> {source = "g"}
aprc.weight @up : !aprc.weight<q6_k, [512, 256]> {source = "u"}
aprc.weight @gb : !aprc.weight<f32, [512]> {source = "gb"}
aprc.weight @ub : !aprc.weight<f32, [512]> {source = "ub"}
aprc.weight @norm : !aprc.weight<f32, [256]> {source = "n"}

// CHECK-LABEL: func.func @mlp
// CHECK-SAME: (%[[X:.*]]: tensor<?x256xf32>)
// CHECK-DAG: %[[G:.*]] = aprc.weight_ref @gate
// CHECK-DAG: %[[U:.*]] = aprc.weight_ref @up
// CHECK: %[[M:.*]] = aprc.fused_linear %[[X]] weights(%[[G]], %[[U]]) epilogue swiglu {result_names = ["layers.0.mlp.mul"]}
// CHECK-SAME: -> tensor<?x512xf32>
// CHECK-NOT: aprc.silu
// CHECK-NOT: aprc.mul
// CHECK-NOT: aprc.linear
// CHECK: return %[[M]]
func.func @mlp(%x: tensor<?x256xf32>) -> tensor<?x512xf32> {
  %wg = aprc.weight_ref @gate : !aprc.weight<q4_k, [512, 256]>
  %g = aprc.linear %x, %wg : (tensor<?x256xf32>, !aprc.weight<q4_k, [512, 256]>) -> tensor<?x512xf32> loc("layers.0.mlp.gate_proj")
  %wu = aprc.weight_ref @up : !aprc.weight<q6_k, [512, 256]>
  %u = aprc.linear %x, %wu : (tensor<?x256xf32>, !aprc.weight<q6_k, [512, 256]>) -> tensor<?x512xf32> loc("layers.0.mlp.up_proj")
  %s = aprc.silu %g : tensor<?x512xf32> loc("layers.0.mlp.silu")
  %m = aprc.mul %s, %u : tensor<?x512xf32> loc("layers.0.mlp.mul")
  return %m : tensor<?x512xf32>
}

// The up projection on the left of the mul, with biases on both.
// CHECK-LABEL: func.func @up_first_with_biases
// CHECK: aprc.fused_linear %{{.*}} weights(%{{.*}}, %{{.*}}) biases(%{{.*}}, %{{.*}}) epilogue swiglu {result_names = ["m"]}
// CHECK-NOT: aprc.mul
func.func @up_first_with_biases(%x: tensor<1x256xf32>) -> tensor<1x512xf32> {
  %wg = aprc.weight_ref @gate : !aprc.weight<q4_k, [512, 256]>
  %bg = aprc.weight_ref @gb : !aprc.weight<f32, [512]>
  %wu = aprc.weight_ref @up : !aprc.weight<q6_k, [512, 256]>
  %bu = aprc.weight_ref @ub : !aprc.weight<f32, [512]>
  %g = aprc.linear %x, %wg, %bg : (tensor<1x256xf32>, !aprc.weight<q4_k, [512, 256]>, !aprc.weight<f32, [512]>) -> tensor<1x512xf32>
  %u = aprc.linear %x, %wu, %bu : (tensor<1x256xf32>, !aprc.weight<q6_k, [512, 256]>, !aprc.weight<f32, [512]>) -> tensor<1x512xf32>
  %s = aprc.silu %g : tensor<1x512xf32>
  %m = aprc.mul %u, %s : tensor<1x512xf32> loc("m")
  return %m : tensor<1x512xf32>
}

// Gate and up already fused into one fused_linear (by aprc-fuse-shared-input-linears), with a norm
// prologue: the swiglu keeps the prologue, and takes the weights in gate, up order.
// CHECK-LABEL: func.func @from_a_fused_pair
// CHECK-DAG: %[[N:.*]] = aprc.weight_ref @norm
// CHECK-DAG: %[[U:.*]] = aprc.weight_ref @up
// CHECK-DAG: %[[G:.*]] = aprc.weight_ref @gate
// CHECK: aprc.fused_linear %{{.*}} norm(%[[N]]) weights(%[[G]], %[[U]]) epilogue swiglu {eps = 1.000000e-05 : f64, result_names = ["m"]}
// CHECK-NOT: aprc.mul
func.func @from_a_fused_pair(%x: tensor<?x256xf32>) -> tensor<?x512xf32> {
  %n = aprc.weight_ref @norm : !aprc.weight<f32, [256]>
  %wu = aprc.weight_ref @up : !aprc.weight<q6_k, [512, 256]>
  %wg = aprc.weight_ref @gate : !aprc.weight<q4_k, [512, 256]>
  %u, %g = aprc.fused_linear %x norm(%n) weights(%wu, %wg) epilogue none {eps = 1.0e-5 : f64, result_names = ["u", "g"]} : (tensor<?x256xf32>, !aprc.weight<f32, [256]>, !aprc.weight<q6_k, [512, 256]>, !aprc.weight<q4_k, [512, 256]>) -> (tensor<?x512xf32>, tensor<?x512xf32>)
  %s = aprc.silu %g : tensor<?x512xf32>
  %m = aprc.mul %s, %u : tensor<?x512xf32> loc("m")
  return %m : tensor<?x512xf32>
}

// -----

aprc.weight @gate : !aprc.weight<q4_k, [512, 256]> {source = "g"}
aprc.weight @up : !aprc.weight<q6_k, [512, 256]> {source = "u"}
aprc.weight @gb : !aprc.weight<f32, [512]> {source = "gb"}

// Left alone: the gate is read by something else too.
// CHECK-LABEL: func.func @gate_read_twice
// CHECK: aprc.silu
// CHECK: aprc.mul
func.func @gate_read_twice(%x: tensor<?x256xf32>) -> (tensor<?x512xf32>, tensor<?x512xf32>) {
  %wg = aprc.weight_ref @gate : !aprc.weight<q4_k, [512, 256]>
  %wu = aprc.weight_ref @up : !aprc.weight<q6_k, [512, 256]>
  %g = aprc.linear %x, %wg : (tensor<?x256xf32>, !aprc.weight<q4_k, [512, 256]>) -> tensor<?x512xf32>
  %u = aprc.linear %x, %wu : (tensor<?x256xf32>, !aprc.weight<q6_k, [512, 256]>) -> tensor<?x512xf32>
  %s = aprc.silu %g : tensor<?x512xf32>
  %m = aprc.mul %s, %u : tensor<?x512xf32>
  return %m, %g : tensor<?x512xf32>, tensor<?x512xf32>
}

// Left alone: the two projections read different inputs.
// CHECK-LABEL: func.func @different_inputs
// CHECK: aprc.mul
func.func @different_inputs(%x: tensor<?x256xf32>, %y: tensor<?x256xf32>) -> tensor<?x512xf32> {
  %wg = aprc.weight_ref @gate : !aprc.weight<q4_k, [512, 256]>
  %wu = aprc.weight_ref @up : !aprc.weight<q6_k, [512, 256]>
  %g = aprc.linear %x, %wg : (tensor<?x256xf32>, !aprc.weight<q4_k, [512, 256]>) -> tensor<?x512xf32>
  %u = aprc.linear %y, %wu : (tensor<?x256xf32>, !aprc.weight<q6_k, [512, 256]>) -> tensor<?x512xf32>
  %s = aprc.silu %g : tensor<?x512xf32>
  %m = aprc.mul %s, %u : tensor<?x512xf32>
  return %m : tensor<?x512xf32>
}

// Left alone: a bias on the gate only (a fused_linear has biases on every weight or none).
// CHECK-LABEL: func.func @one_bias
// CHECK: aprc.mul
func.func @one_bias(%x: tensor<?x256xf32>) -> tensor<?x512xf32> {
  %wg = aprc.weight_ref @gate : !aprc.weight<q4_k, [512, 256]>
  %bg = aprc.weight_ref @gb : !aprc.weight<f32, [512]>
  %wu = aprc.weight_ref @up : !aprc.weight<q6_k, [512, 256]>
  %g = aprc.linear %x, %wg, %bg : (tensor<?x256xf32>, !aprc.weight<q4_k, [512, 256]>, !aprc.weight<f32, [512]>) -> tensor<?x512xf32>
  %u = aprc.linear %x, %wu : (tensor<?x256xf32>, !aprc.weight<q6_k, [512, 256]>) -> tensor<?x512xf32>
  %s = aprc.silu %g : tensor<?x512xf32>
  %m = aprc.mul %s, %u : tensor<?x512xf32>
  return %m : tensor<?x512xf32>
}
