// RUN: %moe-opt %s --passes moe-verify,moe-plan,moe-to-kernel | FileCheck %s

// k_waves = 2 (sm_90, stage 1, K = 256, K tiles of 128): the block is waves x k_waves = 2 x 2 warps;
// warp w sums K slice w / 2 (its loop counts 0 .. 128 and offsets K by slice * 128) of the columns of
// wave w % 2. After the loop the second slice's warps store their running sums (16 bytes a lane and
// accumulator) into shared memory, every warp meets at the block barrier, and the first slice's warps add
// them and write the tile: the epilogue sits inside that branch.

// CHECK-LABEL: gpu.func @moe_stage1_int4_fp8_g32_bf16_atomic(
// CHECK-SAME: known_block_size = array<i32: 128, 1, 1>
// CHECK-SAME: k_waves = 2 : i64
// CHECK-SAME: shared_bytes = 2048 : i64
// CHECK: %[[WARP:.+]] = "moe.uniform"
// CHECK-NEXT: %[[SLICE:.+]] = arith.divui %[[WARP]], %c2_i32 : i32
// CHECK-NEXT: %[[WAVE:.+]] = arith.remui %[[WARP]], %c2_i32 : i32
// CHECK: %[[BEGIN:.+]] = arith.muli %[[SLICE]], %c128_i32 : i32
// CHECK-NEXT: %[[SUMS:.+]]:2 = scf.for %[[KS:.+]] = %c0_i32 to %c128_i32 step %c128_i32 iter_args
// CHECK-NEXT: arith.addi %[[KS]], %[[BEGIN]] : i32
// CHECK: %[[SMEM:.+]] = llvm.mlir.addressof @moe_smem : !llvm.ptr<3>
// CHECK-NEXT: %[[LATER:.+]] = arith.cmpi ugt, %[[SLICE]], %c0_i32 : i32
// CHECK-NEXT: scf.if %[[LATER]] {
// CHECK: llvm.store %[[SUMS]]#0, %{{.+}} {alignment = 16 : i64} : vector<4xf32>, !llvm.ptr<3>
// CHECK: llvm.store %[[SUMS]]#1, %{{.+}} {alignment = 16 : i64} : vector<4xf32>, !llvm.ptr<3>
// CHECK-NEXT: }
// CHECK-NEXT: gpu.barrier
// CHECK-NEXT: %[[FIRST:.+]] = arith.cmpi eq, %[[SLICE]], %c0_i32 : i32
// CHECK-NEXT: scf.if %[[FIRST]] {
// CHECK: %[[P0:.+]] = llvm.load %{{.+}} {alignment = 16 : i64} : !llvm.ptr<3> -> vector<4xf32>
// CHECK-NEXT: arith.addf %[[SUMS]]#0, %[[P0]] : vector<4xf32>
// CHECK: %[[P1:.+]] = llvm.load %{{.+}} {alignment = 16 : i64} : !llvm.ptr<3> -> vector<4xf32>
// CHECK-NEXT: arith.addf %[[SUMS]]#1, %[[P1]] : vector<4xf32>
// CHECK: "moe.epilogue"
// CHECK-NEXT: }
// CHECK-NEXT: }
// CHECK-NEXT: }
// CHECK-NEXT: gpu.return
func.func @moe_stage1_int4_fp8_g32_bf16_atomic(%x: memref<?x256xf8E4M3FN>, %w: memref<4x256x128xi8>, %sx: memref<?xf32>, %sw: memref<4x8x256xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x2x128xbf16>) {
  "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 1 : i64, group_size = 32 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "int4_fp8", out_dtype = "bf16", mode = "atomic", target = "sm_90", doweight_stage1 = false, tokens_hint = 8 : i64, tile_n = 32 : i64, tile_k = 128 : i64, waves = 2 : i64, k_waves = 2 : i64} : (memref<?x256xf8E4M3FN>, memref<4x256x128xi8>, memref<?xf32>, memref<4x8x256xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x2x128xbf16>) -> ()
  return
}
