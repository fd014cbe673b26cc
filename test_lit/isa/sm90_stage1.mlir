// sm_90 PTX of stage 1 (S shape, int4 weights x fp8, group 32): e4m3 tensor-core MMA, exact
// int4 -> e4m3 conversion, K32 group scale as an f32 fma, plain packed bf16 stores and no atomics.
// RUN: %moe-opt %s --pipeline moe-to-sm_90 --emit isa | FileCheck %s
// CHECK: .version 8.4
// CHECK: .target sm_90
// CHECK-LABEL: .entry moe_stage1_int4_fp8_g32_bf16_atomic(
// CHECK: ld.global.v4.b32
// CHECK: cvt.rn.satfinite.e4m3x2.f16x2
// CHECK: mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32
// CHECK: fma.rn.f32
// CHECK: ex2.approx.f32
// CHECK: cvt.rn.bf16x2.f32
// CHECK: st.global.b32
// CHECK-NOT: red.global
// CHECK-NOT: atom.

module {
  func.func @moe_stage1_int4_fp8_g32_bf16_atomic(%x: memref<?x256xf8E4M3FN>, %w: memref<4x256x128xi8>, %sx: memref<?xf32>, %sw: memref<4x8x256xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x2x128xbf16>) {
    "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 1 : i64, group_size = 32 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "int4_fp8", out_dtype = "bf16", mode = "atomic", target = "sm_90", doweight_stage1 = false, tokens_hint = 64 : i64} : (memref<?x256xf8E4M3FN>, memref<4x256x128xi8>, memref<?xf32>, memref<4x8x256xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x2x128xbf16>) -> ()
    return
  }
}
