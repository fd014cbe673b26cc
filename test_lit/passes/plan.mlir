// RUN: %moe-opt %s --passes moe-verify,moe-plan | FileCheck %s

// The plan pass picks tile_m from the token count hint and writes the tiles onto the op.
// CHECK-LABEL: func.func @s_shape
// CHECK: "moe.gemm"
// CHECK-SAME: tile_k = 128 : i64
// CHECK-SAME: tile_m = 16 : i64
// CHECK-SAME: tile_n = 128 : i64
// CHECK-SAME: waves = 4 : i64
func.func @s_shape(%x: memref<?x256xf8E4M3FN>, %w: memref<4x256x128xi8>, %sx: memref<?xf32>, %sw: memref<4x8x256xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x2x128xbf16>) {
  "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 1 : i64, group_size = 32 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "int4_fp8", out_dtype = "bf16", mode = "atomic", target = "gfx950", doweight_stage1 = false, tokens_hint = 64 : i64} : (memref<?x256xf8E4M3FN>, memref<4x256x128xi8>, memref<?xf32>, memref<4x8x256xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x2x128xbf16>) -> ()
  return
}
