// RUN: %moe-opt %s --pipeline moe-to-gfx950 --emit isa -o %t.s
// RUN: FileCheck %s --input-file %t.s
// RUN: FileCheck %s --input-file %t.s --check-prefix=INLOOP

// Per-row int4 scales (group_size = -1, gfx950, stage 1): the K loop holds bare MFMAs with no scale arithmetic, and the row scale is one multiply per accumulator after it (SPEC 3).

// CHECK-LABEL: moe_stage1_int4_fp8_row_bf16_atomic:
// CHECK: [[KLOOP:\.LBB0_[0-9]+]]:
// CHECK: v_cvt_pk_fp8_f32
// CHECK: v_mfma_f32_16x16x32_fp8_fp8
// CHECK: s_cbranch_{{[a-z0-9]+}} [[KLOOP]]
// The per-row weight scales: [E, N] f32, two adjacent columns per 8-byte load, then the multiplies.
// CHECK: buffer_load_dwordx2
// CHECK: v_pk_mul_f32
// CHECK: global_store_dword
// CHECK-NOT: v_pk_fma_f32

// INLOOP: [[L:\.LBB0_[0-9]+]]:
// INLOOP-NOT: v_pk_fma_f32
// INLOOP-NOT: v_fma_f32
// INLOOP-NOT: v_{{(pk_)?}}mul_f32
// INLOOP-COUNT-16: v_mfma_f32_16x16x32_fp8_fp8
// INLOOP-NOT: v_pk_fma_f32
// INLOOP-NOT: v_fma_f32
// INLOOP-NOT: v_{{(pk_)?}}mul_f32
// INLOOP: s_cbranch_{{[a-z0-9]+}} [[L]]

func.func @s_stage1_row_gfx950(%x: memref<?x256xf8E4M3FN>, %w: memref<4x256x128xi8>, %sx: memref<?xf32>, %sw: memref<4x256xf32>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x2x128xbf16>) {
  "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 1 : i64, group_size = -1 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "int4_fp8", out_dtype = "bf16", mode = "atomic", target = "gfx950", doweight_stage1 = false, tokens_hint = 64 : i64} : (memref<?x256xf8E4M3FN>, memref<4x256x128xi8>, memref<?xf32>, memref<4x256xf32>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x2x128xbf16>) -> ()
  return
}
