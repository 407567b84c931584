// aprc-fold-residual-into-linear: add(r, y) where y is a single-weight projection read only by the
// add -> a fused_linear with a residual epilogue named after the add.
// RUN: aprc-opt %s --aprc-fold-residual-into-linear | FileCheck %s

aprc.weight @g : !aprc.weight<f32, [256]> {source = "g"}
aprc.weight @o : !aprc.weight<q4_k, [256, 256]> {source = "o"}
aprc.weight @d : !aprc.weight<q6_k, [256, 512]> {source = "d"}
aprc.weight @k : !aprc.weight<q8_0, [128, 256]> {source = "k"}

// CHECK-LABEL: func.func @layer_residuals
// CHECK-SAME: (%[[X:.*]]: tensor<?x256xf32>, %[[A:.*]]: tensor<?x256xf32>, %[[M:.*]]: tensor<?x512xf32>)
// CHECK: %[[R:.*]] = aprc.fused_linear %[[A]] weights(%{{.*}}) residual(%[[X]]) epilogue residual {result_names = ["layers.0.attn_residual"]}
// CHECK: %[[Y:.*]] = aprc.fused_linear %[[M]] weights(%{{.*}}) residual(%[[R]]) epilogue residual {result_names = ["layers.0.mlp_residual"]}
// CHECK-NOT: aprc.add
// CHECK: return %[[Y]]
func.func @layer_residuals(%x: tensor<?x256xf32>, %a: tensor<?x256xf32>, %m: tensor<?x512xf32>) -> tensor<?x256xf32> {
  %wo = aprc.weight_ref @o : !aprc.weight<q4_k, [256, 256]>
  %o = aprc.linear %a, %wo : (tensor<?x256xf32>, !aprc.weight<q4_k, [256, 256]>) -> tensor<?x256xf32> loc("layers.0.attn.o_proj")
  %r = aprc.add %x, %o : tensor<?x256xf32> loc("layers.0.attn_residual")
  %wd = aprc.weight_ref @d : !aprc.weight<q6_k, [256, 512]>
  %dn = aprc.linear %m, %wd : (tensor<?x512xf32>, !aprc.weight<q6_k, [256, 512]>) -> tensor<?x256xf32> loc("layers.0.mlp.down_proj")
  %y = aprc.add %dn, %r : tensor<?x256xf32> loc("layers.0.mlp_residual")
  return %y : tensor<?x256xf32>
}

// A projection with a norm prologue (a fused_linear of one weight) folds too, keeping the prologue.
// CHECK-LABEL: func.func @normalized_projection
// CHECK: aprc.fused_linear %{{.*}} norm(%{{.*}}) weights(%{{.*}}) residual(%{{.*}}) epilogue residual {eps = 1.000000e-05 : f64, result_names = ["sum"]}
func.func @normalized_projection(%x: tensor<1x256xf32>) -> tensor<1x256xf32> {
  %g = aprc.weight_ref @g : !aprc.weight<f32, [256]>
  %wo = aprc.weight_ref @o : !aprc.weight<q4_k, [256, 256]>
  %y = aprc.fused_linear %x norm(%g) weights(%wo) epilogue none {eps = 1.0e-5 : f64, result_names = ["o"]} : (tensor<1x256xf32>, !aprc.weight<f32, [256]>, !aprc.weight<q4_k, [256, 256]>) -> tensor<1x256xf32>
  %s = aprc.add %x, %y : tensor<1x256xf32> loc("sum")
  return %s : tensor<1x256xf32>
}

// Stays: the projection is read again after the add; a fused_linear of two weights; a swiglu.
// CHECK-LABEL: func.func @not_foldable
// CHECK-COUNT-3: aprc.add
func.func @not_foldable(%x: tensor<?x256xf32>, %m: tensor<?x512xf32>) -> (tensor<?x256xf32>, tensor<?x256xf32>, tensor<?x256xf32>, tensor<?x256xf32>) {
  %wo = aprc.weight_ref @o : !aprc.weight<q4_k, [256, 256]>
  %o = aprc.linear %x, %wo : (tensor<?x256xf32>, !aprc.weight<q4_k, [256, 256]>) -> tensor<?x256xf32>
  %r = aprc.add %x, %o : tensor<?x256xf32>
  %wk = aprc.weight_ref @k : !aprc.weight<q8_0, [128, 256]>
  %o2, %k = aprc.fused_linear %x weights(%wo, %wk) epilogue none {result_names = ["o2", "k"]} : (tensor<?x256xf32>, !aprc.weight<q4_k, [256, 256]>, !aprc.weight<q8_0, [128, 256]>) -> (tensor<?x256xf32>, tensor<?x128xf32>)
  %r2 = aprc.add %x, %o2 : tensor<?x256xf32>
  %s = aprc.fused_linear %x weights(%wo, %wo) epilogue swiglu {result_names = ["s"]} : (tensor<?x256xf32>, !aprc.weight<q4_k, [256, 256]>, !aprc.weight<q4_k, [256, 256]>) -> tensor<?x256xf32>
  %r3 = aprc.add %x, %s : tensor<?x256xf32>
  return %r, %o, %r2, %r3 : tensor<?x256xf32>, tensor<?x256xf32>, tensor<?x256xf32>, tensor<?x256xf32>
}
