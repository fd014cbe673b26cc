// RUN: not %moe-opt %s --passes moe-verify,moe-plan 2>&1 | FileCheck %s

// Negative: the int4 prefill kernel (warpgroup MMA) stages its tokens in shared memory once per tile, so
// prefetch 3 (only the activations a K tile ahead, in registers) would carry nothing: refused at the op.

func.func @prefetch_activations(%x: memref<?x256xf8E4M3FN>, %w: memref<4x256x128xi8>, %sx: memref<?xf32>, %sw: memref<4x8x256xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x2x128xbf16>) {
  // CHECK: {{.*}}plan_wgmma_prefetch_activations.mlir:[[# @LINE + 1]]:3: error: 'moe.gemm' wgmma stages the tile's activations in shared memory: prefetch 3 (the activations a K tile ahead) has nothing to carry; use 1 or 2
  "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 1 : i64, group_size = 32 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "int4_fp8", out_dtype = "bf16", mode = "atomic", target = "sm_90", doweight_stage1 = false, tokens_hint = 512 : i64, prefetch = 3 : i64} : (memref<?x256xf8E4M3FN>, memref<4x256x128xi8>, memref<?xf32>, memref<4x8x256xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x2x128xbf16>) -> ()
  return
}
