// The dialect's checks of aprc.fp8_per_token_activations (AprcDialect.td).
// RUN: aprc-opt %s -split-input-file -verify-diagnostics

aprc.weight @w : !aprc.weight<fp8e4m3, [8, 8], per_channel> {source = "w"}
func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %w = aprc.weight_ref @w : !aprc.weight<fp8e4m3, [8, 8], per_channel>
  // expected-error @+1 {{'aprc.fp8_per_token_activations' must be a unit attribute}}
  %y = aprc.linear %x, %w {aprc.fp8_per_token_activations = 1 : i64} : (tensor<?x8xf32>, !aprc.weight<fp8e4m3, [8, 8], per_channel>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'aprc.fp8_per_token_activations' belongs on aprc.linear, aprc.fused_linear or aprc.logits}}
  %y = aprc.silu %x {aprc.fp8_per_token_activations} : tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

aprc.weight @w : !aprc.weight<q8_0, [8, 32]> {source = "w"}
aprc.weight @b : !aprc.weight<fp8e4m3, [8], per_channel> {source = "b"}
func.func @f(%x: tensor<?x32xf32>) -> tensor<?x8xf32> {
  %w = aprc.weight_ref @w : !aprc.weight<q8_0, [8, 32]>
  %b = aprc.weight_ref @b : !aprc.weight<fp8e4m3, [8], per_channel>
  // expected-error @+1 {{'aprc.fp8_per_token_activations' needs an fp8e4m3 weight to multiply}}
  %y = aprc.linear %x, %w, %b {aprc.fp8_per_token_activations} : (tensor<?x32xf32>, !aprc.weight<q8_0, [8, 32]>, !aprc.weight<fp8e4m3, [8], per_channel>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}
