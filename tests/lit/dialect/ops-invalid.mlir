// Every verifier error of the original ops (what the frontend emits).
// RUN: aprc-opt %s -split-input-file -verify-diagnostics

func.func @f(%x: tensor<?x?xf32>, %w: !aprc.weight<f32, [4]>) {
  // expected-error @+1 {{'aprc.silu' op operand #0 must be 2-D f32 tensor with static columns, but got 'tensor<?x?xf32>'}}
  %y = aprc.silu %x : tensor<?x?xf32>
  return
}

// -----

func.func @f(%ids: tensor<?xi32>, %t: !aprc.weight<f32, [64]>) {
  // expected-error @+1 {{'aprc.embedding' op table must be a matrix [out, in], got '!aprc.weight<f32, [64]>'}}
  %x = aprc.embedding %ids, %t : (tensor<?xi32>, !aprc.weight<f32, [64]>) -> tensor<?x64xf32>
  return
}

// -----

func.func @f(%ids: tensor<?xi32>, %t: !aprc.weight<f32, [10, 64]>) {
  // expected-error @+1 {{'aprc.embedding' op result has 32 columns but the table rows have 64}}
  %x = aprc.embedding %ids, %t : (tensor<?xi32>, !aprc.weight<f32, [10, 64]>) -> tensor<?x32xf32>
  return
}

// -----

func.func @f(%ids: tensor<3xi32>, %t: !aprc.weight<f32, [10, 64]>) {
  // expected-error @+1 {{'aprc.embedding' op result row count 4 differs from the row count 3 of ids}}
  %x = aprc.embedding %ids, %t : (tensor<3xi32>, !aprc.weight<f32, [10, 64]>) -> tensor<4x64xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %g: !aprc.weight<f32, [64]>) {
  // expected-error @+1 {{'aprc.rms_norm' op eps must not be negative}}
  %y = aprc.rms_norm %x, %g {eps = -1.0 : f64} : (tensor<?x64xf32>, !aprc.weight<f32, [64]>) -> tensor<?x64xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %g: !aprc.weight<f32, [32]>) {
  // expected-error @+1 {{'aprc.rms_norm' op gamma must be a vector [64], got '!aprc.weight<f32, [32]>'}}
  %y = aprc.rms_norm %x, %g {eps = 1.0e-6 : f64} : (tensor<?x64xf32>, !aprc.weight<f32, [32]>) -> tensor<?x64xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %g: !aprc.weight<f32, [64]>) {
  // expected-error @+1 {{'aprc.rms_norm' op result has 32 columns but the input has 64}}
  %y = aprc.rms_norm %x, %g {eps = 1.0e-6 : f64} : (tensor<?x64xf32>, !aprc.weight<f32, [64]>) -> tensor<?x32xf32>
  return
}

// -----

func.func @f(%x: tensor<2x64xf32>, %g: !aprc.weight<f32, [64]>) {
  // expected-error @+1 {{'aprc.rms_norm' op result row count 3 differs from the row count 2 of the input}}
  %y = aprc.rms_norm %x, %g {eps = 1.0e-6 : f64} : (tensor<2x64xf32>, !aprc.weight<f32, [64]>) -> tensor<3x64xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %w: !aprc.weight<f32, [64]>) {
  // expected-error @+1 {{'aprc.linear' op weight must be a matrix [out, in], got '!aprc.weight<f32, [64]>'}}
  %y = aprc.linear %x, %w : (tensor<?x64xf32>, !aprc.weight<f32, [64]>) -> tensor<?x64xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %w: !aprc.weight<q8_0, [16, 96]>) {
  // expected-error @+1 {{'aprc.linear' op input has 64 columns but the weight '!aprc.weight<q8_0, [16, 96]>' takes 96}}
  %y = aprc.linear %x, %w : (tensor<?x64xf32>, !aprc.weight<q8_0, [16, 96]>) -> tensor<?x16xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %w: !aprc.weight<q8_0, [16, 64]>) {
  // expected-error @+1 {{'aprc.linear' op result has 17 columns but the weight '!aprc.weight<q8_0, [16, 64]>' gives 16}}
  %y = aprc.linear %x, %w : (tensor<?x64xf32>, !aprc.weight<q8_0, [16, 64]>) -> tensor<?x17xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %w: !aprc.weight<q8_0, [16, 64]>, %b: !aprc.weight<f32, [64]>) {
  // expected-error @+1 {{'aprc.linear' op bias must be a vector [16], got '!aprc.weight<f32, [64]>'}}
  %y = aprc.linear %x, %w, %b : (tensor<?x64xf32>, !aprc.weight<q8_0, [16, 64]>, !aprc.weight<f32, [64]>) -> tensor<?x16xf32>
  return
}

// -----

func.func @f(%x: tensor<5x64xf32>, %w: !aprc.weight<q8_0, [16, 64]>) {
  // expected-error @+1 {{'aprc.linear' op result row count 1 differs from the row count 5 of the input}}
  %y = aprc.linear %x, %w : (tensor<5x64xf32>, !aprc.weight<q8_0, [16, 64]>) -> tensor<1x16xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %pos: index) {
  // expected-error @+1 {{'aprc.rope' op head_dim must be positive and even, got 7}}
  %y = aprc.rope %x, %pos {theta = 1.0e6 : f64, head_dim = 7} : tensor<?x64xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %pos: index) {
  // expected-error @+1 {{'aprc.rope' op input has 64 columns, not a whole number of heads of 48}}
  %y = aprc.rope %x, %pos {theta = 1.0e6 : f64, head_dim = 48} : tensor<?x64xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %pos: index) {
  // expected-error @+1 {{'aprc.rope' op theta must be positive}}
  %y = aprc.rope %x, %pos {theta = 0.0 : f64, head_dim = 16} : tensor<?x64xf32>
  return
}

// -----

aprc.kv_cache @kv {num_kv_heads = 2, head_dim = 16, max_seq = 64}
func.func @f(%k: tensor<?x32xf32>, %v: tensor<?x16xf32>, %pos: index) {
  // expected-error @+1 {{'aprc.kv_append' op k has 32 columns but v has 16}}
  aprc.kv_append %k, %v, @kv[%pos] : tensor<?x32xf32>, tensor<?x16xf32>
  return
}

// -----

aprc.kv_cache @kv {num_kv_heads = 2, head_dim = 16, max_seq = 64}
func.func @f(%k: tensor<2x32xf32>, %v: tensor<3x32xf32>, %pos: index) {
  // expected-error @+1 {{'aprc.kv_append' op k row count 2 differs from v row count 3}}
  aprc.kv_append %k, %v, @kv[%pos] : tensor<2x32xf32>, tensor<3x32xf32>
  return
}

// -----

aprc.weight @kv : !aprc.weight<f32, [32]> {source = "x"}
func.func @f(%k: tensor<?x32xf32>, %v: tensor<?x32xf32>, %pos: index) {
  // expected-error @+1 {{'aprc.kv_append' op 'kv' is not an aprc.kv_cache}}
  aprc.kv_append %k, %v, @kv[%pos] : tensor<?x32xf32>, tensor<?x32xf32>
  return
}

// -----

aprc.kv_cache @kv {num_kv_heads = 2, head_dim = 32, max_seq = 64}
func.func @f(%k: tensor<?x32xf32>, %v: tensor<?x32xf32>, %pos: index) {
  // expected-error @+1 {{'aprc.kv_append' op k has 32 columns but cache 'kv' holds 2 kv heads of 32}}
  aprc.kv_append %k, %v, @kv[%pos] : tensor<?x32xf32>, tensor<?x32xf32>
  return
}

// -----

func.func @f(%q: tensor<?x64xf32>, %pos: index) {
  // expected-error @+1 {{'aprc.attention' op 'kv' is not an aprc.kv_cache}}
  %a = aprc.attention %q, @kv[%pos] {scale = 0.25 : f64} : tensor<?x64xf32>
  return
}

// -----

aprc.kv_cache @kv {num_kv_heads = 2, head_dim = 16, max_seq = 64}
func.func @f(%q: tensor<?x48xf32>, %pos: index) {
  // expected-error @+1 {{'aprc.attention' op q has 48 columns, not a whole multiple of the 2 kv heads of 16 in cache 'kv'}}
  %a = aprc.attention %q, @kv[%pos] {scale = 0.25 : f64} : tensor<?x48xf32>
  return
}

// -----

aprc.kv_cache @kv {num_kv_heads = 2, head_dim = 16, max_seq = 64}
func.func @f(%q: tensor<?x64xf32>, %pos: index) {
  // expected-error @+1 {{'aprc.attention' op scale must be positive}}
  %a = aprc.attention %q, @kv[%pos] {scale = -0.25 : f64} : tensor<?x64xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %w: !aprc.weight<f32, [64]>) {
  // expected-error @+1 {{'aprc.logits' op weight must be a matrix [out, in], got '!aprc.weight<f32, [64]>'}}
  %l = aprc.logits %x, %w : (tensor<?x64xf32>, !aprc.weight<f32, [64]>) -> tensor<?x64xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %w: !aprc.weight<f32, [100, 32]>) {
  // expected-error @+1 {{'aprc.logits' op input has 64 columns but the weight '!aprc.weight<f32, [100, 32]>' takes 32}}
  %l = aprc.logits %x, %w : (tensor<?x64xf32>, !aprc.weight<f32, [100, 32]>) -> tensor<?x100xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %w: !aprc.weight<f32, [100, 64]>) {
  // expected-error @+1 {{'aprc.logits' op result has 99 columns but the vocabulary has 100}}
  %l = aprc.logits %x, %w : (tensor<?x64xf32>, !aprc.weight<f32, [100, 64]>) -> tensor<?x99xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %w: !aprc.weight<f32, [100, 64]>) {
  // expected-error @+1 {{'aprc.logits' op with last_only the result row count must be 1, not ?}}
  %l = aprc.logits %x, %w last_only : (tensor<?x64xf32>, !aprc.weight<f32, [100, 64]>) -> tensor<?x100xf32>
  return
}

// -----

func.func @f(%x: tensor<4x64xf32>, %w: !aprc.weight<f32, [100, 64]>) {
  // expected-error @+1 {{'aprc.logits' op result row count 1 differs from the row count 4 of the input}}
  %l = aprc.logits %x, %w : (tensor<4x64xf32>, !aprc.weight<f32, [100, 64]>) -> tensor<1x100xf32>
  return
}
