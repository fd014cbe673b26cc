// RUN: %moe-opt %s --passes moe-verify,moe-plan,moe-to-kernel | FileCheck %s

// trim_m = 1 (sm_90 int4 stage 2, tile_m 16 = two token tiles of the 8-row MMA): the block checks
// whether any of the tile's rows 8 .. 15 holds a token (one sorted_ids load and compare per row, or-ed),
// and runs the K loop of both token tiles (two running sums per column block, an epilogue of 4 row
// slots) or, when only rows 0 .. 7 are real, the loop of the first tile alone (one running sum, 2 row
// slots): an expert with 8 rows or fewer skips the empty tile's MMAs and activation loads.

// CHECK-LABEL: gpu.func @moe_stage2_int4_fp8_g32_bf16_atomic(
// CHECK-SAME: trim_m = 1 : i64
// CHECK-COUNT-7: arith.ori %{{.+}}, %{{.+}} : i1
// CHECK-NEXT: %[[LIVE:.+]] = arith.select %{{.+}}, %c2_i32, %c1_i32 : i32
// CHECK-NEXT: %[[U:.+]] = "moe.uniform"(%[[LIVE]]) : (i32) -> i32
// CHECK-NEXT: %[[BOTH:.+]] = arith.cmpi sge, %[[U]], %c2_i32 : i32
// CHECK-NEXT: scf.if %[[BOTH]] {
// CHECK: scf.for {{.+}} -> (vector<4xf32>, vector<4xf32>)
// CHECK-COUNT-8: "moe.group_mma"
// CHECK-NOT: "moe.group_mma"
// CHECK: "moe.epilogue"({{.+}}) {cols = 1 : i64, gate_up = 1 : i64, mode = "atomic", out_dtype = "bf16", rows = 4 : i64, stage = 2 : i64}
// CHECK-NEXT: } else {
// CHECK: scf.for {{.+}} -> (vector<4xf32>) : i32 {
// CHECK-COUNT-4: "moe.group_mma"
// CHECK-NOT: "moe.group_mma"
// CHECK: "moe.epilogue"({{.+}}) {cols = 1 : i64, gate_up = 1 : i64, mode = "atomic", out_dtype = "bf16", rows = 2 : i64, stage = 2 : i64}
// CHECK-NEXT: }
// CHECK-NEXT: }
// CHECK-NEXT: }
// CHECK-NEXT: gpu.return
func.func @moe_stage2_int4_fp8_g32_bf16_atomic(%x: memref<?x2x128xf8E4M3FN>, %w: memref<4x256x64xi8>, %sx: memref<?x2xf32>, %sw: memref<4x4x256xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x256xbf16>) {
  "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 2 : i64, group_size = 32 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "int4_fp8", out_dtype = "bf16", mode = "atomic", target = "sm_90", doweight_stage1 = false, tokens_hint = 64 : i64, tile_m = 16 : i64, tile_n = 32 : i64, tile_k = 128 : i64, waves = 2 : i64, trim_m = 1 : i64} : (memref<?x2x128xf8E4M3FN>, memref<4x256x64xi8>, memref<?x2xf32>, memref<4x4x256xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x256xbf16>) -> ()
  return
}
