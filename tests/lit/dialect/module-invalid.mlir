// Errors of the module-level declarations, weight_ref and the config attribute.
// RUN: aprc-opt %s -split-input-file -verify-diagnostics

// expected-error @+1 {{'aprc.config' must be a dictionary of the model configuration}}
module attributes {aprc.config = 3 : i64} {}

// -----

module {
  // expected-error @+1 {{'aprc.config' belongs on the module}}
  func.func private @f() attributes {aprc.config = {}}
}

// -----

// expected-error @+1 {{unknown aprc attribute 'aprc.colour'}}
module attributes {aprc.colour = "blue"} {}

// -----

// expected-error @+1 {{'aprc.kv_cache' op num_kv_heads, head_dim and max_seq must be positive}}
aprc.kv_cache @kv {num_kv_heads = 0, head_dim = 64, max_seq = 16}

// -----

// expected-error @+1 {{'aprc.kv_cache' op head_dim must be even (rope rotates halves), got 63}}
aprc.kv_cache @kv {num_kv_heads = 2, head_dim = 63, max_seq = 16}

// -----

func.func @f() {
  // expected-error @+1 {{'aprc.weight' op expects parent op 'builtin.module'}}
  aprc.weight @w : !aprc.weight<f32, [4]> {source = "w"}
  return
}

// -----

aprc.kv_cache @kv {num_kv_heads = 2, head_dim = 64, max_seq = 16}
func.func @f() {
  // expected-error @+1 {{'aprc.weight_ref' op 'kv' is not an aprc.weight}}
  %w = aprc.weight_ref @kv : !aprc.weight<f32, [4]>
  return
}

// -----

func.func @f() {
  // expected-error @+1 {{'aprc.weight_ref' op 'missing' is not an aprc.weight}}
  %w = aprc.weight_ref @missing : !aprc.weight<f32, [4]>
  return
}

// -----

aprc.weight @w : !aprc.weight<q8_0, [4, 32]> {source = "w"}
func.func @f() {
  // expected-error @+1 {{'aprc.weight_ref' op result type '!aprc.weight<q6_k, [4, 256]>' differs from the declared '!aprc.weight<q8_0, [4, 32]>' of 'w'}}
  %w = aprc.weight_ref @w : !aprc.weight<q6_k, [4, 256]>
  return
}
