// aprc-inject-fault{op=PATTERN}: after the op a pattern names, y = x + silu(x) takes the op's name
// and the op's own value is renamed NAME.unperturbed; on a fused op by its result_names, or by its
// location for an op the fusion absorbed; `*` matches any run of characters; no match is an error.
// RUN: aprc-opt %s --aprc-inject-fault=op=layers.0.mlp.up_proj --mlir-print-debuginfo | FileCheck %s --check-prefix=PLAIN
// RUN: aprc-opt %s --aprc-inject-fault=op=layers.0.mlp_residual | FileCheck %s --check-prefix=FUSED
// RUN: aprc-opt %s --aprc-inject-fault=op=layers.0.mlp.down_proj | FileCheck %s --check-prefix=FUSED
// RUN: aprc-opt %s --aprc-inject-fault=op=layers.0.attn.k_proj | FileCheck %s --check-prefix=ONE
// RUN: aprc-opt %s --aprc-inject-fault=op=layers.*.attn.*_proj | FileCheck %s --check-prefix=GLOB
// RUN: not aprc-opt %s --aprc-inject-fault=op=layers.9.mlp.down_proj 2>&1 | FileCheck %s --check-prefix=NONE

aprc.weight @u : !aprc.weight<f32, [16, 8]> {source = "u"}
aprc.weight @d : !aprc.weight<f32, [8, 16]> {source = "d"}

// PLAIN-LABEL: func.func @plain
// PLAIN: %[[U:.*]] = aprc.linear %{{.*}} loc(#[[UNPERTURBED:.*]])
// PLAIN-NEXT: %[[S:.*]] = aprc.silu %[[U]] : tensor<?x16xf32> loc(#[[FAULT:.*]])
// PLAIN-NEXT: %[[Y:.*]] = aprc.add %[[U]], %[[S]] : tensor<?x16xf32> loc(#[[NAMED:.*]])
// PLAIN-NEXT: aprc.fused_linear %[[Y]] weights
// FUSED-LABEL: func.func @plain
// FUSED: %[[U:.*]] = aprc.linear
// FUSED: %[[R:.*]] = aprc.fused_linear %[[U]] weights(%{{.*}}) residual(%{{.*}}) epilogue residual {result_names = ["layers.0.mlp_residual.unperturbed"]}
// FUSED-NEXT: %[[S:.*]] = aprc.silu %[[R]]
// FUSED-NEXT: %[[Y:.*]] = aprc.add %[[R]], %[[S]]
// FUSED-NEXT: return %[[Y]]
func.func @plain(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %wu = aprc.weight_ref @u : !aprc.weight<f32, [16, 8]>
  %wd = aprc.weight_ref @d : !aprc.weight<f32, [8, 16]>
  %u = aprc.linear %x, %wu : (tensor<?x8xf32>, !aprc.weight<f32, [16, 8]>) -> tensor<?x16xf32> loc("layers.0.mlp.up_proj")
  %r = aprc.fused_linear %u weights(%wd) residual(%x) epilogue residual {result_names = ["layers.0.mlp_residual"]} : (tensor<?x16xf32>, !aprc.weight<f32, [8, 16]>, tensor<?x8xf32>) -> tensor<?x8xf32> loc(fused["layers.0.mlp.down_proj", "layers.0.mlp_residual"])
  return %r : tensor<?x8xf32>
}
// PLAIN-DAG: #[[UNPERTURBED]] = loc("layers.0.mlp.up_proj.unperturbed"
// PLAIN-DAG: #[[FAULT]] = loc("layers.0.mlp.up_proj.fault"
// PLAIN-DAG: #[[NAMED]] = loc("layers.0.mlp.up_proj"

aprc.weight @q : !aprc.weight<f32, [8, 8]> {source = "q"}
aprc.weight @k : !aprc.weight<f32, [4, 8]> {source = "k"}

// ONE-LABEL: func.func @qk
// ONE: %[[QK:.*]]:2 = aprc.fused_linear {{.*}}result_names = ["layers.0.attn.q_proj", "layers.0.attn.k_proj.unperturbed"]
// ONE-NEXT: %[[S:.*]] = aprc.silu %[[QK]]#1 : tensor<?x4xf32>
// ONE-NEXT: %[[Y:.*]] = aprc.add %[[QK]]#1, %[[S]]
// ONE-NEXT: return %[[QK]]#0, %[[Y]]
// GLOB-LABEL: func.func @qk
// GLOB: result_names = ["layers.0.attn.q_proj.unperturbed", "layers.0.attn.k_proj.unperturbed"]
// GLOB-COUNT-2: aprc.silu
// NONE: error: aprc-inject-fault: no op is named 'layers.9.mlp.down_proj'
func.func @qk(%x: tensor<?x8xf32>) -> (tensor<?x8xf32>, tensor<?x4xf32>) {
  %wq = aprc.weight_ref @q : !aprc.weight<f32, [8, 8]>
  %wk = aprc.weight_ref @k : !aprc.weight<f32, [4, 8]>
  %q, %k = aprc.fused_linear %x weights(%wq, %wk) epilogue none {result_names = ["layers.0.attn.q_proj", "layers.0.attn.k_proj"]} : (tensor<?x8xf32>, !aprc.weight<f32, [8, 8]>, !aprc.weight<f32, [4, 8]>) -> (tensor<?x8xf32>, tensor<?x4xf32>) loc(fused["layers.0.attn.q_proj", "layers.0.attn.k_proj"])
  return %q, %k : tensor<?x8xf32>, tensor<?x4xf32>
}
