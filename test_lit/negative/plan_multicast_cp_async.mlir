// RUN: not %moe-opt %s --passes moe-verify,moe-plan 2>&1 | FileCheck %s

// Negative: weight boxes shared by a pair of blocks (multicast = 2) are the bulk copies' (TMA); with the
// weights by cp.async (tma = 0) there is nothing to multicast: refused at the op.

func.func @multicast_cp_async(%x: memref<?x256xf8E4M3FN>, %w: memref<4x256x256xi8>, %sx: memref<?xf32>, %sw: memref<4x256xf32>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x2x128xbf16>) {
  // CHECK: {{.*}}plan_multicast_cp_async.mlir:[[# @LINE + 1]]:3: error: 'moe.gemm' multicast 2: only the weights' bulk copies (tma 1) of a target with clusters of blocks multicast (got tma 0 on sm_90)
  "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 1 : i64, group_size = -1 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "fp8", out_dtype = "bf16", mode = "atomic", target = "sm_90", doweight_stage1 = false, tokens_hint = 512 : i64, tma = 0 : i64, multicast = 2 : i64} : (memref<?x256xf8E4M3FN>, memref<4x256x256xi8>, memref<?xf32>, memref<4x256xf32>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x2x128xbf16>) -> ()
  return
}
