// Every verifier error of the fused ops (what the passes emit).
// RUN: aprc-opt %s -split-input-file -verify-diagnostics

func.func @f(%x: tensor<?x64xf32>, %n: !aprc.weight<f32, [32]>, %w: !aprc.weight<f32, [16, 64]>) {
  // expected-error @+1 {{'aprc.fused_linear' op norm must be a vector [64], got '!aprc.weight<f32, [32]>'}}
  %y = aprc.fused_linear %x norm(%n) weights(%w) epilogue none {eps = 1.0e-6 : f64, result_names = ["y"]} : (tensor<?x64xf32>, !aprc.weight<f32, [32]>, !aprc.weight<f32, [16, 64]>) -> tensor<?x16xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %n: !aprc.weight<f32, [64]>, %w: !aprc.weight<f32, [16, 64]>) {
  // expected-error @+1 {{'aprc.fused_linear' op has a norm prologue but no eps}}
  %y = aprc.fused_linear %x norm(%n) weights(%w) epilogue none {result_names = ["y"]} : (tensor<?x64xf32>, !aprc.weight<f32, [64]>, !aprc.weight<f32, [16, 64]>) -> tensor<?x16xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %n: !aprc.weight<f32, [64]>, %w: !aprc.weight<f32, [16, 64]>) {
  // expected-error @+1 {{'aprc.fused_linear' op eps must not be negative}}
  %y = aprc.fused_linear %x norm(%n) weights(%w) epilogue none {eps = -1.0 : f64, result_names = ["y"]} : (tensor<?x64xf32>, !aprc.weight<f32, [64]>, !aprc.weight<f32, [16, 64]>) -> tensor<?x16xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %w: !aprc.weight<f32, [16, 64]>) {
  // expected-error @+1 {{'aprc.fused_linear' op has an eps but no norm prologue}}
  %y = aprc.fused_linear %x weights(%w) epilogue none {eps = 1.0e-6 : f64, result_names = ["y"]} : (tensor<?x64xf32>, !aprc.weight<f32, [16, 64]>) -> tensor<?x16xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>) {
  // expected-error @+1 {{'aprc.fused_linear' op needs at least one weight}}
  aprc.fused_linear %x weights() epilogue none {result_names = []} : (tensor<?x64xf32>) -> ()
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %w: !aprc.weight<f32, [64]>) {
  // expected-error @+1 {{'aprc.fused_linear' op every weight must be a matrix [out, in], got '!aprc.weight<f32, [64]>'}}
  %y = aprc.fused_linear %x weights(%w) epilogue none {result_names = ["y"]} : (tensor<?x64xf32>, !aprc.weight<f32, [64]>) -> tensor<?x64xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %a: !aprc.weight<f32, [16, 64]>, %b: !aprc.weight<f32, [16, 32]>) {
  // expected-error @+1 {{'aprc.fused_linear' op input has 64 columns but the weight '!aprc.weight<f32, [16, 32]>' takes 32}}
  %y:2 = aprc.fused_linear %x weights(%a, %b) epilogue none {result_names = ["a", "b"]} : (tensor<?x64xf32>, !aprc.weight<f32, [16, 64]>, !aprc.weight<f32, [16, 32]>) -> (tensor<?x16xf32>, tensor<?x16xf32>)
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %a: !aprc.weight<f32, [16, 64]>, %c: !aprc.weight<f32, [8, 64]>, %ba: !aprc.weight<f32, [16]>) {
  // expected-error @+1 {{'aprc.fused_linear' op has 1 biases for 2 weights (give one per weight or none)}}
  %y:2 = aprc.fused_linear %x weights(%a, %c) biases(%ba) epilogue none {result_names = ["a", "c"]} : (tensor<?x64xf32>, !aprc.weight<f32, [16, 64]>, !aprc.weight<f32, [8, 64]>, !aprc.weight<f32, [16]>) -> (tensor<?x16xf32>, tensor<?x8xf32>)
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %a: !aprc.weight<f32, [16, 64]>, %c: !aprc.weight<f32, [8, 64]>, %ba: !aprc.weight<f32, [16]>) {
  // expected-error @+1 {{'aprc.fused_linear' op each bias must be a vector [8], got '!aprc.weight<f32, [16]>'}}
  %y:2 = aprc.fused_linear %x weights(%a, %c) biases(%ba, %ba) epilogue none {result_names = ["a", "c"]} : (tensor<?x64xf32>, !aprc.weight<f32, [16, 64]>, !aprc.weight<f32, [8, 64]>, !aprc.weight<f32, [16]>, !aprc.weight<f32, [16]>) -> (tensor<?x16xf32>, tensor<?x8xf32>)
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %a: !aprc.weight<f32, [16, 64]>) {
  // expected-error @+1 {{'aprc.fused_linear' op has 1 results but 2 result_names}}
  %y = aprc.fused_linear %x weights(%a) epilogue none {result_names = ["a", "b"]} : (tensor<?x64xf32>, !aprc.weight<f32, [16, 64]>) -> tensor<?x16xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %a: !aprc.weight<f32, [64, 64]>) {
  // expected-error @+1 {{'aprc.fused_linear' op has a residual operand but epilogue none}}
  %y = aprc.fused_linear %x weights(%a) residual(%x) epilogue none {result_names = ["a"]} : (tensor<?x64xf32>, !aprc.weight<f32, [64, 64]>, tensor<?x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %g: !aprc.weight<f32, [16, 64]>, %u: !aprc.weight<f32, [8, 64]>) {
  // expected-error @+1 {{'aprc.fused_linear' op epilogue swiglu needs two weights (gate, up) of equal rows}}
  %y = aprc.fused_linear %x weights(%g, %u) epilogue swiglu {result_names = ["m"]} : (tensor<?x64xf32>, !aprc.weight<f32, [16, 64]>, !aprc.weight<f32, [8, 64]>) -> tensor<?x16xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %g: !aprc.weight<f32, [16, 64]>) {
  // expected-error @+1 {{'aprc.fused_linear' op epilogue swiglu needs two weights (gate, up) of equal rows}}
  %y = aprc.fused_linear %x weights(%g) epilogue swiglu {result_names = ["m"]} : (tensor<?x64xf32>, !aprc.weight<f32, [16, 64]>) -> tensor<?x16xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %a: !aprc.weight<f32, [64, 64]>) {
  // expected-error @+1 {{'aprc.fused_linear' op epilogue residual needs exactly one weight}}
  %y = aprc.fused_linear %x weights(%a, %a) residual(%x) epilogue residual {result_names = ["r"]} : (tensor<?x64xf32>, !aprc.weight<f32, [64, 64]>, !aprc.weight<f32, [64, 64]>, tensor<?x64xf32>) -> tensor<?x64xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %a: !aprc.weight<f32, [64, 64]>) {
  // expected-error @+1 {{'aprc.fused_linear' op epilogue residual needs a residual operand}}
  %y = aprc.fused_linear %x weights(%a) epilogue residual {result_names = ["r"]} : (tensor<?x64xf32>, !aprc.weight<f32, [64, 64]>) -> tensor<?x64xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %r: tensor<?x32xf32>, %a: !aprc.weight<f32, [64, 64]>) {
  // expected-error @+1 {{'aprc.fused_linear' op residual 'tensor<?x32xf32>' differs from the result 'tensor<?x64xf32>'}}
  %y = aprc.fused_linear %x weights(%a) residual(%r) epilogue residual {result_names = ["r"]} : (tensor<?x64xf32>, !aprc.weight<f32, [64, 64]>, tensor<?x32xf32>) -> tensor<?x64xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %a: !aprc.weight<f32, [16, 64]>, %b: !aprc.weight<f32, [16, 64]>) {
  // expected-error @+1 {{'aprc.fused_linear' op epilogue none gives 2 results, not 1}}
  %y = aprc.fused_linear %x weights(%a, %b) epilogue none {result_names = ["a"]} : (tensor<?x64xf32>, !aprc.weight<f32, [16, 64]>, !aprc.weight<f32, [16, 64]>) -> tensor<?x16xf32>
  return
}

// -----

func.func @f(%x: tensor<?x64xf32>, %a: !aprc.weight<f32, [16, 64]>, %b: !aprc.weight<f32, [8, 64]>) {
  // expected-error @+1 {{'aprc.fused_linear' op result #1 has 16 columns but its weight gives 8}}
  %y:2 = aprc.fused_linear %x weights(%a, %b) epilogue none {result_names = ["a", "b"]} : (tensor<?x64xf32>, !aprc.weight<f32, [16, 64]>, !aprc.weight<f32, [8, 64]>) -> (tensor<?x16xf32>, tensor<?x16xf32>)
  return
}

// -----

func.func @f(%x: tensor<2x64xf32>, %a: !aprc.weight<f32, [16, 64]>) {
  // expected-error @+1 {{'aprc.fused_linear' op result row count 3 differs from the row count 2 of the input}}
  %y = aprc.fused_linear %x weights(%a) epilogue none {result_names = ["a"]} : (tensor<2x64xf32>, !aprc.weight<f32, [16, 64]>) -> tensor<3x16xf32>
  return
}

// -----

aprc.kv_cache @kv {num_kv_heads = 2, head_dim = 16, max_seq = 64}
func.func @f(%k: tensor<?x32xf32>, %v: tensor<?x32xf32>, %pos: index) {
  // expected-error @+1 {{'aprc.rope_kv_append' op theta must be positive}}
  %r = aprc.rope_kv_append %k, %v, @kv[%pos] {theta = -1.0 : f64, result_names = ["k_rope"]} : tensor<?x32xf32>, tensor<?x32xf32>
  return
}

// -----

aprc.kv_cache @kv {num_kv_heads = 2, head_dim = 16, max_seq = 64}
func.func @f(%k: tensor<?x32xf32>, %v: tensor<?x32xf32>, %pos: index) {
  // expected-error @+1 {{'aprc.rope_kv_append' op has 1 results but 0 result_names}}
  %r = aprc.rope_kv_append %k, %v, @kv[%pos] {theta = 1.0e6 : f64, result_names = []} : tensor<?x32xf32>, tensor<?x32xf32>
  return
}

// -----

aprc.kv_cache @kv {num_kv_heads = 2, head_dim = 16, max_seq = 64}
func.func @f(%k: tensor<?x32xf32>, %v: tensor<?x16xf32>, %pos: index) {
  // expected-error @+1 {{'aprc.rope_kv_append' op k has 32 columns but v has 16}}
  %r = aprc.rope_kv_append %k, %v, @kv[%pos] {theta = 1.0e6 : f64, result_names = ["k_rope"]} : tensor<?x32xf32>, tensor<?x16xf32>
  return
}

// -----

func.func @f(%k: tensor<?x32xf32>, %v: tensor<?x32xf32>, %pos: index) {
  // expected-error @+1 {{'aprc.rope_kv_append' op 'kv' is not an aprc.kv_cache}}
  %r = aprc.rope_kv_append %k, %v, @kv[%pos] {theta = 1.0e6 : f64, result_names = ["k_rope"]} : tensor<?x32xf32>, tensor<?x32xf32>
  return
}

// -----

aprc.kv_cache @kv {num_kv_heads = 1, head_dim = 16, max_seq = 64}
func.func @f(%k: tensor<?x32xf32>, %v: tensor<?x32xf32>, %pos: index) {
  // expected-error @+1 {{'aprc.rope_kv_append' op k has 32 columns but cache 'kv' holds 1 kv heads of 16}}
  %r = aprc.rope_kv_append %k, %v, @kv[%pos] {theta = 1.0e6 : f64, result_names = ["k_rope"]} : tensor<?x32xf32>, tensor<?x32xf32>
  return
}

// -----

aprc.kv_cache @kv {num_kv_heads = 2, head_dim = 16, max_seq = 64}
func.func @f(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %v: tensor<?x32xf32>, %pos: index) {
  // expected-error @+1 {{'aprc.rope_qk_kv_append' op theta must be positive}}
  %q2, %k2 = aprc.rope_qk_kv_append %q, %k, %v, @kv[%pos] {theta = 0.0 : f64, result_names = ["q_rope", "k_rope"]} : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>
  return
}

// -----

aprc.kv_cache @kv {num_kv_heads = 2, head_dim = 16, max_seq = 64}
func.func @f(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %v: tensor<?x32xf32>, %pos: index) {
  // expected-error @+1 {{'aprc.rope_qk_kv_append' op has 2 results but 1 result_names}}
  %q2, %k2 = aprc.rope_qk_kv_append %q, %k, %v, @kv[%pos] {theta = 1.0e6 : f64, result_names = ["k_rope"]} : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>
  return
}

// -----

aprc.kv_cache @kv {num_kv_heads = 2, head_dim = 16, max_seq = 64}
func.func @f(%q: tensor<3x64xf32>, %k: tensor<2x32xf32>, %v: tensor<2x32xf32>, %pos: index) {
  // expected-error @+1 {{'aprc.rope_qk_kv_append' op q row count 3 differs from k row count 2}}
  %q2, %k2 = aprc.rope_qk_kv_append %q, %k, %v, @kv[%pos] {theta = 1.0e6 : f64, result_names = ["q_rope", "k_rope"]} : tensor<3x64xf32>, tensor<2x32xf32>, tensor<2x32xf32>
  return
}

// -----

aprc.kv_cache @kv {num_kv_heads = 2, head_dim = 16, max_seq = 64}
func.func @f(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %v: tensor<?x16xf32>, %pos: index) {
  // expected-error @+1 {{'aprc.rope_qk_kv_append' op k has 32 columns but v has 16}}
  %q2, %k2 = aprc.rope_qk_kv_append %q, %k, %v, @kv[%pos] {theta = 1.0e6 : f64, result_names = ["q_rope", "k_rope"]} : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x16xf32>
  return
}

// -----

aprc.kv_cache @kv {num_kv_heads = 2, head_dim = 16, max_seq = 64}
func.func @f(%q: tensor<?x40xf32>, %k: tensor<?x32xf32>, %v: tensor<?x32xf32>, %pos: index) {
  // expected-error @+1 {{'aprc.rope_qk_kv_append' op q has 40 columns, not a whole number of heads of 16 in cache 'kv'}}
  %q2, %k2 = aprc.rope_qk_kv_append %q, %k, %v, @kv[%pos] {theta = 1.0e6 : f64, result_names = ["q_rope", "k_rope"]} : tensor<?x40xf32>, tensor<?x32xf32>, tensor<?x32xf32>
  return
}

// -----

aprc.kv_cache @kv {num_kv_heads = 1, head_dim = 16, max_seq = 64}
func.func @f(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %v: tensor<?x32xf32>, %pos: index) {
  // expected-error @+1 {{'aprc.rope_qk_kv_append' op k has 32 columns but cache 'kv' holds 1 kv heads of 16}}
  %q2, %k2 = aprc.rope_qk_kv_append %q, %k, %v, @kv[%pos] {theta = 1.0e6 : f64, result_names = ["q_rope", "k_rope"]} : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32>
  return
}
