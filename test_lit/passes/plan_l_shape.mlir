// RUN: %moe-opt %s --passes moe-verify,moe-plan | FileCheck %s

// moe-plan at the L shape: 333 tokens -> tile_m 64, tile_n shrinks until the accumulators fit the register budget, and a user tile is kept, so the plan is predictable and visible in the IR.

// 333 tokens -> tile_m 64; stage 1 tile_n 256 would need 256 accumulator registers, so 128.
// CHECK-LABEL: func.func @l_stage1_g32
// CHECK: "moe.gemm"
// CHECK-SAME: experts = 17 : i64
// CHECK-SAME: inter_dim = 2048 : i64
// CHECK-SAME: model_dim = 4096 : i64
// CHECK-SAME: tile_k = 128 : i64
// CHECK-SAME: tile_m = 64 : i64
// CHECK-SAME: tile_n = 128 : i64
// CHECK-SAME: tokens_hint = 333 : i64
// CHECK-SAME: topk = 9 : i64
// CHECK-SAME: waves = 4 : i64
func.func @l_stage1_g32(%x: memref<?x4096xf8E4M3FN>, %w: memref<17x4096x2048xi8>, %sx: memref<?xf32>, %sw: memref<17x128x4096xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x9x2048xbf16>) {
  "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 1 : i64, group_size = 32 : i64, model_dim = 4096 : i64, inter_dim = 2048 : i64, experts = 17 : i64, topk = 9 : i64, dtype = "int4_fp8", out_dtype = "bf16", mode = "atomic", target = "gfx950", doweight_stage1 = false, tokens_hint = 333 : i64} : (memref<?x4096xf8E4M3FN>, memref<17x4096x2048xi8>, memref<?xf32>, memref<17x128x4096xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x9x2048xbf16>) -> ()
  return
}

// Stage 2 has no gate/up pair: half the accumulators per column, so tile_n 256 fits.
// CHECK-LABEL: func.func @l_stage2_g32
// CHECK: "moe.gemm"
// CHECK-SAME: stage = 2 : i64
// CHECK-SAME: tile_k = 128 : i64
// CHECK-SAME: tile_m = 64 : i64
// CHECK-SAME: tile_n = 256 : i64
// CHECK-SAME: waves = 4 : i64
func.func @l_stage2_g32(%x: memref<?x9x2048xf8E4M3FN>, %w: memref<17x4096x1024xi8>, %sx: memref<?x9xf32>, %sw: memref<17x64x4096xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x4096xbf16>) {
  "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 2 : i64, group_size = 32 : i64, model_dim = 4096 : i64, inter_dim = 2048 : i64, experts = 17 : i64, topk = 9 : i64, dtype = "int4_fp8", out_dtype = "bf16", mode = "atomic", target = "gfx950", doweight_stage1 = false, tokens_hint = 333 : i64} : (memref<?x9x2048xf8E4M3FN>, memref<17x4096x1024xi8>, memref<?x9xf32>, memref<17x64x4096xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x4096xbf16>) -> ()
  return
}

// A user tile (32 x 64 x 256) that fits is kept, not replaced by the token bucket's 64;
// 64 columns are two 32-column pairs, so 2 waves.
// CHECK-LABEL: func.func @l_stage1_user_tile
// CHECK: "moe.gemm"
// CHECK-SAME: target = "gfx942"
// CHECK-SAME: tile_k = 256 : i64
// CHECK-SAME: tile_m = 32 : i64
// CHECK-SAME: tile_n = 64 : i64
// CHECK-SAME: tokens_hint = 333 : i64
// CHECK-SAME: waves = 2 : i64
func.func @l_stage1_user_tile(%x: memref<?x4096xf8E4M3FNUZ>, %w: memref<17x4096x2048xi8>, %sx: memref<?xf32>, %sw: memref<17x128x4096xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x9x2048xbf16>) {
  "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 1 : i64, group_size = 32 : i64, model_dim = 4096 : i64, inter_dim = 2048 : i64, experts = 17 : i64, topk = 9 : i64, dtype = "int4_fp8", out_dtype = "bf16", mode = "atomic", target = "gfx942", doweight_stage1 = false, tile_m = 32 : i64, tile_n = 64 : i64, tile_k = 256 : i64, tokens_hint = 333 : i64} : (memref<?x4096xf8E4M3FNUZ>, memref<17x4096x2048xi8>, memref<?xf32>, memref<17x128x4096xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x9x2048xbf16>) -> ()
  return
}

// Token buckets: 256 tokens is still tile_m 32; no hint at all also means 32.
// CHECK-LABEL: func.func @s_bucket_256
// CHECK: "moe.gemm"
// CHECK-SAME: tile_m = 32 : i64
func.func @s_bucket_256(%x: memref<?x256xf8E4M3FN>, %w: memref<4x256x128xi8>, %sx: memref<?xf32>, %sw: memref<4x8x256xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x2x128xbf16>) {
  "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 1 : i64, group_size = 32 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "int4_fp8", out_dtype = "bf16", mode = "atomic", target = "gfx950", doweight_stage1 = false, tokens_hint = 256 : i64} : (memref<?x256xf8E4M3FN>, memref<4x256x128xi8>, memref<?xf32>, memref<4x8x256xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x2x128xbf16>) -> ()
  return
}

// CHECK-LABEL: func.func @s_no_hint
// CHECK: "moe.gemm"
// CHECK-SAME: tile_m = 32 : i64
// CHECK-NOT: tokens_hint
// CHECK-SAME: waves
func.func @s_no_hint(%x: memref<?x256xf8E4M3FN>, %w: memref<4x256x128xi8>, %sx: memref<?xf32>, %sw: memref<4x8x256xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x2x128xbf16>) {
  "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 1 : i64, group_size = 32 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "int4_fp8", out_dtype = "bf16", mode = "atomic", target = "gfx950", doweight_stage1 = false} : (memref<?x256xf8E4M3FN>, memref<4x256x128xi8>, memref<?xf32>, memref<4x8x256xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x2x128xbf16>) -> ()
  return
}
