// RUN: %moe-opt %s --passes moe-verify,moe-plan | FileCheck %s

// sm_90, W4A16: at 4096 tokens the plan takes tile_m 64 and the prefill kernel (wgmma = 1, whole
// warpgroups: waves a multiple of 4); the tuned table gives it two warpgroups, K tiles of 256 and a
// cp.async ring (stages).  At 64 tokens
// it keeps the per-warp mma.sync kernel (tile_m 16, wgmma = 0).  Prefill blocks walk groups of 256
// sorted rows (raster 4 at tile_m 64; sm_90's Target.raster_rows), decode keeps launch order.
// CHECK-LABEL: func.func @prefill
// CHECK: "moe.gemm"
// CHECK-SAME: raster = 4 : i64
// CHECK-SAME: stages = 2 : i64
// CHECK-SAME: tile_k = 256 : i64
// CHECK-SAME: tile_m = 64 : i64
// CHECK-SAME: waves = 8 : i64
// CHECK-SAME: wgmma = 1 : i64
func.func @prefill(%x: memref<?x7168xbf16>, %w: memref<64x4096x3584xi8>, %sx: memref<?xf32>, %sw: memref<64x224x4096xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x8x2048xbf16>) {
  "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 1 : i64, group_size = 32 : i64, model_dim = 7168 : i64, inter_dim = 2048 : i64, experts = 64 : i64, topk = 8 : i64, dtype = "int4_bf16", out_dtype = "bf16", mode = "atomic", target = "sm_90", doweight_stage1 = false, tokens_hint = 4096 : i64} : (memref<?x7168xbf16>, memref<64x4096x3584xi8>, memref<?xf32>, memref<64x224x4096xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x8x2048xbf16>) -> ()
  return
}

// CHECK-LABEL: func.func @decode
// CHECK: "moe.gemm"
// CHECK-SAME: raster = 0 : i64
// CHECK-SAME: tile_m = 16 : i64
// CHECK-SAME: wgmma = 0 : i64
func.func @decode(%x: memref<?x7168xbf16>, %w: memref<64x4096x3584xi8>, %sx: memref<?xf32>, %sw: memref<64x224x4096xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x8x2048xbf16>) {
  "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 1 : i64, group_size = 32 : i64, model_dim = 7168 : i64, inter_dim = 2048 : i64, experts = 64 : i64, topk = 8 : i64, dtype = "int4_bf16", out_dtype = "bf16", mode = "atomic", target = "sm_90", doweight_stage1 = false, tokens_hint = 64 : i64} : (memref<?x7168xbf16>, memref<64x4096x3584xi8>, memref<?xf32>, memref<64x224x4096xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x8x2048xbf16>) -> ()
  return
}

// fp8 weights used as stored: at 4096 tokens over 64 experts (512 rows an expert) tile_m 192 and the
// kernel with both MMA operands in shared memory; the tuned table gives three warpgroups, each its 64
// tokens as the MMA's M side, and a ring of 4 K tiles of 128 (whole 128-byte swizzled rows of fp8).
// CHECK-LABEL: func.func @prefill_fp8
// CHECK: "moe.gemm"
// CHECK-SAME: stages = 4 : i64
// CHECK-SAME: tile_k = 128 : i64
// CHECK-SAME: tile_m = 192 : i64
// CHECK-SAME: tile_n = 128 : i64
// CHECK-SAME: tokens_m = 1 : i64
// CHECK-SAME: waves = 12 : i64
// CHECK-SAME: wgmma = 1 : i64
func.func @prefill_fp8(%x: memref<?x7168xf8E4M3FN>, %w: memref<64x4096x7168xi8>, %sx: memref<?xf32>, %sw: memref<64x4096xf32>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x8x2048xbf16>) {
  "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 1 : i64, group_size = -1 : i64, model_dim = 7168 : i64, inter_dim = 2048 : i64, experts = 64 : i64, topk = 8 : i64, dtype = "fp8", out_dtype = "bf16", mode = "atomic", target = "sm_90", doweight_stage1 = false, tokens_hint = 4096 : i64} : (memref<?x7168xf8E4M3FN>, memref<64x4096x7168xi8>, memref<?xf32>, memref<64x4096xf32>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x8x2048xbf16>) -> ()
  return
}
