// aprc-expand-layers: each aprc.decoder_layers becomes its layer functions' bodies, layer i named
// layers.i.<op> on the weights @layers.i.NAME (source with {} = i) and the cache @layers.i.kv, the
// rows of the caller's activations; the layer functions and declarations go. Running it on an
// expanded module changes nothing; every pipeline runs it first (an injected fault names layer ops).
// RUN: aprc-opt %s --aprc-expand-layers --mlir-print-debuginfo | FileCheck %s
// RUN: aprc-opt %s --aprc-expand-layers | aprc-opt --aprc-expand-layers | FileCheck %s --check-prefix=AGAIN
// RUN: aprc-opt %s --aprc-optimize | FileCheck %s --check-prefix=OPT
// RUN: aprc-opt %s --aprc-lower-cpu="max-tokens=4 inject-fault=layers.1.proj" --mlir-print-debuginfo | FileCheck %s --check-prefix=FAULT

module attributes {aprc.config = {num_layers = 3 : i64}} {
  aprc.weight @embed.weight : !aprc.weight<f32, [11, 8]> {source = "embed"}
  aprc.layer_weight @layer_a.norm.weight : !aprc.weight<f32, [8]> {source = "blk.{}.norm"}
  aprc.layer_weight @layer_a.proj.weight : !aprc.weight<f32, [8, 8]> {source = "blk.{}.proj"}
  aprc.layer_weight @layer_b.norm.weight : !aprc.weight<f32, [8]> {source = "blk.{}.norm"}
  aprc.layer_weight @layer_b.proj.weight : !aprc.weight<f16, [8, 8]> {source = "blk.{}.proj.{}"}
  aprc.weight @final_norm.weight : !aprc.weight<f32, [8]> {source = "norm"}
  aprc.layer_kv_cache @kv {num_kv_heads = 2, head_dim = 4, max_seq = 16}

  func.func private @layer_a(%x: tensor<?x8xf32>, %pos: index) -> tensor<?x8xf32> {
    %g = aprc.weight_ref @layer_a.norm.weight : !aprc.weight<f32, [8]> loc("norm.weight")
    %h = aprc.rms_norm %x, %g {eps = 1.0e-6 : f64} : (tensor<?x8xf32>, !aprc.weight<f32, [8]>) -> tensor<?x8xf32> loc("norm")
    %w = aprc.weight_ref @layer_a.proj.weight : !aprc.weight<f32, [8, 8]> loc("proj.weight")
    %y = aprc.linear %h, %w : (tensor<?x8xf32>, !aprc.weight<f32, [8, 8]>) -> tensor<?x8xf32> loc("proj")
    aprc.kv_append %y, %y, @kv[%pos] : tensor<?x8xf32>, tensor<?x8xf32> loc("kv_append")
    %a = aprc.attention %y, @kv[%pos] {scale = 0.5 : f64} : tensor<?x8xf32> loc("attention")
    %r = aprc.add %x, %a : tensor<?x8xf32> loc("residual")
    return %r : tensor<?x8xf32>
  }
  func.func private @layer_b(%x: tensor<?x8xf32>, %pos: index) -> tensor<?x8xf32> {
    %g = aprc.weight_ref @layer_b.norm.weight : !aprc.weight<f32, [8]> loc("norm.weight")
    %h = aprc.rms_norm %x, %g {eps = 1.0e-6 : f64} : (tensor<?x8xf32>, !aprc.weight<f32, [8]>) -> tensor<?x8xf32> loc("norm")
    %w = aprc.weight_ref @layer_b.proj.weight : !aprc.weight<f16, [8, 8]> loc("proj.weight")
    %y = aprc.linear %h, %w : (tensor<?x8xf32>, !aprc.weight<f16, [8, 8]>) -> tensor<?x8xf32> loc("proj")
    aprc.kv_append %y, %y, @kv[%pos] : tensor<?x8xf32>, tensor<?x8xf32> loc("kv_append")
    %a = aprc.attention %y, @kv[%pos] {scale = 0.5 : f64} : tensor<?x8xf32> loc("attention")
    %r = aprc.add %x, %a : tensor<?x8xf32> loc("residual")
    return %r : tensor<?x8xf32>
  }

  func.func @decode(%ids: tensor<1xi32>, %pos: index) -> tensor<1x8xf32> {
    %t = aprc.weight_ref @embed.weight : !aprc.weight<f32, [11, 8]>
    %x = aprc.embedding %ids, %t : (tensor<1xi32>, !aprc.weight<f32, [11, 8]>) -> tensor<1x8xf32> loc("embed")
    %h = aprc.decoder_layers %x, %pos [@layer_a, @layer_b, @layer_a] : tensor<1x8xf32> loc("layers")
    %g = aprc.weight_ref @final_norm.weight : !aprc.weight<f32, [8]>
    %n = aprc.rms_norm %h, %g {eps = 1.0e-6 : f64} : (tensor<1x8xf32>, !aprc.weight<f32, [8]>) -> tensor<1x8xf32> loc("final_norm")
    return %n : tensor<1x8xf32>
  }
}

// CHECK:      aprc.weight @embed.weight : !aprc.weight<f32, [11, 8]> {source = "embed"}
// CHECK-NEXT: aprc.weight @layers.0.norm.weight : !aprc.weight<f32, [8]> {source = "blk.0.norm"}
// CHECK-NEXT: aprc.weight @layers.0.proj.weight : !aprc.weight<f32, [8, 8]> {source = "blk.0.proj"}
// CHECK-NEXT: aprc.weight @layers.1.norm.weight : !aprc.weight<f32, [8]> {source = "blk.1.norm"}
// CHECK-NEXT: aprc.weight @layers.1.proj.weight : !aprc.weight<f16, [8, 8]> {source = "blk.1.proj.1"}
// CHECK-NEXT: aprc.weight @layers.2.norm.weight : !aprc.weight<f32, [8]> {source = "blk.2.norm"}
// CHECK-NEXT: aprc.weight @layers.2.proj.weight : !aprc.weight<f32, [8, 8]> {source = "blk.2.proj"}
// CHECK-NEXT: aprc.weight @final_norm.weight
// CHECK-NEXT: aprc.kv_cache @layers.0.kv {head_dim = 4 : i64, max_seq = 16 : i64, num_kv_heads = 2 : i64}
// CHECK-NEXT: aprc.kv_cache @layers.1.kv {head_dim = 4 : i64, max_seq = 16 : i64, num_kv_heads = 2 : i64}
// CHECK-NEXT: aprc.kv_cache @layers.2.kv {head_dim = 4 : i64, max_seq = 16 : i64, num_kv_heads = 2 : i64}
// CHECK-NOT:  aprc.layer_
// CHECK-NOT:  @layer_
// CHECK-LABEL: func.func @decode(
// CHECK:      %[[X:.*]] = aprc.embedding
// CHECK:      aprc.weight_ref @layers.0.norm.weight : !aprc.weight<f32, [8]> loc(#[[NORM_W0:loc[0-9]*]])
// CHECK-NEXT: aprc.rms_norm %[[X]], %{{.*}} {eps = {{.*}}} : (tensor<1x8xf32>, !aprc.weight<f32, [8]>) -> tensor<1x8xf32> loc(#[[NORM0:loc[0-9]*]])
// CHECK:      aprc.kv_append %{{.*}}, %{{.*}}, @layers.0.kv[%arg1] : tensor<1x8xf32>, tensor<1x8xf32>
// CHECK:      %[[Y0:.*]] = aprc.add %[[X]], %{{.*}} : tensor<1x8xf32> loc(#[[RES0:loc[0-9]*]])
// CHECK:      aprc.rms_norm %[[Y0]]
// CHECK:      aprc.weight_ref @layers.1.proj.weight : !aprc.weight<f16, [8, 8]>
// CHECK:      aprc.kv_append %{{.*}}, %{{.*}}, @layers.1.kv[%arg1] : tensor<1x8xf32>, tensor<1x8xf32> loc(#[[APPEND1:loc[0-9]*]])
// CHECK:      aprc.attention %{{.*}}, @layers.1.kv[%arg1] {scale = 5.000000e-01 : f64} : tensor<1x8xf32>
// CHECK:      %[[Y1:.*]] = aprc.add %[[Y0]], %{{.*}} : tensor<1x8xf32>
// CHECK:      aprc.rms_norm %[[Y1]]
// CHECK:      aprc.weight_ref @layers.2.proj.weight : !aprc.weight<f32, [8, 8]>
// CHECK:      %[[Y2:.*]] = aprc.add %[[Y1]], %{{.*}} : tensor<1x8xf32> loc(#[[RES2:loc[0-9]*]])
// CHECK-NEXT: aprc.weight_ref @final_norm.weight
// CHECK-NEXT: aprc.rms_norm %[[Y2]]
// CHECK-DAG:  #[[NORM_W0]] = loc("layers.0.norm.weight")
// CHECK-DAG:  #[[NORM0]] = loc("layers.0.norm")
// CHECK-DAG:  #[[RES0]] = loc("layers.0.residual")
// CHECK-DAG:  #[[APPEND1]] = loc("layers.1.kv_append")
// CHECK-DAG:  #[[RES2]] = loc("layers.2.residual")

// AGAIN-COUNT-3: aprc.kv_cache @layers.
// AGAIN-NOT:     aprc.decoder_layers
// AGAIN-COUNT-3: aprc.add

// OPT-NOT: aprc.decoder_layers
// OPT:     aprc.weight_ref @layers.0.norm.weight
// OPT:     aprc.fused_linear
// OPT-COUNT-3: aprc.attention

// FAULT-NOT: aprc.decoder_layers
// FAULT-DAG: result_names = ["layers.1.proj.unperturbed"]
// FAULT-DAG: loc("layers.1.proj.fault"
