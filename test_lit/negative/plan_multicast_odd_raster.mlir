// RUN: not %moe-opt %s --passes moe-verify,moe-plan 2>&1 | FileCheck %s

// Negative: a pair of blocks is two token tiles of one column tile, so the grouped block order must walk
// whole pairs: groups of 3 token tiles (raster = 3) are refused at the op.

func.func @multicast_odd_raster(%x: memref<?x256xf8E4M3FN>, %w: memref<4x256x256xi8>, %sx: memref<?xf32>, %sw: memref<4x256xf32>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x2x128xbf16>) {
  // CHECK: {{.*}}plan_multicast_odd_raster.mlir:[[# @LINE + 1]]:3: error: 'moe.gemm' multicast 2: the grouped block order must walk whole pairs of token tiles: raster must be a multiple of 2, got 3
  "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 1 : i64, group_size = -1 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "fp8", out_dtype = "bf16", mode = "atomic", target = "sm_90", doweight_stage1 = false, tokens_hint = 512 : i64, raster = 3 : i64, multicast = 2 : i64} : (memref<?x256xf8E4M3FN>, memref<4x256x256xi8>, memref<?xf32>, memref<4x256xf32>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x2x128xbf16>) -> ()
  return
}
