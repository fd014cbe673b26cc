// RUN: %moe-opt %s --pipeline moe-to-gfx942 --emit isa -o %t.s
// RUN: FileCheck %s --input-file %t.s
// RUN: FileCheck %s --input-file %t.s --check-prefix=FMA
// RUN: FileCheck %s --input-file %t.s --check-prefix=NOCAS

// Stage 2 on gfx942 with tile_k = 64 (a two-trip K loop over K = 128): the group-32 scale is fused into fmas inside the loop, and the bf16 atomics are native.

// CHECK-LABEL: moe_stage2_int4_fp8_g32_bf16_atomic:
// CHECK: [[KLOOP:\.LBB0_[0-9]+]]:
// CHECK-COUNT-8: v_mfma_f32_16x16x32_fp8_fp8
// CHECK-NOT: v_mfma
// CHECK: s_cbranch_{{[a-z0-9]+}} [[KLOOP]]
// CHECK-NOT: v_mfma
// CHECK: global_atomic_pk_add_bf16

// FMA: [[L:\.LBB0_[0-9]+]]:
// FMA-NOT: v_{{(pk_)?}}{{(mul|add)}}_f32
// FMA: v_mfma_f32_16x16x32_fp8_fp8
// FMA-COUNT-8: v_{{(pk_)?}}fma_f32
// FMA-NOT: v_{{(pk_)?}}{{(mul|add)}}_f32
// FMA: s_cbranch_{{[a-z0-9]+}} [[L]]

// NOCAS-NOT: cmpswap

func.func @s_stage2_kloop_gfx942(%x: memref<?x2x128xf8E4M3FNUZ>, %w: memref<4x256x64xi8>, %sx: memref<?x2xf32>, %sw: memref<4x4x256xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x256xbf16>) {
  "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 2 : i64, group_size = 32 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "int4_fp8", out_dtype = "bf16", mode = "atomic", target = "gfx942", doweight_stage1 = false, tokens_hint = 64 : i64, tile_k = 64 : i64} : (memref<?x2x128xf8E4M3FNUZ>, memref<4x256x64xi8>, memref<?x2xf32>, memref<4x4x256xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x256xbf16>) -> ()
  return
}
