// The pipelines on one layer as the IR builder writes it: aprc-optimize leaves per layer one
// fused_linear for norm+q/k/v, one rope (q), one rope_kv_append, the attention, one fused_linear for
// o_proj+residual, one for norm+gate/up+swiglu and one for down_proj+residual; aprc-lower-cpu also
// plans the memory; aprc-lower-cuda also joins the rope of q and the rope_kv_append (one op less).
// RUN: aprc-opt %s --aprc-optimize | FileCheck %s
// RUN: aprc-opt %s --aprc-lower-cpu=max-tokens=8 | FileCheck %s --check-prefix=LOWER
// RUN: aprc-opt %s --aprc-lower-cuda | FileCheck %s --check-prefix=CUDA
// RUN: aprc-opt --help | FileCheck %s --check-prefix=HELP

// HELP-DAG: --aprc-fold-norm-into-linear {{ *}}- {{ *}}Fold an rms_norm into the RMSNorm prologue
// HELP-DAG: --aprc-fold-residual-into-linear {{ *}}- {{ *}}Fold add(r, linear(x))
// HELP-DAG: --aprc-fuse-gate-up-swiglu {{ *}}- {{ *}}Fuse mul(silu(linear(x, Wg)), linear(x, Wu))
// HELP-DAG: --aprc-fuse-rope-kv-append {{ *}}- {{ *}}Fuse rope(k) feeding kv_append
// HELP-DAG: --aprc-fuse-q-rope-into-kv-append {{ *}}- {{ *}}Fuse the rope of q into the rope_kv_append
// HELP-DAG: --aprc-fuse-shared-input-linears {{ *}}- {{ *}}Fuse the linears that read one input
// HELP-DAG: --aprc-plan-memory {{ *}}- {{ *}}Place every activation of a function in one arena
// HELP-DAG: --aprc-repack-weights {{ *}}- {{ *}}Give every weight that the matrix kernels read
// HELP-DAG: --aprc-expand-layers {{ *}}- {{ *}}Unroll aprc.decoder_layers into every op of every layer
// HELP-DAG: --aprc-optimize {{ *}}- {{ *}}aprc-expand-layers, then every fusion of aprc
// HELP-DAG: --aprc-lower-cpu {{ *}}- {{ *}}aprc-optimize, the CPU weight layouts and the memory plan
// HELP-DAG: --aprc-lower-cuda {{ *}}- {{ *}}aprc-optimize, aprc-fuse-q-rope-into-kv-append, the CUDA weight layouts and the memory plan

aprc.weight @embed.weight : !aprc.weight<q4_k, [301, 256]> {source = "model.embed_tokens.weight"}
aprc.weight @layers.0.attn_norm.weight : !aprc.weight<f32, [256]> {source = "an"}
aprc.weight @layers.0.attn.q_proj.weight : !aprc.weight<q8_0, [256, 256]> {source = "q"}
aprc.weight @layers.0.attn.q_proj.bias : !aprc.weight<f32, [256]> {source = "qb"}
aprc.weight @layers.0.attn.k_proj.weight : !aprc.weight<q5_0, [128, 256]> {source = "k"}
aprc.weight @layers.0.attn.k_proj.bias : !aprc.weight<f32, [128]> {source = "kb"}
aprc.weight @layers.0.attn.v_proj.weight : !aprc.weight<q6_k, [128, 256]> {source = "v"}
aprc.weight @layers.0.attn.v_proj.bias : !aprc.weight<f32, [128]> {source = "vb"}
aprc.weight @layers.0.attn.o_proj.weight : !aprc.weight<q4_k, [256, 256]> {source = "o"}
aprc.weight @layers.0.mlp_norm.weight : !aprc.weight<f32, [256]> {source = "mn"}
aprc.weight @layers.0.mlp.gate_proj.weight : !aprc.weight<q5_k, [512, 256]> {source = "g"}
aprc.weight @layers.0.mlp.up_proj.weight : !aprc.weight<aprq4, [512, 256]> {source = "u"}
aprc.weight @layers.0.mlp.down_proj.weight : !aprc.weight<q6_k, [256, 512]> {source = "d"}
aprc.weight @final_norm.weight : !aprc.weight<f32, [256]> {source = "fn"}
aprc.weight @logits.weight : !aprc.weight<q8_0, [301, 256]> {source = "lm"}
aprc.kv_cache @layers.0.kv {head_dim = 64 : i64, max_seq = 64 : i64, num_kv_heads = 2 : i64}

// CHECK-LABEL: func.func @prefill
// CHECK-SAME: (%[[IDS:.*]]: tensor<?xi32>, %[[POS:.*]]: index)
// CHECK: %[[X:.*]] = aprc.embedding %[[IDS]]
// CHECK: %[[QKV:.*]]:3 = aprc.fused_linear %[[X]] norm(%{{.*}}) weights(%{{.*}}, %{{.*}}, %{{.*}}) biases(%{{.*}}, %{{.*}}, %{{.*}}) epilogue none {eps = 9.9999999999999995E-7 : f64, result_names = ["layers.0.attn.q_proj", "layers.0.attn.k_proj", "layers.0.attn.v_proj"]}
// CHECK: %[[QR:.*]] = aprc.rope %[[QKV]]#0, %[[POS]]
// CHECK: aprc.rope_kv_append %[[QKV]]#1, %[[QKV]]#2, @layers.0.kv[%[[POS]]] {result_names = ["layers.0.attn.k_rope"], theta = 1.000000e+06 : f64}
// CHECK: %[[A:.*]] = aprc.attention %[[QR]], @layers.0.kv[%[[POS]]]
// CHECK: %[[R:.*]] = aprc.fused_linear %[[A]] weights(%{{.*}}) residual(%[[X]]) epilogue residual {result_names = ["layers.0.attn_residual"]}
// CHECK: %[[M:.*]] = aprc.fused_linear %[[R]] norm(%{{.*}}) weights(%{{.*}}, %{{.*}}) epilogue swiglu {eps = 9.9999999999999995E-7 : f64, result_names = ["layers.0.mlp.mul"]}
// CHECK: %[[Y:.*]] = aprc.fused_linear %[[M]] weights(%{{.*}}) residual(%[[R]]) epilogue residual {result_names = ["layers.0.mlp_residual"]}
// CHECK: %[[F:.*]] = aprc.rms_norm %[[Y]]
// CHECK: aprc.logits %[[F]]
// CHECK-NOT: aprc.linear
// CHECK-NOT: aprc.kv_append
// CHECK-NOT: aprc.silu
// CHECK-NOT: aprc.add

// LOWER-LABEL: func.func @prefill
// LOWER-SAME: attributes {aprc.arena_bytes = {{[0-9]+}} : i64, aprc.max_tokens = {{8|512}} : i64}
// LOWER-COUNT-10: aprc.offsets
// LOWER-NOT: aprc.offsets

// CUDA-LABEL: func.func @prefill
// CUDA-SAME: attributes {aprc.arena_bytes = {{[0-9]+}} : i64, aprc.max_tokens = 512 : i64}
// CUDA-NOT: aprc.rope %
// CUDA: %[[FQ:[^,]*]], %{{.*}} = aprc.rope_qk_kv_append %[[QKV:.*]]#0, %[[QKV]]#1, %[[QKV]]#2, @layers.0.kv
// CUDA-SAME: result_names = ["layers.0.attn.q_rope", "layers.0.attn.k_rope"]
// CUDA: aprc.attention %[[FQ]],
// CUDA-NOT: aprc.rope_kv_append
func.func @prefill(%ids: tensor<?xi32> loc("ids"), %pos: index loc("pos")) -> tensor<?x301xf32> {
  %0 = aprc.weight_ref @embed.weight : !aprc.weight<q4_k, [301, 256]> loc("embed.weight")
  %1 = aprc.embedding %ids, %0 : (tensor<?xi32>, !aprc.weight<q4_k, [301, 256]>) -> tensor<?x256xf32> loc("embed")
  %2 = aprc.weight_ref @layers.0.attn_norm.weight : !aprc.weight<f32, [256]> loc("layers.0.attn_norm.weight")
  %3 = aprc.rms_norm %1, %2 {eps = 9.9999999999999995E-7 : f64} : (tensor<?x256xf32>, !aprc.weight<f32, [256]>) -> tensor<?x256xf32> loc("layers.0.attn_norm")
  %4 = aprc.weight_ref @layers.0.attn.q_proj.weight : !aprc.weight<q8_0, [256, 256]> loc("layers.0.attn.q_proj.weight")
  %5 = aprc.weight_ref @layers.0.attn.q_proj.bias : !aprc.weight<f32, [256]> loc("layers.0.attn.q_proj.bias")
  %6 = aprc.linear %3, %4, %5 : (tensor<?x256xf32>, !aprc.weight<q8_0, [256, 256]>, !aprc.weight<f32, [256]>) -> tensor<?x256xf32> loc("layers.0.attn.q_proj")
  %7 = aprc.weight_ref @layers.0.attn.k_proj.weight : !aprc.weight<q5_0, [128, 256]> loc("layers.0.attn.k_proj.weight")
  %8 = aprc.weight_ref @layers.0.attn.k_proj.bias : !aprc.weight<f32, [128]> loc("layers.0.attn.k_proj.bias")
  %9 = aprc.linear %3, %7, %8 : (tensor<?x256xf32>, !aprc.weight<q5_0, [128, 256]>, !aprc.weight<f32, [128]>) -> tensor<?x128xf32> loc("layers.0.attn.k_proj")
  %10 = aprc.weight_ref @layers.0.attn.v_proj.weight : !aprc.weight<q6_k, [128, 256]> loc("layers.0.attn.v_proj.weight")
  %11 = aprc.weight_ref @layers.0.attn.v_proj.bias : !aprc.weight<f32, [128]> loc("layers.0.attn.v_proj.bias")
  %12 = aprc.linear %3, %10, %11 : (tensor<?x256xf32>, !aprc.weight<q6_k, [128, 256]>, !aprc.weight<f32, [128]>) -> tensor<?x128xf32> loc("layers.0.attn.v_proj")
  %13 = aprc.rope %6, %pos {head_dim = 64 : i64, theta = 1.000000e+06 : f64} : tensor<?x256xf32> loc("layers.0.attn.q_rope")
  %14 = aprc.rope %9, %pos {head_dim = 64 : i64, theta = 1.000000e+06 : f64} : tensor<?x128xf32> loc("layers.0.attn.k_rope")
  aprc.kv_append %14, %12, @layers.0.kv[%pos] : tensor<?x128xf32>, tensor<?x128xf32> loc("layers.0.attn.kv_append")
  %15 = aprc.attention %13, @layers.0.kv[%pos] {scale = 1.250000e-01 : f64} : tensor<?x256xf32> loc("layers.0.attn.attention")
  %16 = aprc.weight_ref @layers.0.attn.o_proj.weight : !aprc.weight<q4_k, [256, 256]> loc("layers.0.attn.o_proj.weight")
  %17 = aprc.linear %15, %16 : (tensor<?x256xf32>, !aprc.weight<q4_k, [256, 256]>) -> tensor<?x256xf32> loc("layers.0.attn.o_proj")
  %18 = aprc.add %1, %17 : tensor<?x256xf32> loc("layers.0.attn_residual")
  %19 = aprc.weight_ref @layers.0.mlp_norm.weight : !aprc.weight<f32, [256]> loc("layers.0.mlp_norm.weight")
  %20 = aprc.rms_norm %18, %19 {eps = 9.9999999999999995E-7 : f64} : (tensor<?x256xf32>, !aprc.weight<f32, [256]>) -> tensor<?x256xf32> loc("layers.0.mlp_norm")
  %21 = aprc.weight_ref @layers.0.mlp.gate_proj.weight : !aprc.weight<q5_k, [512, 256]> loc("layers.0.mlp.gate_proj.weight")
  %22 = aprc.linear %20, %21 : (tensor<?x256xf32>, !aprc.weight<q5_k, [512, 256]>) -> tensor<?x512xf32> loc("layers.0.mlp.gate_proj")
  %23 = aprc.weight_ref @layers.0.mlp.up_proj.weight : !aprc.weight<aprq4, [512, 256]> loc("layers.0.mlp.up_proj.weight")
  %24 = aprc.linear %20, %23 : (tensor<?x256xf32>, !aprc.weight<aprq4, [512, 256]>) -> tensor<?x512xf32> loc("layers.0.mlp.up_proj")
  %25 = aprc.silu %22 : tensor<?x512xf32> loc("layers.0.mlp.silu")
  %26 = aprc.mul %25, %24 : tensor<?x512xf32> loc("layers.0.mlp.mul")
  %27 = aprc.weight_ref @layers.0.mlp.down_proj.weight : !aprc.weight<q6_k, [256, 512]> loc("layers.0.mlp.down_proj.weight")
  %28 = aprc.linear %26, %27 : (tensor<?x512xf32>, !aprc.weight<q6_k, [256, 512]>) -> tensor<?x256xf32> loc("layers.0.mlp.down_proj")
  %29 = aprc.add %18, %28 : tensor<?x256xf32> loc("layers.0.mlp_residual")
  %30 = aprc.weight_ref @final_norm.weight : !aprc.weight<f32, [256]> loc("final_norm.weight")
  %31 = aprc.rms_norm %29, %30 {eps = 9.9999999999999995E-7 : f64} : (tensor<?x256xf32>, !aprc.weight<f32, [256]>) -> tensor<?x256xf32> loc("final_norm")
  %32 = aprc.weight_ref @logits.weight : !aprc.weight<q8_0, [301, 256]> loc("logits.weight")
  %33 = aprc.logits %31, %32 : (tensor<?x256xf32>, !aprc.weight<q8_0, [301, 256]>) -> tensor<?x301xf32> loc("logits")
  return %33 : tensor<?x301xf32> loc("prefill")
}
