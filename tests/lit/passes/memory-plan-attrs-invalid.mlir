// The dialect's checks of the memory plan's attributes (AprcDialect.td).
// RUN: aprc-opt %s -split-input-file -verify-diagnostics

// expected-error @+1 {{'aprc.max_tokens' must be an integer of at least 1}}
func.func private @f() attributes {aprc.max_tokens = 0 : i64}

// -----

// expected-error @+1 {{'aprc.arena_bytes' must be an integer of at least 0}}
func.func private @f() attributes {aprc.arena_bytes = "big"}

// -----

func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'aprc.offsets' must be an array<i64> of one offset per result (1)}}
  %0 = aprc.silu %x {aprc.offsets = array<i64: 0, 64>} : tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{'aprc.offsets': offset -2 is neither a byte offset nor -1 (the function's output)}}
  %0 = aprc.silu %x {aprc.offsets = array<i64: -2>} : tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}
