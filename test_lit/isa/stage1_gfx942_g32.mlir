// RUN: %moe-opt %s --pipeline moe-to-gfx942 --emit isa -o %t.s
// RUN: FileCheck %s --input-file %t.s
// RUN: FileCheck %s --input-file %t.s --check-prefix=LOOP
// RUN: FileCheck %s --input-file %t.s --check-prefix=FMA
// RUN: FileCheck %s --input-file %t.s --check-prefix=RES
// RUN: FileCheck %s --input-file %t.s --check-prefix=NOATOMIC

// gfx942 machine code of stage 1 (S shape, group 32): int4 -> fp8 via v_cvt_pk_fp8_f32, 8-byte weight loads, fp8 MFMAs and the fused K32 group scale inside a real K loop, packed bf16 stores, no atomics (SPEC 3).

// CHECK-LABEL: moe_stage1_int4_fp8_g32_bf16_atomic:
// Blocks past num_valid, and blocks whose expert id is -1, branch straight to the end.
// CHECK: s_cbranch_scc1 [[END:\.LBB0_[0-9]+]]
// CHECK: s_cbranch_scc1 [[END]]
// CHECK: [[KLOOP:\.LBB0_[0-9]+]]:
// CHECK: buffer_load_dwordx2 v[{{[0-9]+:[0-9]+}}], v{{[0-9]+}}, s[{{[0-9]+:[0-9]+}}], {{s[0-9]+|0}} offen
// CHECK: v_bfe_i32
// CHECK: v_cvt_pk_fp8_f32
// CHECK: v_mfma_f32_16x16x32_fp8_fp8
// CHECK: v_pk_fma_f32
// CHECK: s_cbranch_{{[a-z0-9]+}} [[KLOOP]]
// CHECK: v_exp_f32
// Output rounding on gfx942 (no bf16 convert instruction): the integer round-to-nearest-even
// sequence, (x + 0x7fff + ((x >> 16) & 1)) >> 16, with NaN kept quiet (not a bare + 0x8000).
// CHECK: s_movk_i32 s{{[0-9]+}}, 0x7fff
// CHECK: v_bfe_u32 v{{[0-9]+}}, v{{[0-9]+}}, 16, 1
// CHECK: v_cmp_u_f32
// CHECK: v_or_b32_e32 v{{[0-9]+}}, 0x400000, v{{[0-9]+}}
// CHECK: global_store_dword v[{{[0-9]+:[0-9]+}}], v{{[0-9]+}}, off
// CHECK: [[END]]:
// CHECK-NEXT: s_endpgm
// CHECK-NOT: v_cvt_pk_bf16_f32

// The K loop (K = 256, tile_k = 128: two trips) holds all 16 MFMAs of the tile: 4 K32 steps x gate/up x
// two interleaved 16-column MMA tiles.
// LOOP: [[L:\.LBB0_[0-9]+]]:
// LOOP-COUNT-16: v_mfma_f32_16x16x32_fp8_fp8
// LOOP-NOT: v_mfma
// LOOP: s_cbranch_{{[a-z0-9]+}} [[L]]
// LOOP-NOT: v_mfma

// Each K32 group result is scaled and added in f32 inside the loop, fused (v_pk_fma_f32 / v_fma_f32):
// 16 group results x 4 f32 is at least 16 fused instructions, and no separate multiply or add.
// FMA: [[L:\.LBB0_[0-9]+]]:
// FMA-NOT: v_{{(pk_)?}}{{(mul|add)}}_f32
// FMA-COUNT-16: v_{{(pk_)?}}fma_f32
// FMA-NOT: v_{{(pk_)?}}{{(mul|add)}}_f32
// FMA: s_cbranch_{{[a-z0-9]+}} [[L]]

// Stage 1 writes its own rows: no atomic of any kind.
// NOATOMIC-NOT: {{(global|flat|buffer|ds)_atomic}}

// Resources (kernel descriptor + metadata): no scratch, no spills, LDS within the 64 KiB of the smaller
// chip, and at most 256 VGPRs so 2 waves fit on a SIMD.
// RES: .amdhsa_private_segment_fixed_size 0
// RES: .group_segment_fixed_size: {{([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-6])$}}
// RES: .private_segment_fixed_size: 0
// RES: .sgpr_spill_count: 0
// RES: .vgpr_count: {{([0-9]{1,2}|1[0-9]{2}|2[0-4][0-9]|25[0-6])$}}
// RES-NEXT: .vgpr_spill_count: 0

func.func @s_stage1_gfx942_g32(%x: memref<?x256xf8E4M3FNUZ>, %w: memref<4x256x128xi8>, %sx: memref<?xf32>, %sw: memref<4x8x256xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x2x128xbf16>) {
  "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 1 : i64, group_size = 32 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "int4_fp8", out_dtype = "bf16", mode = "atomic", target = "gfx942", doweight_stage1 = false, tokens_hint = 64 : i64} : (memref<?x256xf8E4M3FNUZ>, memref<4x256x128xi8>, memref<?xf32>, memref<4x8x256xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x2x128xbf16>) -> ()
  return
}
