// RUN: %moe-opt %s --pipeline moe-to-gfx942 --emit isa -o %t.s
// RUN: FileCheck %s --input-file %t.s
// RUN: FileCheck %s --input-file %t.s --check-prefix=LOOP
// RUN: FileCheck %s --input-file %t.s --check-prefix=FMA
// RUN: FileCheck %s --input-file %t.s --check-prefix=RES
// RUN: FileCheck %s --input-file %t.s --check-prefix=ATOM
// RUN: FileCheck %s --input-file %t.s --check-prefix=NOCAS

// gfx942 machine code of stage 2 (S shape, group 32): fp8 MFMAs, fused group-scale fmas before the output, and native packed bf16 atomics, never a compare-and-swap loop (SPEC 3).

// CHECK-LABEL: moe_stage2_int4_fp8_g32_bf16_atomic:
// Blocks past num_valid, and blocks whose expert id is -1, branch straight to the end.
// CHECK: s_cbranch_scc1 [[END:\.LBB0_[0-9]+]]
// CHECK: s_cbranch_scc1 [[END]]
// CHECK: buffer_load_dwordx2 v[{{[0-9]+:[0-9]+}}], v{{[0-9]+}}, s[{{[0-9]+:[0-9]+}}], {{s[0-9]+|0}} offen
// CHECK: v_bfe_i32
// CHECK: v_cvt_pk_fp8_f32
// CHECK: v_mfma_f32_16x16x32_fp8_fp8
// CHECK: v_pk_fma_f32
// Output rounding on gfx942 (no bf16 convert instruction): the integer round-to-nearest-even
// sequence, (x + 0x7fff + ((x >> 16) & 1)) >> 16, with NaN kept quiet (not a bare + 0x8000).
// CHECK: s_movk_i32 s{{[0-9]+}}, 0x7fff
// CHECK: v_bfe_u32 v{{[0-9]+}}, v{{[0-9]+}}, 16, 1
// CHECK: v_cmp_u_f32
// CHECK: v_or_b32_e32 v{{[0-9]+}}, 0x400000, v{{[0-9]+}}
// CHECK: global_atomic_pk_add_bf16 v[{{[0-9]+:[0-9]+}}], v{{[0-9]+}}, off
// CHECK: [[END]]:
// CHECK-NEXT: s_endpgm
// CHECK-NOT: v_cvt_pk_bf16_f32

// K = inter_dim = 128 is one 128-wide K tile here, so K is not a loop; stage2_kloop_gfx942.mlir checks the
// loop form. All 16 MFMAs (4 K32 steps x 4 MMA tiles), then at least 16 fused group-scale multiply-adds,
// all before the first output atomic.
// LOOP: v_mfma_f32_16x16x32_fp8_fp8
// LOOP-COUNT-15: v_mfma_f32_16x16x32_fp8_fp8
// LOOP-NOT: v_mfma
// LOOP: global_atomic_pk_add_bf16
// FMA: v_mfma_f32_16x16x32_fp8_fp8
// FMA-COUNT-16: v_{{(pk_)?}}fma_f32
// FMA: global_atomic_pk_add_bf16

// One packed bf16 atomic per (row, column pair) of the lane: 4 rows x 2 pairs.
// ATOM-COUNT-8: global_atomic_pk_add_bf16 v[{{[0-9]+:[0-9]+}}], v{{[0-9]+}}, off
// ATOM-NOT: {{(global|flat|buffer|ds)_atomic}}

// No compare-and-swap loop and no plain store of the output anywhere.
// NOCAS-NOT: cmpswap
// NOCAS-NOT: global_store

// Resources (kernel descriptor + metadata): no scratch, no spills, LDS within the 64 KiB of the smaller
// chip, and at most 256 VGPRs so 2 waves fit on a SIMD.
// RES: .amdhsa_private_segment_fixed_size 0
// RES: .group_segment_fixed_size: {{([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-6])$}}
// RES: .private_segment_fixed_size: 0
// RES: .sgpr_spill_count: 0
// RES: .vgpr_count: {{([0-9]{1,2}|1[0-9]{2}|2[0-4][0-9]|25[0-6])$}}
// RES-NEXT: .vgpr_spill_count: 0

func.func @s_stage2_gfx942_g32(%x: memref<?x2x128xf8E4M3FNUZ>, %w: memref<4x256x64xi8>, %sx: memref<?x2xf32>, %sw: memref<4x4x256xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x256xbf16>) {
  "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 2 : i64, group_size = 32 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "int4_fp8", out_dtype = "bf16", mode = "atomic", target = "gfx942", doweight_stage1 = false, tokens_hint = 64 : i64} : (memref<?x2x128xf8E4M3FNUZ>, memref<4x256x64xi8>, memref<?x2xf32>, memref<4x4x256xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x256xbf16>) -> ()
  return
}
