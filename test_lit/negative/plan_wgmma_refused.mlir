// RUN: not %moe-opt %s --passes moe-verify,moe-plan 2>&1 | FileCheck %s

// Negative: the warpgroup MMA kernel exists for the sm_90 int4 dtypes only; asking for it on gfx942,
// or with a block that is not whole warpgroups, is refused at the op.

func.func @wgmma_gfx942(%x: memref<?x256xf8E4M3FNUZ>, %w: memref<4x256x128xi8>, %sx: memref<?xf32>, %sw: memref<4x8x256xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x2x128xbf16>) {
  // CHECK: {{.*}}plan_wgmma_refused.mlir:[[# @LINE + 1]]:3: error: 'moe.gemm' wgmma: gfx942 has no warpgroup MMA for int4_fp8
  "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 1 : i64, group_size = 32 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "int4_fp8", out_dtype = "bf16", mode = "atomic", target = "gfx942", doweight_stage1 = false, tokens_hint = 512 : i64, wgmma = 1 : i64} : (memref<?x256xf8E4M3FNUZ>, memref<4x256x128xi8>, memref<?xf32>, memref<4x8x256xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x2x128xbf16>) -> ()
  return
}
