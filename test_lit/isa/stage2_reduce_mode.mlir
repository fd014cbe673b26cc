// Stage 2 in reduce mode: each (token, slot) row is written once with plain packed stores into
// [tokens, topk, model_dim]; no atomics (the reduce kernel sums the slots).
// RUN: %moe-opt %s --pipeline moe-to-gfx950 --emit isa | FileCheck %s
// CHECK-LABEL: moe_stage2_int4_fp8_g32_bf16_reduce:
// CHECK-NOT: atomic
// CHECK: v_mfma_f32_16x16x32_fp8_fp8
// CHECK-NOT: atomic
// CHECK: global_store_dword
// CHECK-NOT: atomic

module {
  func.func @moe_stage2_int4_fp8_g32_bf16_reduce(%x: memref<?x2x128xf8E4M3FN>, %w: memref<4x256x64xi8>, %sx: memref<?x2xf32>, %sw: memref<4x4x256xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x2x256xbf16>) {
    "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 2 : i64, group_size = 32 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "int4_fp8", out_dtype = "bf16", mode = "reduce", target = "gfx950", doweight_stage1 = false, tokens_hint = 64 : i64} : (memref<?x2x128xf8E4M3FN>, memref<4x256x64xi8>, memref<?x2xf32>, memref<4x4x256xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x2x256xbf16>) -> ()
    return
  }
}
