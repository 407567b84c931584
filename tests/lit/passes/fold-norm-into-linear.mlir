// aprc-fold-norm-into-linear: an rms_norm read only as the input of projections becomes their
// RMSNorm prologue; a norm with any other reader stays.
// RUN: aprc-opt %s --aprc-fold-norm-into-linear | FileCheck %s

aprc.weight @g : !aprc.weight<f32, [256]> {source = "g"}
aprc.weight @q : !aprc.weight<q4_k, [256, 256]> {source = "q"}
aprc.weight @k : !aprc.weight<q8_0, [128, 256]> {source = "k"}
aprc.weight @l : !aprc.weight<q8_0, [1000, 256]> {source = "l"}

// Into a fused_linear (q/k) and into a plain linear alike; the norm disappears.
// CHECK-LABEL: func.func @into_projections
// CHECK-SAME: (%[[X:.*]]: tensor<?x256xf32>)
// CHECK: %[[G:.*]] = aprc.weight_ref @g
// CHECK-NOT: aprc.rms_norm
// CHECK: aprc.fused_linear %[[X]] norm(%[[G]]) weights(%{{.*}}, %{{.*}}) epilogue none {eps = 9.9999999999999995E-7 : f64, result_names = ["q", "k"]}
// CHECK: aprc.fused_linear %[[X]] norm(%[[G]]) weights(%{{.*}}) epilogue none {eps = 9.9999999999999995E-7 : f64, result_names = ["again"]}
// CHECK-NOT: aprc.linear
func.func @into_projections(%x: tensor<?x256xf32>) -> (tensor<?x256xf32>, tensor<?x128xf32>, tensor<?x128xf32>) {
  %g = aprc.weight_ref @g : !aprc.weight<f32, [256]>
  %h = aprc.rms_norm %x, %g {eps = 1.0e-6 : f64} : (tensor<?x256xf32>, !aprc.weight<f32, [256]>) -> tensor<?x256xf32> loc("layers.0.attn_norm")
  %wq = aprc.weight_ref @q : !aprc.weight<q4_k, [256, 256]>
  %wk = aprc.weight_ref @k : !aprc.weight<q8_0, [128, 256]>
  %q, %k = aprc.fused_linear %h weights(%wq, %wk) epilogue none {result_names = ["q", "k"]} : (tensor<?x256xf32>, !aprc.weight<q4_k, [256, 256]>, !aprc.weight<q8_0, [128, 256]>) -> (tensor<?x256xf32>, tensor<?x128xf32>)
  %k2 = aprc.linear %h, %wk : (tensor<?x256xf32>, !aprc.weight<q8_0, [128, 256]>) -> tensor<?x128xf32> loc("again")
  return %q, %k, %k2 : tensor<?x256xf32>, tensor<?x128xf32>, tensor<?x128xf32>
}

// Into a projection with a residual epilogue: the prologue and the epilogue combine.
// CHECK-LABEL: func.func @with_residual
// CHECK: aprc.fused_linear %{{.*}} norm(%{{.*}}) weights(%{{.*}}) residual(%{{.*}}) epilogue residual {eps = 9.9999999999999995E-7 : f64, result_names = ["r"]}
func.func @with_residual(%x: tensor<1x256xf32>, %r: tensor<1x256xf32>) -> tensor<1x256xf32> {
  %g = aprc.weight_ref @g : !aprc.weight<f32, [256]>
  %h = aprc.rms_norm %x, %g {eps = 1.0e-6 : f64} : (tensor<1x256xf32>, !aprc.weight<f32, [256]>) -> tensor<1x256xf32>
  %wq = aprc.weight_ref @q : !aprc.weight<q4_k, [256, 256]>
  %y = aprc.fused_linear %h weights(%wq) residual(%r) epilogue residual {result_names = ["r"]} : (tensor<1x256xf32>, !aprc.weight<q4_k, [256, 256]>, tensor<1x256xf32>) -> tensor<1x256xf32>
  return %y : tensor<1x256xf32>
}

// Stays: the logits projection is not a linear (last_only has no fused form), and the norm's
// value is also returned.
// CHECK-LABEL: func.func @other_readers
// CHECK: aprc.rms_norm
// CHECK: aprc.logits
// CHECK: aprc.rms_norm
// CHECK: aprc.linear
func.func @other_readers(%x: tensor<?x256xf32>) -> (tensor<1x1000xf32>, tensor<?x256xf32>, tensor<?x128xf32>) {
  %g = aprc.weight_ref @g : !aprc.weight<f32, [256]>
  %h = aprc.rms_norm %x, %g {eps = 1.0e-6 : f64} : (tensor<?x256xf32>, !aprc.weight<f32, [256]>) -> tensor<?x256xf32>
  %wl = aprc.weight_ref @l : !aprc.weight<q8_0, [1000, 256]>
  %l = aprc.logits %h, %wl last_only : (tensor<?x256xf32>, !aprc.weight<q8_0, [1000, 256]>) -> tensor<1x1000xf32>
  %h2 = aprc.rms_norm %x, %g {eps = 1.0e-6 : f64} : (tensor<?x256xf32>, !aprc.weight<f32, [256]>) -> tensor<?x256xf32>
  %wk = aprc.weight_ref @k : !aprc.weight<q8_0, [128, 256]>
  %k = aprc.linear %h2, %wk : (tensor<?x256xf32>, !aprc.weight<q8_0, [128, 256]>) -> tensor<?x128xf32>
  return %l, %h2, %k : tensor<1x1000xf32>, tensor<?x256xf32>, tensor<?x128xf32>
}

// Stays: the fused_linear already has a norm, and the norm is also a residual.
// CHECK-LABEL: func.func @already_normalized
// CHECK-COUNT-2: aprc.rms_norm
func.func @already_normalized(%x: tensor<?x256xf32>) -> (tensor<?x256xf32>, tensor<?x256xf32>) {
  %g = aprc.weight_ref @g : !aprc.weight<f32, [256]>
  %wq = aprc.weight_ref @q : !aprc.weight<q4_k, [256, 256]>
  %h = aprc.rms_norm %x, %g {eps = 1.0e-6 : f64} : (tensor<?x256xf32>, !aprc.weight<f32, [256]>) -> tensor<?x256xf32>
  %y = aprc.fused_linear %h norm(%g) weights(%wq) epilogue none {eps = 1.0e-6 : f64, result_names = ["y"]} : (tensor<?x256xf32>, !aprc.weight<f32, [256]>, !aprc.weight<q4_k, [256, 256]>) -> tensor<?x256xf32>
  %h2 = aprc.rms_norm %x, %g {eps = 1.0e-6 : f64} : (tensor<?x256xf32>, !aprc.weight<f32, [256]>) -> tensor<?x256xf32>
  %z = aprc.fused_linear %y weights(%wq) residual(%h2) epilogue residual {result_names = ["z"]} : (tensor<?x256xf32>, !aprc.weight<q4_k, [256, 256]>, tensor<?x256xf32>) -> tensor<?x256xf32>
  return %y, %z : tensor<?x256xf32>, tensor<?x256xf32>
}
