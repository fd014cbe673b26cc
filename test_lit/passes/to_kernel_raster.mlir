// RUN: %moe-opt %s --passes moe-verify,moe-plan,moe-to-kernel | FileCheck %s

// raster = 3: the kernel is launched on (column tiles, token tiles) -- grid_x in the launch metadata
// is the column-tile count, 256 / 64 = 4 -- and maps its linear block index lin = bx + by * 4 onto
// groups of 3 token tiles: group = lin / 12, the group cut at the last valid tile (num_valid rounded
// up to tile_m 16), token tile = 3 * group + r % size, column tile = r / size; a block whose column
// tile falls past the narrower last group does nothing.

// CHECK-LABEL: gpu.func @moe_stage2_int4_fp8_g32_bf16_atomic(
// CHECK-SAME: moe.launch = {block = 128 : i64, grid_x = 4 : i64, {{.*}}raster = 3 : i64
// CHECK: %[[BX:.+]] = gpu.block_id x
// CHECK: %[[BY:.+]] = gpu.block_id y
// CHECK: %[[NV:.+]] = "moe.uniform"
// CHECK: arith.muli %{{.+}}, %{{.+}} : i32
// CHECK: %[[LIN:.+]] = arith.addi
// CHECK: %[[TILES:.+]] = arith.divui
// CHECK: %[[GRP:.+]] = arith.divui %[[LIN]], %{{.+}} : i32
// CHECK: %[[FIRST:.+]] = arith.muli %[[GRP]]
// CHECK: %[[LEFT:.+]] = arith.subi %[[TILES]], %[[FIRST]] : i32
// CHECK: arith.minsi %[[LEFT]]
// CHECK: %[[SIZE:.+]] = arith.maxsi
// CHECK: %[[R:.+]] = arith.remui %[[LIN]], %{{.+}} : i32
// CHECK: %[[COL:.+]] = arith.divui %[[R]], %[[SIZE]] : i32
// CHECK: arith.remui %[[R]], %[[SIZE]] : i32
// CHECK: %[[INR:.+]] = arith.cmpi ult, %[[COL]]
// CHECK: %[[ACT:.+]] = arith.cmpi slt
// CHECK: arith.andi %[[ACT]], %[[INR]] : i1
func.func @moe_stage2_int4_fp8_g32_bf16_atomic(%x: memref<?x2x128xf8E4M3FN>, %w: memref<4x256x64xi8>, %sx: memref<?x2xf32>, %sw: memref<4x4x256xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x256xbf16>) {
  "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 2 : i64, group_size = 32 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "int4_fp8", out_dtype = "bf16", mode = "atomic", target = "gfx950", doweight_stage1 = false, tokens_hint = 64 : i64, tile_m = 16 : i64, tile_n = 64 : i64, raster = 3 : i64} : (memref<?x2x128xf8E4M3FN>, memref<4x256x64xi8>, memref<?x2xf32>, memref<4x4x256xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x256xbf16>) -> ()
  return
}
