// RUN: %moe-opt %s --passes moe-to-kernel | FileCheck %s

// moe-to-kernel, stage 2 with per-row scales: plain moe.mma chains in the K loop, the row scale once after it, and the routed weight read from sorted_weights (stage 2 applies it).

// CHECK: gpu.module @moe_kernels attributes {moe.target = "gfx942"}
// CHECK-NEXT: gpu.func @moe_stage2_int4_fp8_row_bf16_atomic(
// CHECK-SAME: %[[X:[^:]+]]: !llvm.ptr<1>, %[[W:[^:]+]]: !llvm.ptr<1>, %[[SX:[^:]+]]: !llvm.ptr<1>, %[[SW:[^:]+]]: !llvm.ptr<1>,
// CHECK-SAME: %[[IDS:[^:]+]]: !llvm.ptr<1>, %[[SWT:[^:]+]]: !llvm.ptr<1>, %[[EIDS:[^:]+]]: !llvm.ptr<1>, %[[NV:[^:]+]]: !llvm.ptr<1>,
// CHECK-SAME: %[[OUT:[^:]+]]: !llvm.ptr<1>, %[[TOKENS:[^:]+]]: i32) kernel
// CHECK-SAME: known_block_size = array<i32: 256, 1, 1>
// CHECK-SAME: moe.launch = {block = 256 : i64, grid_y = 1 : i64, prefetch = 0 : i64, raster = 0 : i64, shared_bytes = 0 : i64, stages = 0 : i64, tile_k = 128 : i64, tile_m = 16 : i64, tile_n = 256 : i64, waves = 4 : i64, wgmma = 0 : i64}
// CHECK: arith.cmpi slt
// CHECK-NEXT: scf.if
// CHECK: arith.cmpi sge
// CHECK-NEXT: scf.if
// Per-row scales are [E, N] f32: 4 bytes a row per expert.
// CHECK: %[[SWOFF:.+]] = arith.muli %{{.+}}, %c1024_i64 : i64
// CHECK-NEXT: %[[SWE:.+]] = llvm.getelementptr %[[SW]][%[[SWOFF]]]
// K = inter_dim = 128 is one trip of the 128-wide K tile; two column pairs x two MMA tiles.
// CHECK: %[[ACC:.+]]:4 = scf.for %{{.+}} = %c0_i32 to %c128_i32 step %c128_i32 iter_args(%[[R0:[a-z0-9_]+]] = %[[Z:[a-z0-9_]+]], %{{[a-z0-9_]+}} = %[[Z]], %{{[a-z0-9_]+}} = %[[Z]], %{{[a-z0-9_]+}} = %[[Z]])
// CHECK-NOT: moe.group_mma
// CHECK: "moe.mma"(%{{.+}}, %{{.+}}, %[[R0]]) {atom = "mfma_f32_16x16x32_fp8"} : (i64, i64, vector<4xf32>) -> vector<4xf32>
// CHECK-COUNT-15: "moe.mma"
// CHECK-NOT: moe.group_mma
// CHECK: scf.yield
// CHECK-NEXT: }
// The row scale, once per accumulator, after the loop.
// CHECK-NEXT: %{{.+}} = arith.muli
// CHECK-NEXT: %[[P0:.+]] = "moe.load"(%[[SWE]], {{.*}}) : ({{.*}}) -> vector<2xf32>
// CHECK-NEXT: %[[S0:.+]] = vector.extract %[[P0]][0] : f32 from vector<2xf32>
// CHECK-NEXT: %[[B0:.+]] = vector.broadcast %[[S0]] : f32 to vector<4xf32>
// CHECK-NEXT: %[[A0:.+]] = arith.mulf %[[ACC]]#0, %[[B0]] : vector<4xf32>
// CHECK-COUNT-3: arith.mulf %[[ACC]]#{{[123]}}
// Stage 2 applies the routed weight: a sorted_weights load guarded by the row's valid bit.
// CHECK: %[[SID:.+]] = "moe.load"(%[[IDS]], {{.*}}) -> i32
// CHECK-NEXT: %[[TOK:.+]] = arith.andi %[[SID]], %c16777215_i32 : i32
// CHECK-NEXT: arith.shrui %[[SID]], %c24_i32 : i32
// CHECK-NEXT: %[[VALID:.+]] = arith.cmpi ult, %[[TOK]], %[[TOKENS]] : i32
// CHECK: "moe.load"(%[[SX]], {{.*}}%[[VALID]]) : ({{.*}}) -> f32
// CHECK: "moe.load"(%[[SWT]], {{.*}}%[[VALID]]) : ({{.*}}) -> f32
// CHECK: %[[E0:.+]] = vector.extract %[[A0]][0] : f32 from vector<4xf32>
// CHECK: "moe.epilogue"(%[[OUT]], {{.*}}, %[[E0]], {{[^)]*}})
// CHECK-SAME: {cols = 2 : i64, gate_up = 1 : i64, mode = "atomic", out_dtype = "bf16", rows = 4 : i64, stage = 2 : i64}
// CHECK: gpu.return

func.func @s_stage2_row(%x: memref<?x2x128xf8E4M3FNUZ>, %w: memref<4x256x64xi8>, %sx: memref<?x2xf32>, %sw: memref<4x256xf32>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x256xbf16>) {
  "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {doweight_stage1 = false, dtype = "int4_fp8", experts = 4 : i64, group_size = -1 : i64, inter_dim = 128 : i64, mode = "atomic", model_dim = 256 : i64, out_dtype = "bf16", stage = 2 : i64, target = "gfx942", tile_k = 128 : i64, tile_m = 16 : i64, tile_n = 256 : i64, tokens_hint = 64 : i64, topk = 2 : i64, waves = 4 : i64} : (memref<?x2x128xf8E4M3FNUZ>, memref<4x256x64xi8>, memref<?x2xf32>, memref<4x256xf32>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x256xbf16>) -> ()
  return
}
