// Every error of the !aprc.weight type.
// RUN: aprc-opt %s -split-input-file -verify-diagnostics

// expected-error @+1 {{!aprc.weight: unknown encoding 'q3_k'}}
func.func private @f(!aprc.weight<q3_k, [256, 256]>)

// -----

// expected-error @+1 {{!aprc.weight: 'col_major' is neither a layout of formats/layouts.h nor a scale granularity (per_channel, per_tensor)}}
func.func private @f(!aprc.weight<f32, [4, 4], col_major>)

// -----

// expected-error @+1 {{!aprc.weight: 'i32' is not a weight encoding}}
func.func private @f(!aprc.weight<i32, [4, 4]>)

// -----

// expected-error @+1 {{!aprc.weight: 'f64' is not a weight encoding}}
func.func private @f(!aprc.weight<f64, [4]>)

// -----

// expected-error @+1 {{!aprc.weight: shape must be [out, in] or [n], got 3 dims}}
func.func private @f(!aprc.weight<f32, [2, 3, 4]>)

// -----

// expected-error @+1 {{!aprc.weight: shape must be [out, in] or [n], got 0 dims}}
func.func private @f(!aprc.weight<f32, []>)

// -----

// expected-error @+1 {{!aprc.weight: dims must be positive, got 0}}
func.func private @f(!aprc.weight<f32, [0, 4]>)

// -----

// expected-error @+1 {{!aprc.weight: a scale granularity belongs to fp8e4m3 weights, not q8_0}}
func.func private @f(!aprc.weight<q8_0, [4, 32], per_tensor>)

// -----

// expected-error @+1 {{!aprc.weight: rows of 100 weights are not whole q4_k blocks (256 weights each)}}
func.func private @f(!aprc.weight<q4_k, [8, 100]>)

// -----

// expected-error @+1 {{!aprc.weight: rows of 48 weights are not whole q8_0 blocks (32 weights each)}}
func.func private @f(!aprc.weight<q8_0, [48]>)

// -----

// expected-error @+1 {{!aprc.weight: layout 'cpu_r16' is not defined for f32 weights}}
func.func private @f(!aprc.weight<f32, [16, 32], cpu_r16>)

// -----

// 2^62 rows of 34-byte blocks: more bytes than a 64-bit size holds.
// expected-error @+1 {{!aprc.weight: layout 'row_major' cannot hold a [4611686018427387904, 32] q8_0 weight}}
func.func private @f(!aprc.weight<q8_0, [4611686018427387904, 32]>)
