// RUN: not %moe-opt %s --passes moe-verify,moe-plan 2>&1 | FileCheck %s

// Negative: the warpgroup (prefill) kernel's token tile is the N of one MMA: nothing to trim, refused at
// the op.

func.func @trim_wgmma(%x: memref<?x2x128xf8E4M3FN>, %w: memref<4x256x64xi8>, %sx: memref<?x2xf32>, %sw: memref<4x4x256xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x256xbf16>) {
  // CHECK: {{.*}}plan_trim_m_wgmma.mlir:[[# @LINE + 1]]:3: error: 'moe.gemm' trim_m: the warpgroup-MMA kernel's token tile is the N of one MMA; only the per-warp kernels hold several MMA token tiles to trim
  "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 2 : i64, group_size = 32 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "int4_fp8", out_dtype = "bf16", mode = "atomic", target = "sm_90", doweight_stage1 = false, tokens_hint = 4096 : i64, tile_m = 64 : i64, trim_m = 1 : i64} : (memref<?x2x128xf8E4M3FN>, memref<4x256x64xi8>, memref<?x2xf32>, memref<4x4x256xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x256xbf16>) -> ()
  return
}
