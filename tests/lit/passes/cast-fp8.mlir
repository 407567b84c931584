// aprc-cast-fp8: the selected groups of matrix weights become fp8e4m3 (row_major, per_channel by
// default); tables, norms, biases, unselected groups and weights also read as a table keep their
// types; weight_refs and their users follow; per-token-activations marks the fp8 products of
// prefill functions only. The default group is `layers`: every product inside the layers, not the
// output projection nor a matrix of no group. The output verifies again.
// RUN: aprc-opt %s --aprc-cast-fp8=ops=all | aprc-opt | FileCheck %s --check-prefix=ALL
// RUN: aprc-opt %s --aprc-cast-fp8 | aprc-opt | FileCheck %s --check-prefix=LAYERS
// RUN: aprc-opt %s --aprc-cast-fp8="ops=mlp granularity=per_tensor" | FileCheck %s --check-prefix=MLP
// RUN: aprc-opt %s --aprc-cast-fp8="ops=attn_qkv,logits per-token-activations=1" | aprc-opt | FileCheck %s --check-prefix=ACT
// RUN: not aprc-opt %s --aprc-cast-fp8="ops=mlp,attention" 2>&1 | FileCheck %s --check-prefix=BAD
// BAD: aprc-cast-fp8: unknown group 'attention' in ops= (groups: attn_qkv, attn_proj, mlp, logits, layers, all)

module {
  // ALL: aprc.weight @embed.weight : !aprc.weight<q4_k, [1000, 256]>
  // MLP: aprc.weight @embed.weight : !aprc.weight<q4_k, [1000, 256]>
  aprc.weight @embed.weight : !aprc.weight<q4_k, [1000, 256]> {source = "model.embed_tokens.weight"}
  // ALL: aprc.weight @layers.0.attn_norm.weight : !aprc.weight<f32, [256]>
  aprc.weight @layers.0.attn_norm.weight : !aprc.weight<f32, [256]> {source = "n"}
  // ALL: aprc.weight @layers.0.attn.q_proj.weight : !aprc.weight<fp8e4m3, [256, 256], per_channel> {source = "q"}
  // LAYERS: aprc.weight @layers.0.attn.q_proj.weight : !aprc.weight<fp8e4m3, [256, 256], per_channel>
  // MLP: aprc.weight @layers.0.attn.q_proj.weight : !aprc.weight<q4_k, [256, 256]>
  // ACT: aprc.weight @layers.0.attn.q_proj.weight : !aprc.weight<fp8e4m3, [256, 256], per_channel>
  aprc.weight @layers.0.attn.q_proj.weight : !aprc.weight<q4_k, [256, 256]> {source = "q"}
  // ALL: aprc.weight @layers.0.attn.q_proj.bias : !aprc.weight<f32, [256]>
  aprc.weight @layers.0.attn.q_proj.bias : !aprc.weight<f32, [256]> {source = "qb"}
  // ALL: aprc.weight @layers.0.attn.o_proj.weight : !aprc.weight<fp8e4m3, [256, 256], per_channel>
  // LAYERS: aprc.weight @layers.0.attn.o_proj.weight : !aprc.weight<fp8e4m3, [256, 256], per_channel>
  // MLP: aprc.weight @layers.0.attn.o_proj.weight : !aprc.weight<q6_k, [256, 256]>
  // ACT: aprc.weight @layers.0.attn.o_proj.weight : !aprc.weight<q6_k, [256, 256]>
  aprc.weight @layers.0.attn.o_proj.weight : !aprc.weight<q6_k, [256, 256]> {source = "o"}
  // ALL: aprc.weight @layers.0.mlp.gate_proj.weight : !aprc.weight<fp8e4m3, [512, 256], per_channel>
  // LAYERS: aprc.weight @layers.0.mlp.gate_proj.weight : !aprc.weight<fp8e4m3, [512, 256], per_channel>
  // MLP: aprc.weight @layers.0.mlp.gate_proj.weight : !aprc.weight<fp8e4m3, [512, 256], per_tensor>
  // ACT: aprc.weight @layers.0.mlp.gate_proj.weight : !aprc.weight<q4_k, [512, 256]>
  aprc.weight @layers.0.mlp.gate_proj.weight : !aprc.weight<q4_k, [512, 256]> {source = "g"}
  // MLP: aprc.weight @layers.0.mlp.up_proj.weight : !aprc.weight<fp8e4m3, [512, 256], per_tensor>
  // LAYERS: aprc.weight @layers.0.mlp.up_proj.weight : !aprc.weight<fp8e4m3, [512, 256], per_channel>
  aprc.weight @layers.0.mlp.up_proj.weight : !aprc.weight<q8_0, [512, 256]> {source = "u"}
  // MLP: aprc.weight @layers.0.mlp.down_proj.weight : !aprc.weight<fp8e4m3, [256, 512], per_tensor>
  aprc.weight @layers.0.mlp.down_proj.weight : !aprc.weight<fp8e4m3, [256, 512], per_channel> {source = "d"}
  // A matrix of no group: cast only by `all`.
  // ALL: aprc.weight @extra.weight : !aprc.weight<fp8e4m3, [256, 256], per_channel>
  // MLP: aprc.weight @extra.weight : !aprc.weight<q8_0, [256, 256]>
  // LAYERS: aprc.weight @extra.weight : !aprc.weight<q8_0, [256, 256]>
  aprc.weight @extra.weight : !aprc.weight<q8_0, [256, 256]> {source = "x"}
  // Named like a projection but also read as a table: kept.
  // ALL: aprc.weight @layers.0.attn.k_proj.weight : !aprc.weight<q8_0, [1000, 256]>
  aprc.weight @layers.0.attn.k_proj.weight : !aprc.weight<q8_0, [1000, 256]> {source = "k"}
  // Unused: kept.
  // ALL: aprc.weight @layers.0.attn.v_proj.weight : !aprc.weight<q8_0, [128, 256]>
  aprc.weight @layers.0.attn.v_proj.weight : !aprc.weight<q8_0, [128, 256]> {source = "v"}
  // ALL: aprc.weight @logits.weight : !aprc.weight<fp8e4m3, [1000, 256], per_channel> {source = "model.embed_tokens.weight"}
  // MLP: aprc.weight @logits.weight : !aprc.weight<q4_k, [1000, 256]>
  // LAYERS: aprc.weight @logits.weight : !aprc.weight<q4_k, [1000, 256]>
  // ACT: aprc.weight @logits.weight : !aprc.weight<fp8e4m3, [1000, 256], per_channel>
  aprc.weight @logits.weight : !aprc.weight<q4_k, [1000, 256]> {source = "model.embed_tokens.weight"}

  // ALL-LABEL: func.func @prefill
  // ACT-LABEL: func.func @prefill
  func.func @prefill(%ids: tensor<?xi32>, %pos: index) -> tensor<1x1000xf32> {
    %e = aprc.weight_ref @embed.weight : !aprc.weight<q4_k, [1000, 256]>
    %x = aprc.embedding %ids, %e : (tensor<?xi32>, !aprc.weight<q4_k, [1000, 256]>) -> tensor<?x256xf32>
    %kt = aprc.weight_ref @layers.0.attn.k_proj.weight : !aprc.weight<q8_0, [1000, 256]>
    %x2 = aprc.embedding %ids, %kt : (tensor<?xi32>, !aprc.weight<q8_0, [1000, 256]>) -> tensor<?x256xf32>
    %n = aprc.weight_ref @layers.0.attn_norm.weight : !aprc.weight<f32, [256]>
    // ALL: %[[WQ:.*]] = aprc.weight_ref @layers.0.attn.q_proj.weight : !aprc.weight<fp8e4m3, [256, 256], per_channel>
    %wq = aprc.weight_ref @layers.0.attn.q_proj.weight : !aprc.weight<q4_k, [256, 256]>
    %bq = aprc.weight_ref @layers.0.attn.q_proj.bias : !aprc.weight<f32, [256]>
    // ALL: aprc.fused_linear %{{.*}} norm(%{{.*}}) weights(%[[WQ]]) biases(%{{.*}}) epilogue none {eps = {{.*}}, result_names = ["q"]} : (tensor<?x256xf32>, !aprc.weight<f32, [256]>, !aprc.weight<fp8e4m3, [256, 256], per_channel>, !aprc.weight<f32, [256]>) -> tensor<?x256xf32>
    // ACT: aprc.fused_linear {{.*}} epilogue none {aprc.fp8_per_token_activations, eps = {{.*}}, result_names = ["q"]}
    %q = aprc.fused_linear %x2 norm(%n) weights(%wq) biases(%bq) epilogue none {eps = 1.0e-6 : f64, result_names = ["q"]} : (tensor<?x256xf32>, !aprc.weight<f32, [256]>, !aprc.weight<q4_k, [256, 256]>, !aprc.weight<f32, [256]>) -> tensor<?x256xf32>
    %wo = aprc.weight_ref @layers.0.attn.o_proj.weight : !aprc.weight<q6_k, [256, 256]>
    // ACT: aprc.linear %{{.*}}, %{{.*}} : (tensor<?x256xf32>, !aprc.weight<q6_k, [256, 256]>) -> tensor<?x256xf32>
    %o = aprc.linear %q, %wo : (tensor<?x256xf32>, !aprc.weight<q6_k, [256, 256]>) -> tensor<?x256xf32>
    %wg = aprc.weight_ref @layers.0.mlp.gate_proj.weight : !aprc.weight<q4_k, [512, 256]>
    %wu = aprc.weight_ref @layers.0.mlp.up_proj.weight : !aprc.weight<q8_0, [512, 256]>
    // ALL: aprc.fused_linear %{{.*}} weights(%{{.*}}, %{{.*}}) epilogue swiglu {result_names = ["mul"]} : (tensor<?x256xf32>, !aprc.weight<fp8e4m3, [512, 256], per_channel>, !aprc.weight<fp8e4m3, [512, 256], per_channel>) -> tensor<?x512xf32>
    %m = aprc.fused_linear %o weights(%wg, %wu) epilogue swiglu {result_names = ["mul"]} : (tensor<?x256xf32>, !aprc.weight<q4_k, [512, 256]>, !aprc.weight<q8_0, [512, 256]>) -> tensor<?x512xf32>
    %wd = aprc.weight_ref @layers.0.mlp.down_proj.weight : !aprc.weight<fp8e4m3, [256, 512], per_channel>
    // ACT: aprc.linear %{{.*}}, %{{.*}} {aprc.fp8_per_token_activations} : (tensor<?x512xf32>, !aprc.weight<fp8e4m3, [256, 512], per_channel>) -> tensor<?x256xf32>
    %d = aprc.linear %m, %wd : (tensor<?x512xf32>, !aprc.weight<fp8e4m3, [256, 512], per_channel>) -> tensor<?x256xf32>
    %wx = aprc.weight_ref @extra.weight : !aprc.weight<q8_0, [256, 256]>
    %r = aprc.linear %d, %wx : (tensor<?x256xf32>, !aprc.weight<q8_0, [256, 256]>) -> tensor<?x256xf32>
    %wl = aprc.weight_ref @logits.weight : !aprc.weight<q4_k, [1000, 256]>
    // ALL: aprc.logits %{{.*}}, %{{.*}} last_only : (tensor<?x256xf32>, !aprc.weight<fp8e4m3, [1000, 256], per_channel>) -> tensor<1x1000xf32>
    // ACT: aprc.logits %{{.*}}, %{{.*}} last_only {aprc.fp8_per_token_activations} : (tensor<?x256xf32>, !aprc.weight<fp8e4m3, [1000, 256], per_channel>) -> tensor<1x1000xf32>
    %l = aprc.logits %r, %wl last_only : (tensor<?x256xf32>, !aprc.weight<q4_k, [1000, 256]>) -> tensor<1x1000xf32>
    return %l : tensor<1x1000xf32>
  }

  // Decode (one row): fp8 weights, but no per-token activation scaling.
  // ACT-LABEL: func.func @decode
  func.func @decode(%x: tensor<1x256xf32>, %pos: index) -> tensor<1x1000xf32> {
    // ACT: aprc.weight_ref @layers.0.attn.q_proj.weight : !aprc.weight<fp8e4m3, [256, 256], per_channel>
    %wq = aprc.weight_ref @layers.0.attn.q_proj.weight : !aprc.weight<q4_k, [256, 256]>
    // ACT-NOT: aprc.fp8_per_token_activations
    // ACT: aprc.linear %{{.*}}, %{{.*}} : (tensor<1x256xf32>, !aprc.weight<fp8e4m3, [256, 256], per_channel>) -> tensor<1x256xf32>
    %q = aprc.linear %x, %wq : (tensor<1x256xf32>, !aprc.weight<q4_k, [256, 256]>) -> tensor<1x256xf32>
    %wl = aprc.weight_ref @logits.weight : !aprc.weight<q4_k, [1000, 256]>
    // ACT: aprc.logits %{{.*}}, %{{.*}} : (tensor<1x256xf32>, !aprc.weight<fp8e4m3, [1000, 256], per_channel>) -> tensor<1x1000xf32>
    %l = aprc.logits %q, %wl : (tensor<1x256xf32>, !aprc.weight<q4_k, [1000, 256]>) -> tensor<1x1000xf32>
    return %l : tensor<1x1000xf32>
  }
}
