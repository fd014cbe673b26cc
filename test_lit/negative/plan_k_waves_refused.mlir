// RUN: not %moe-opt %s --passes moe-verify,moe-plan 2>&1 | FileCheck %s

// Negative: K split over the block's warps (k_waves) sums the slices in shared memory, built for sm_90
// only so far; asking for it on gfx942 is refused at the op, naming the target.

func.func @k_waves_gfx942(%x: memref<?x256xf8E4M3FNUZ>, %w: memref<4x256x128xi8>, %sx: memref<?xf32>, %sw: memref<4x8x256xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x2x128xbf16>) {
  // CHECK: {{.*}}plan_k_waves_refused.mlir:[[# @LINE + 1]]:3: error: 'moe.gemm' k_waves 2: the shared-memory sum of the K slices is built for sm_90 only (not yet for gfx942)
  "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 1 : i64, group_size = 32 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "int4_fp8", out_dtype = "bf16", mode = "atomic", target = "gfx942", doweight_stage1 = false, tokens_hint = 8 : i64, k_waves = 2 : i64} : (memref<?x256xf8E4M3FNUZ>, memref<4x256x128xi8>, memref<?xf32>, memref<4x8x256xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x2x128xbf16>) -> ()
  return
}
