// RUN: not %moe-opt %s --passes moe-verify,moe-plan 2>&1 | FileCheck %s

// Negative: the weights' bulk tensor copies (tma = 1) belong to the prefill kernel of weights used as
// stored (both wgmma operands in shared memory); the int4 prefill kernel unpacks its weights in
// registers: refused at the op.  (No tensor memory accelerator on gfx950: plan_tma_no_target.mlir.)

func.func @tma_int4(%x: memref<?x256xf8E4M3FN>, %w: memref<4x256x128xi8>, %sx: memref<?xf32>, %sw: memref<4x8x256xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x2x128xbf16>) {
  // CHECK: {{.*}}plan_tma_refused.mlir:[[# @LINE + 1]]:3: error: 'moe.gemm' tma: only the prefill kernel of weights used as stored (fp8, bf16, f16 with wgmma: both MMA operands in shared memory) loads its weight tiles by TMA
  "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 1 : i64, group_size = 32 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "int4_fp8", out_dtype = "bf16", mode = "atomic", target = "sm_90", doweight_stage1 = false, tokens_hint = 512 : i64, tma = 1 : i64} : (memref<?x256xf8E4M3FN>, memref<4x256x128xi8>, memref<?xf32>, memref<4x8x256xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x2x128xbf16>) -> ()
  return
}
