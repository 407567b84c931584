// Errors of the compact form: layer weights and caches, aprc.decoder_layers and its layer functions,
// and aprc-expand-layers on layer declarations that no aprc.decoder_layers uses.
// RUN: aprc-opt %s --aprc-expand-layers -split-input-file -verify-diagnostics

// expected-error @+1 {{'aprc.layer_weight' op symbol 'w' must be FUNCTION.NAME (the layer function that reads it, the weight's name in a layer)}}
aprc.layer_weight @w : !aprc.weight<f32, [8]> {source = "blk.{}.w"}

// -----

// expected-error @+1 {{'aprc.layer_kv_cache' op head_dim must be even (rope rotates halves), got 5}}
aprc.layer_kv_cache @kv {num_kv_heads = 1, head_dim = 5, max_seq = 16}

// -----

aprc.layer_weight @layer_a.w : !aprc.weight<f32, [8, 8]> {source = "blk.{}.w"}
func.func @decode(%x: tensor<1x8xf32>) -> !aprc.weight<f32, [8, 8]> {
  // expected-error @+1 {{'aprc.weight_ref' op 'layer_a.w' is a weight of the layer function '@layer_a', not of '@decode'}}
  %w = aprc.weight_ref @layer_a.w : !aprc.weight<f32, [8, 8]>
  return %w : !aprc.weight<f32, [8, 8]>
}

// -----

aprc.layer_kv_cache @kv {num_kv_heads = 2, head_dim = 4, max_seq = 16}
func.func @decode(%x: tensor<1x8xf32>, %pos: index) -> tensor<1x8xf32> {
  // expected-error @+1 {{'aprc.attention' op 'kv' is a per-layer cache (aprc.layer_kv_cache): only a private layer function that aprc.decoder_layers runs reads it}}
  %a = aprc.attention %x, @kv[%pos] {scale = 0.5 : f64} : tensor<1x8xf32>
  return %a : tensor<1x8xf32>
}

// -----

func.func @decode(%x: tensor<1x8xf32>, %pos: index) -> tensor<1x8xf32> {
  // expected-error @+1 {{'aprc.decoder_layers' op layer 0: 'nope' is not a function}}
  %h = aprc.decoder_layers %x, %pos [@nope] : tensor<1x8xf32>
  return %h : tensor<1x8xf32>
}

// -----

func.func private @layer_a(%x: tensor<?x16xf32>, %pos: index) -> tensor<?x16xf32> {
  return %x : tensor<?x16xf32>
}
func.func @decode(%x: tensor<1x8xf32>, %pos: index) -> tensor<1x8xf32> {
  // expected-error @+1 {{'aprc.decoder_layers' op layer 0: '@layer_a' has type '(tensor<?x16xf32>, index) -> tensor<?x16xf32>' but a layer of this input takes '(tensor<?x8xf32>, index) -> tensor<?x8xf32>'}}
  %h = aprc.decoder_layers %x, %pos [@layer_a] : tensor<1x8xf32>
  return %h : tensor<1x8xf32>
}

// -----

func.func @layer_a(%x: tensor<?x8xf32>, %pos: index) -> tensor<?x8xf32> {
  return %x : tensor<?x8xf32>
}
func.func @decode(%x: tensor<1x8xf32>, %pos: index) -> tensor<1x8xf32> {
  // expected-error @+1 {{'aprc.decoder_layers' op layer 1: '@layer_a' must be a private function with a body}}
  %h = aprc.decoder_layers %x, %pos [@decode_layer, @layer_a] : tensor<1x8xf32>
  return %h : tensor<1x8xf32>
}
func.func private @decode_layer(%x: tensor<?x8xf32>, %pos: index) -> tensor<?x8xf32> {
  return %x : tensor<?x8xf32>
}

// -----

module attributes {aprc.config = {num_layers = 3 : i64}} {
  func.func private @layer_a(%x: tensor<?x8xf32>, %pos: index) -> tensor<?x8xf32> {
    return %x : tensor<?x8xf32>
  }
  func.func @decode(%x: tensor<1x8xf32>, %pos: index) -> tensor<1x8xf32> {
    // expected-error @+1 {{'aprc.decoder_layers' op lists 2 layers but the model has 3 (aprc.config num_layers)}}
    %h = aprc.decoder_layers %x, %pos [@layer_a, @layer_a] : tensor<1x8xf32>
    return %h : tensor<1x8xf32>
  }
}

// -----

func.func private @layer_a(%x: tensor<?x8xf32>, %pos: index) -> tensor<?x8xf32> {
  return %x : tensor<?x8xf32>
}
func.func private @layer_b(%x: tensor<?x8xf32>, %pos: index) -> tensor<?x8xf32> {
  return %x : tensor<?x8xf32>
}
func.func @prefill(%x: tensor<?x8xf32>, %pos: index) -> tensor<?x8xf32> {
  %h = aprc.decoder_layers %x, %pos [@layer_a, @layer_a] : tensor<?x8xf32>
  return %h : tensor<?x8xf32>
}
func.func @decode(%x: tensor<1x8xf32>, %pos: index) -> tensor<1x8xf32> {
  // expected-error @+1 {{'aprc.decoder_layers' op layer 1 is @layer_b here but @layer_a in '@prefill'}}
  %h = aprc.decoder_layers %x, %pos [@layer_a, @layer_b] : tensor<1x8xf32>
  return %h : tensor<1x8xf32>
}

// -----

// expected-error @+1 {{aprc-expand-layers: layer declarations but no aprc.decoder_layers to say which layer runs which function}}
module {
  aprc.layer_kv_cache @kv {num_kv_heads = 2, head_dim = 4, max_seq = 16}
}
