// RUN: %moe-opt %s --passes moe-to-kernel | FileCheck %s

// moe-to-kernel outlines a planned stage-1 moe.gemm into a bare-pointer gpu.func with early exits and a K loop carrying the accumulators: the contract later passes and the launcher rely on.

// CHECK: module attributes {gpu.container_module}
// CHECK-NEXT: gpu.module @moe_kernels attributes {moe.target = "gfx950"}
// CHECK-NEXT: gpu.func @moe_stage1_int4_fp8_g32_bf16_atomic(
// CHECK-SAME: %[[X:[^:]+]]: !llvm.ptr<1>, %[[W:[^:]+]]: !llvm.ptr<1>, %[[SX:[^:]+]]: !llvm.ptr<1>, %[[SW:[^:]+]]: !llvm.ptr<1>,
// CHECK-SAME: %[[IDS:[^:]+]]: !llvm.ptr<1>, %[[SWT:[^:]+]]: !llvm.ptr<1>, %[[EIDS:[^:]+]]: !llvm.ptr<1>, %[[NV:[^:]+]]: !llvm.ptr<1>,
// CHECK-SAME: %[[OUT:[^:]+]]: !llvm.ptr<1>, %[[TOKENS:[^:]+]]: i32) kernel
// CHECK-SAME: attributes {known_block_size = array<i32: 256, 1, 1>,
// CHECK-SAME: moe.launch = {block = 256 : i64, grid_y = 1 : i64, prefetch = 0 : i64, raster = 0 : i64, shared_bytes = 0 : i64, stages = 0 : i64, tile_k = 128 : i64, tile_m = 16 : i64, tile_n = 128 : i64, waves = 4 : i64, wgmma = 0 : i64}}

// Early exit: the block's first sorted row against num_valid, then the block's expert id against -1.
// CHECK: %[[ONE:[a-z0-9_]+]] = arith.constant 1.000000e+00 : f32
// CHECK: %[[BID:.+]] = gpu.block_id x
// CHECK-NEXT: %[[BX:.+]] = arith.index_cast %[[BID]] : index to i32
// CHECK: %[[NVL:.+]] = "moe.load"(%[[NV]], {{.*}}) : (!llvm.ptr<1>, {{.*}}) -> i32
// CHECK-NEXT: %[[NVU:.+]] = "moe.uniform"(%[[NVL]]) : (i32) -> i32
// CHECK-NEXT: %[[ROW0:.+]] = arith.muli %[[BX]], %c16_i32 : i32
// CHECK-NEXT: %[[ACTIVE:.+]] = arith.cmpi slt, %[[ROW0]], %[[NVU]] : i32
// CHECK-NEXT: scf.if %[[ACTIVE]] {
// CHECK: %[[EL:.+]] = "moe.load"(%[[EIDS]], {{.*}}) -> i32
// CHECK-NEXT: %[[EID:.+]] = "moe.uniform"(%[[EL]]) : (i32) -> i32
// CHECK-NEXT: %[[HAS:.+]] = arith.cmpi sge, %[[EID]], %c0_i32 : i32
// CHECK-NEXT: scf.if %[[HAS]] {

// Per-expert bases in 64-bit (all experts' weights may pass 2^32 bytes).
// CHECK-NEXT: %[[E64:.+]] = arith.extsi %[[EID]] : i32 to i64
// CHECK-NEXT: %[[WOFF:.+]] = arith.muli %[[E64]], %c32768_i64 : i64
// CHECK-NEXT: %[[WE:.+]] = llvm.getelementptr %[[W]][%[[WOFF]]] : (!llvm.ptr<1>, i64) -> !llvm.ptr<1>, i8
// CHECK-NEXT: %[[SWOFF:.+]] = arith.muli %[[E64]], %c4096_i64 : i64
// CHECK-NEXT: %[[SWE:.+]] = llvm.getelementptr %[[SW]][%[[SWOFF]]] : (!llvm.ptr<1>, i64) -> !llvm.ptr<1>, i8

// A sorted id is (slot << 24) | token; a sentinel has token == tokens: its lanes read row 0 (that data
// reaches only the sentinel's own outputs, which the epilogue never writes), so the loop's activation
// loads need no validity.
// CHECK: %[[SID:.+]] = "moe.load"(%[[IDS]], {{.*}}) -> i32
// CHECK-NEXT: %[[TOK:.+]] = arith.andi %[[SID]], %c16777215_i32 : i32
// CHECK-NEXT: arith.shrui %[[SID]], %c24_i32 : i32
// CHECK-NEXT: %[[AVALID:.+]] = arith.cmpi ult, %[[TOK]], %[[TOKENS]] : i32
// CHECK-NEXT: %[[AROW:.+]] = arith.select %[[AVALID]], %[[TOK]], %c0_i32 : i32
// CHECK-NEXT: arith.muli %[[AROW]], %c256_i32 : i32

// The K loop: 256 / 128 = 2 trips, four accumulators (gate/up x two interleaved MMA tiles) from zero.
// CHECK: %[[ZERO:.+]] = arith.constant dense<0.000000e+00> : vector<4xf32>
// CHECK-NEXT: %[[ACC:.+]]:4 = scf.for %[[KT:[a-z0-9_]+]] = %c0_i32 to %c256_i32 step %c128_i32
// CHECK-SAME: iter_args(%[[R0:[a-z0-9_]+]] = %[[ZERO]], %[[R1:[a-z0-9_]+]] = %[[ZERO]], %[[R2:[a-z0-9_]+]] = %[[ZERO]], %[[R3:[a-z0-9_]+]] = %[[ZERO]])
// CHECK-SAME: -> (vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>)
// Packed int4 weights: 8 bytes per lane per K64 step, from the expert's base.
// Every load of the K tile comes first (weights, activations, group scales), then the unpack.
// CHECK: %[[WV:.+]] = "moe.load"(%[[WE]], {{.*}}) : ({{.*}}) -> vector<2xi32>
// CHECK: "moe.load"(%[[X]], {{.*}}, %true) : ({{.*}}) -> i64
// CHECK: %[[SP:.+]] = "moe.load"(%[[SWE]], {{.*}}) : ({{.*}}) -> vector<2xbf16>
// CHECK: %[[WORD:.+]] = vector.extract %[[WV]][0] : i32 from vector<2xi32>
// CHECK-NEXT: "moe.unpack_int4"(%[[WORD]]) {scheme = "f32", to = "fp8"} : (i32) -> i64
// Group scales: bf16 pairs (two adjacent output columns) widened to f32, splat to the accumulator's
// shape, one group_mma per K32 group and accumulator.
// CHECK: %[[SPF:.+]] = arith.extf %[[SP]] : vector<2xbf16> to vector<2xf32>
// CHECK-NEXT: %[[S0:.+]] = vector.extract %[[SPF]][0] : f32 from vector<2xf32>
// CHECK-NEXT: %[[SV0:.+]] = vector.broadcast %[[S0]] : f32 to vector<4xf32>
// CHECK-NEXT: "moe.group_mma"(%{{[^,]+}}, %{{[^,]+}}, %[[R0]], %[[SV0]]) {atom = "mfma_f32_16x16x32_fp8", steps = 1 : i64} : (i64, i64, vector<4xf32>, vector<4xf32>) -> vector<4xf32>
// CHECK-COUNT-15: "moe.group_mma"
// CHECK-NOT: "moe.group_mma"
// CHECK: scf.yield %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}} : vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>
// CHECK-NEXT: }

// The epilogue gets the output, 4 rows x (offset, valid, sx, weight), one column pair, and per row the
// f32 elements of the 4 accumulators; without doweight_stage1 the routed weight of stage 1 is 1.0.
// CHECK: vector.extract %[[ACC]]#0[0] : f32 from vector<4xf32>
// CHECK-NEXT: vector.extract %[[ACC]]#1[0] : f32 from vector<4xf32>
// CHECK-NEXT: vector.extract %[[ACC]]#2[0] : f32 from vector<4xf32>
// CHECK-NEXT: vector.extract %[[ACC]]#3[0] : f32 from vector<4xf32>
// CHECK: vector.extract %[[ACC]]#3[3] : f32 from vector<4xf32>
// CHECK: "moe.epilogue"(%[[OUT]], %{{[^,]+}}, %{{[^,]+}}, %{{[^,]+}}, %[[ONE]], {{[^)]*}})
// CHECK-SAME: {cols = 1 : i64, gate_up = 2 : i64, mode = "atomic", out_dtype = "bf16", rows = 4 : i64, stage = 1 : i64}
// CHECK-SAME: : (!llvm.ptr<1>, i32, i1, f32, f32, i32, i1, f32, f32, i32, i1, f32, f32, i32, i1, f32, f32, i32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32) -> ()
// CHECK-NEXT: }
// CHECK-NEXT: }
// CHECK-NEXT: gpu.return
// CHECK-NOT: moe.gemm
// CHECK-NOT: func.func

func.func @s_shape(%x: memref<?x256xf8E4M3FN>, %w: memref<4x256x128xi8>, %sx: memref<?xf32>, %sw: memref<4x8x256xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x2x128xbf16>) {
  "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {doweight_stage1 = false, dtype = "int4_fp8", experts = 4 : i64, group_size = 32 : i64, inter_dim = 128 : i64, mode = "atomic", model_dim = 256 : i64, out_dtype = "bf16", stage = 1 : i64, target = "gfx950", tile_k = 128 : i64, tile_m = 16 : i64, tile_n = 128 : i64, tokens_hint = 64 : i64, topk = 2 : i64, waves = 4 : i64} : (memref<?x256xf8E4M3FN>, memref<4x256x128xi8>, memref<?xf32>, memref<4x8x256xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x2x128xbf16>) -> ()
  return
}
