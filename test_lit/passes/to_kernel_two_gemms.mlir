// RUN: %moe-opt %s --passes moe-to-kernel | FileCheck %s

// Two planned moe.gemm ops in one module outline into two kernels, each in its own uniquely named gpu.module.
// CHECK-DAG: gpu.module @moe_kernels attributes
// CHECK-DAG: gpu.module @moe_kernels_1 attributes

// CHECK-DAG: gpu.func @moe_stage1_int4_fp8_g32_bf16_atomic(
// CHECK-DAG: gpu.func @moe_stage2_int4_fp8_g32_bf16_atomic(
// CHECK-NOT: "moe.gemm"

func.func @s_stage1(%x: memref<?x256xf8E4M3FN>, %w: memref<4x256x128xi8>, %sx: memref<?xf32>, %sw: memref<4x8x256xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x2x128xbf16>) {
  "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {doweight_stage1 = false, dtype = "int4_fp8", experts = 4 : i64, group_size = 32 : i64, inter_dim = 128 : i64, mode = "atomic", model_dim = 256 : i64, out_dtype = "bf16", stage = 1 : i64, target = "gfx950", tile_k = 128 : i64, tile_m = 16 : i64, tile_n = 128 : i64, tokens_hint = 64 : i64, topk = 2 : i64, waves = 4 : i64} : (memref<?x256xf8E4M3FN>, memref<4x256x128xi8>, memref<?xf32>, memref<4x8x256xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x2x128xbf16>) -> ()
  return
}

func.func @s_stage2(%x: memref<?x2x128xf8E4M3FN>, %w: memref<4x256x64xi8>, %sx: memref<?x2xf32>, %sw: memref<4x4x256xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x256xbf16>) {
  "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {doweight_stage1 = false, dtype = "int4_fp8", experts = 4 : i64, group_size = 32 : i64, inter_dim = 128 : i64, mode = "atomic", model_dim = 256 : i64, out_dtype = "bf16", stage = 2 : i64, target = "gfx950", tile_k = 128 : i64, tile_m = 16 : i64, tile_n = 256 : i64, tokens_hint = 64 : i64, topk = 2 : i64, waves = 4 : i64} : (memref<?x2x128xf8E4M3FN>, memref<4x256x64xi8>, memref<?x2xf32>, memref<4x4x256xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x256xbf16>) -> ()
  return
}
