// aprc-fuse-shared-input-linears: the linears that read one input become one fused_linear with a
// result per weight, named after each linear; linears with and without biases group separately.
// RUN: aprc-opt %s --aprc-fuse-shared-input-linears | FileCheck %s

aprc.weight @q : !aprc.weight<q4_k, [256, 256]> {source = "q"}
aprc.weight @k : !aprc.weight<q8_0, [128, 256]> {source = "k"}
aprc.weight @v : !aprc.weight<q6_k, [128, 256]> {source = "v"}
aprc.weight @qb : !aprc.weight<f32, [256]> {source = "qb"}
aprc.weight @kb : !aprc.weight<f32, [128]> {source = "kb"}
aprc.weight @vb : !aprc.weight<f32, [128]> {source = "vb"}

// q, k, v with biases, each weight_ref just before its linear as the IR builder writes them: the
// later weight_refs move up to the first linear.
// CHECK-LABEL: func.func @qkv
// CHECK-SAME: (%[[X:.*]]: tensor<?x256xf32>)
// CHECK-DAG: %[[WQ:.*]] = aprc.weight_ref @q :
// CHECK-DAG: %[[BQ:.*]] = aprc.weight_ref @qb :
// CHECK-DAG: %[[WK:.*]] = aprc.weight_ref @k :
// CHECK-DAG: %[[BK:.*]] = aprc.weight_ref @kb :
// CHECK-DAG: %[[WV:.*]] = aprc.weight_ref @v :
// CHECK-DAG: %[[BV:.*]] = aprc.weight_ref @vb :
// CHECK: %[[R:.*]]:3 = aprc.fused_linear %[[X]] weights(%[[WQ]], %[[WK]], %[[WV]]) biases(%[[BQ]], %[[BK]], %[[BV]]) epilogue none {result_names = ["layers.0.attn.q_proj", "layers.0.attn.k_proj", "layers.0.attn.v_proj"]}
// CHECK-SAME: -> (tensor<?x256xf32>, tensor<?x128xf32>, tensor<?x128xf32>)
// CHECK-NOT: aprc.linear
// CHECK: return %[[R]]#0, %[[R]]#1, %[[R]]#2
func.func @qkv(%x: tensor<?x256xf32>) -> (tensor<?x256xf32>, tensor<?x128xf32>, tensor<?x128xf32>) {
  %wq = aprc.weight_ref @q : !aprc.weight<q4_k, [256, 256]>
  %bq = aprc.weight_ref @qb : !aprc.weight<f32, [256]>
  %q = aprc.linear %x, %wq, %bq : (tensor<?x256xf32>, !aprc.weight<q4_k, [256, 256]>, !aprc.weight<f32, [256]>) -> tensor<?x256xf32> loc("layers.0.attn.q_proj")
  %wk = aprc.weight_ref @k : !aprc.weight<q8_0, [128, 256]>
  %bk = aprc.weight_ref @kb : !aprc.weight<f32, [128]>
  %k = aprc.linear %x, %wk, %bk : (tensor<?x256xf32>, !aprc.weight<q8_0, [128, 256]>, !aprc.weight<f32, [128]>) -> tensor<?x128xf32> loc("layers.0.attn.k_proj")
  %wv = aprc.weight_ref @v : !aprc.weight<q6_k, [128, 256]>
  %bv = aprc.weight_ref @vb : !aprc.weight<f32, [128]>
  %v = aprc.linear %x, %wv, %bv : (tensor<?x256xf32>, !aprc.weight<q6_k, [128, 256]>, !aprc.weight<f32, [128]>) -> tensor<?x128xf32> loc("layers.0.attn.v_proj")
  return %q, %k, %v : tensor<?x256xf32>, tensor<?x128xf32>, tensor<?x128xf32>
}

// Two with biases and two without: two fused_linears. The lone linear of another input stays.
// CHECK-LABEL: func.func @mixed_biases
// CHECK: aprc.fused_linear %{{.*}} weights(%{{.*}}, %{{.*}}) biases(%{{.*}}, %{{.*}}) epilogue none {result_names = ["a", "c"]}
// CHECK: aprc.fused_linear %{{.*}} weights(%{{.*}}, %{{.*}}) epilogue none {result_names = ["b", "d"]}
// CHECK: aprc.linear
// CHECK-NOT: aprc.linear
func.func @mixed_biases(%x: tensor<1x256xf32>, %y: tensor<1x256xf32>) -> (tensor<1x256xf32>, tensor<1x128xf32>, tensor<1x128xf32>, tensor<1x128xf32>, tensor<1x128xf32>) {
  %wq = aprc.weight_ref @q : !aprc.weight<q4_k, [256, 256]>
  %bq = aprc.weight_ref @qb : !aprc.weight<f32, [256]>
  %wk = aprc.weight_ref @k : !aprc.weight<q8_0, [128, 256]>
  %bk = aprc.weight_ref @kb : !aprc.weight<f32, [128]>
  %wv = aprc.weight_ref @v : !aprc.weight<q6_k, [128, 256]>
  %a = aprc.linear %x, %wq, %bq : (tensor<1x256xf32>, !aprc.weight<q4_k, [256, 256]>, !aprc.weight<f32, [256]>) -> tensor<1x256xf32> loc("a")
  %b = aprc.linear %x, %wk : (tensor<1x256xf32>, !aprc.weight<q8_0, [128, 256]>) -> tensor<1x128xf32> loc("b")
  %c = aprc.linear %x, %wk, %bk : (tensor<1x256xf32>, !aprc.weight<q8_0, [128, 256]>, !aprc.weight<f32, [128]>) -> tensor<1x128xf32> loc("c")
  %d = aprc.linear %x, %wv : (tensor<1x256xf32>, !aprc.weight<q6_k, [128, 256]>) -> tensor<1x128xf32> loc("d")
  %e = aprc.linear %y, %wv : (tensor<1x256xf32>, !aprc.weight<q6_k, [128, 256]>) -> tensor<1x128xf32> loc("e")
  return %a, %b, %c, %d, %e : tensor<1x256xf32>, tensor<1x128xf32>, tensor<1x128xf32>, tensor<1x128xf32>, tensor<1x128xf32>
}

// The only linear of its input stays as it is.
// CHECK-LABEL: func.func @lone_linear
// CHECK: aprc.linear
// CHECK-NOT: aprc.fused_linear
func.func @lone_linear(%x: tensor<?x256xf32>) -> tensor<?x128xf32> {
  %wk = aprc.weight_ref @k : !aprc.weight<q8_0, [128, 256]>
  %k = aprc.linear %x, %wk : (tensor<?x256xf32>, !aprc.weight<q8_0, [128, 256]>) -> tensor<?x128xf32>
  return %k : tensor<?x128xf32>
}
