// Two moe.gemm ops in one func: both are outlined (the host func goes only after its last gemm).
// RUN: %moe-opt %s --passes moe-verify,moe-plan,moe-to-kernel | FileCheck %s
// CHECK: gpu.module @moe_kernels attributes
// CHECK: gpu.func @moe_stage1_int4_fp8_g32_bf16_atomic(
// CHECK: gpu.module @moe_kernels_1 attributes
// CHECK: gpu.func @moe_stage1_int4_fp8_row_bf16_atomic(
// CHECK-NOT: func.func
// CHECK-NOT: "moe.gemm"
func.func @both(%x: memref<?x256xf8E4M3FN>, %w: memref<4x256x128xi8>, %sx: memref<?xf32>, %sw: memref<4x8x256xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x2x128xbf16>, %swr: memref<4x256xf32>) {
  "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 1 : i64, group_size = 32 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "int4_fp8", out_dtype = "bf16", mode = "atomic", target = "gfx950", doweight_stage1 = false, tokens_hint = 64 : i64} : (memref<?x256xf8E4M3FN>, memref<4x256x128xi8>, memref<?xf32>, memref<4x8x256xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x2x128xbf16>) -> ()
  "moe.gemm"(%x, %w, %sx, %swr, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 1 : i64, group_size = -1 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "int4_fp8", out_dtype = "bf16", mode = "atomic", target = "gfx950", doweight_stage1 = false, tokens_hint = 64 : i64} : (memref<?x256xf8E4M3FN>, memref<4x256x128xi8>, memref<?xf32>, memref<4x256xf32>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x2x128xbf16>) -> ()
  return
}
