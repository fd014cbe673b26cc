// RUN: not %moe-opt %s --passes moe-verify,moe-plan 2>&1 | FileCheck %s

// Negative: moe-plan refuses a user tile (64x256, stage 1) whose accumulators break the register budget, and says which budget and what to change.

func.func @tile_64x256(%x: memref<?x256xf8E4M3FN>, %w: memref<4x512x128xi8>, %sx: memref<?xf32>, %sw: memref<4x8x512xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x2x256xbf16>) {
  // CHECK: {{.*}}plan_tile_does_not_fit.mlir:[[# @LINE + 1]]:3: error: 'moe.gemm' tile 64x256 needs 256 accumulator registers per lane, over the budget of 160 that keeps 2 waves per SIMD on gfx950; use a smaller tile_m or tile_n
  "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 1 : i64, group_size = 32 : i64, model_dim = 256 : i64, inter_dim = 256 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "int4_fp8", out_dtype = "bf16", mode = "atomic", target = "gfx950", doweight_stage1 = false, tokens_hint = 64 : i64, tile_m = 64 : i64, tile_n = 256 : i64} : (memref<?x256xf8E4M3FN>, memref<4x512x128xi8>, memref<?xf32>, memref<4x8x512xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x2x256xbf16>) -> ()
  return
}
// Exactly one diagnostic, and no IR printed after a failed pass.
// CHECK-NOT: error:
// CHECK-NOT: module
