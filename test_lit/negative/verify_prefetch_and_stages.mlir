// RUN: not %moe-opt %s --passes moe-verify,moe-plan 2>&1 | FileCheck %s

// Negative: a K loop loads one tile ahead in registers (prefetch) or through a shared-memory ring
// (stages), not both; an op written by hand with both gets a diagnostic, not a broken kernel (and the
// tuned table's ring gives way to a prefetch the user asks for: moe-plan).

func.func @both(%x: memref<?x256xf8E4M3FN>, %w: memref<4x256x128xi8>, %sx: memref<?xf32>, %sw: memref<4x8x256xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x2x128xbf16>) {
  // CHECK: {{.*}}verify_prefetch_and_stages.mlir:[[# @LINE + 1]]:3: error: 'moe.gemm' prefetch (registers) and stages (shared memory) are alternatives; pick one
  "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 1 : i64, group_size = 32 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "int4_fp8", out_dtype = "bf16", mode = "atomic", target = "sm_90", doweight_stage1 = false, tokens_hint = 64 : i64, prefetch = 1 : i64, stages = 2 : i64} : (memref<?x256xf8E4M3FN>, memref<4x256x128xi8>, memref<?xf32>, memref<4x8x256xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x2x128xbf16>) -> ()
  return
}
