// RUN: %moe-opt %s --passes moe-verify,moe-plan,moe-to-kernel | FileCheck %s

// split_k = 2 (stage 2, atomic): the grid gets a z dimension of 2 (launch metadata grid_z); block z
// sums K range [z * 128, z * 128 + 128): the loop counts 0 .. 128 in K tiles of 64 (bounds uniform over
// the grid) and offsets each tile by z * 128; the epilogue adds the partial sums with atomics.

// CHECK-LABEL: gpu.func @moe_stage2_int4_fp8_g32_bf16_atomic(
// CHECK-SAME: grid_z = 2 : i64
// CHECK: %[[HALF:.+]] = arith.constant 128 : i32
// CHECK: %[[Z:.+]] = gpu.block_id z
// CHECK: %[[ZI:.+]] = arith.index_cast %[[Z]] : index to i32
// CHECK: %[[BEGIN:.+]] = arith.muli %[[ZI]], %[[HALF]] : i32
// CHECK: scf.for %[[KS:.+]] = %{{.+}} to %[[HALF]] step %{{.+}} iter_args
// CHECK: %[[K:.+]] = arith.addi %[[KS]], %[[BEGIN]] : i32
// CHECK: "moe.epilogue"
// CHECK-SAME: mode = "atomic"
func.func @moe_stage2_int4_fp8_g32_bf16_atomic(%x: memref<?x2x256xf8E4M3FN>, %w: memref<4x256x128xi8>, %sx: memref<?x2xf32>, %sw: memref<4x8x256xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x256xbf16>) {
  "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 2 : i64, group_size = 32 : i64, model_dim = 256 : i64, inter_dim = 256 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "int4_fp8", out_dtype = "bf16", mode = "atomic", target = "gfx950", doweight_stage1 = false, tokens_hint = 8 : i64, tile_k = 64 : i64, split_k = 2 : i64} : (memref<?x2x256xf8E4M3FN>, memref<4x256x128xi8>, memref<?x2xf32>, memref<4x8x256xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x256xbf16>) -> ()
  return
}
