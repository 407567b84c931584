// The passes that read per-layer declarations, names or buffers refuse the compact layer form (they
// would skip the layer weights silently) and name the pass to run first; the pipelines run it.
// RUN: not aprc-opt %s --aprc-repack-weights=target=cpu 2>&1 | FileCheck %s --check-prefix=REPACK
// RUN: not aprc-opt %s --aprc-cast-fp8 2>&1 | FileCheck %s --check-prefix=CAST
// RUN: not aprc-opt %s --aprc-dequantize-weights 2>&1 | FileCheck %s --check-prefix=DEQ
// RUN: not aprc-opt %s --aprc-inject-fault=op=layers.0.proj 2>&1 | FileCheck %s --check-prefix=FAULT
// RUN: not aprc-opt %s --pass-pipeline="builtin.module(func.func(aprc-plan-memory{max-tokens=4}))" 2>&1 | FileCheck %s --check-prefix=PLAN
// RUN: aprc-opt %s --aprc-expand-layers --aprc-repack-weights=target=cpu --aprc-cast-fp8=ops=all | FileCheck %s --check-prefix=EXPANDED
// REPACK: error: aprc-repack-weights needs one op per layer: run aprc-expand-layers first
// CAST: error: aprc-cast-fp8 needs one op per layer: run aprc-expand-layers first
// DEQ: error: aprc-dequantize-weights needs one op per layer: run aprc-expand-layers first
// FAULT: error: aprc-inject-fault needs one op per layer: run aprc-expand-layers first
// PLAN: error: {{.*}}aprc-plan-memory needs one op per layer: run aprc-expand-layers first
// EXPANDED: aprc.weight @layers.1.proj.weight : !aprc.weight<fp8e4m3, [8, 8], per_channel>

module attributes {aprc.config = {num_layers = 2 : i64}} {
  aprc.weight @embed.weight : !aprc.weight<f32, [11, 8]> {source = "embed"}
  aprc.layer_weight @layer_a.proj.weight : !aprc.weight<f32, [8, 8]> {source = "blk.{}.proj"}
  func.func private @layer_a(%x: tensor<?x8xf32>, %pos: index) -> tensor<?x8xf32> {
    %w = aprc.weight_ref @layer_a.proj.weight : !aprc.weight<f32, [8, 8]> loc("proj.weight")
    %y = aprc.linear %x, %w : (tensor<?x8xf32>, !aprc.weight<f32, [8, 8]>) -> tensor<?x8xf32> loc("proj")
    %r = aprc.add %x, %y : tensor<?x8xf32> loc("residual")
    return %r : tensor<?x8xf32>
  }
  func.func @decode(%ids: tensor<1xi32>, %pos: index) -> tensor<1x8xf32> {
    %t = aprc.weight_ref @embed.weight : !aprc.weight<f32, [11, 8]>
    %x = aprc.embedding %ids, %t : (tensor<1xi32>, !aprc.weight<f32, [11, 8]>) -> tensor<1x8xf32> loc("embed")
    %h = aprc.decoder_layers %x, %pos [@layer_a, @layer_a] : tensor<1x8xf32> loc("layers")
    return %h : tensor<1x8xf32>
  }
}
