// RUN: %moe-opt %s --passes moe-verify,moe-plan,moe-to-kernel | FileCheck %s

// The two software-pipelined forms of the K loop (sm_90, S shape, stage 1, K = 256 = two K tiles).
//
// prefetch = 1: the loop carries every load of its K tile (weights, activations, group scales) as
// iter_args, issued one tile ahead; the tile after the last is clamped to the last (K - tile_k = 128),
// so nothing is read past the expert.
// moe.issue_loads after the first tile's loads and after the next tile's in the loop keeps LLVM from
// folding each pair into one load behind the loop's phi (at the use: no pipeline).
// CHECK-LABEL: gpu.func @moe_stage1_int4_fp8_g32_bf16_atomic
// CHECK: "moe.load"({{.*}}) -> vector<4xi32>
// CHECK-COUNT-8: "moe.load"({{.*}}) -> vector<2xbf16>
// CHECK-NEXT: "moe.issue_loads"() : () -> ()
// CHECK-NEXT: scf.for %[[KT:[a-z0-9_]+]] = %c0_i32 to %c256_i32 step %c128_i32 iter_args(
// 4 accumulators, then the carried loads: 4 weight pieces, 8 activation rows (4 K32 steps x 2 rows),
// 8 group-scale pairs (4 groups x gate/up of the warp's column block).
// CHECK-SAME: -> (vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xi32>, vector<4xi32>, vector<4xi32>, vector<4xi32>, vector<2xi32>, vector<2xi32>, vector<2xi32>, vector<2xi32>, vector<2xi32>, vector<2xi32>, vector<2xi32>, vector<2xi32>, vector<2xbf16>
// CHECK-SAME: vector<2xbf16>)
// CHECK: %[[NEXT:.+]] = arith.minsi %{{.+}}, %c128_i32 : i32
// CHECK: "moe.load"({{.*}}) -> vector<4xi32>
// CHECK-COUNT-8: "moe.load"({{.*}}) -> vector<2xbf16>
// CHECK-NEXT: "moe.issue_loads"() : () -> ()
// CHECK: "moe.unpack_int4"(%{{.+}}) {scheme = "f16", to = "f16"} : (i32) -> vector<4xi32>
// CHECK: scf.yield
// CHECK-NOT: moe.async

// prefetch = 2: only the 4 weight pieces travel with the loop; the tile's own activations and scales are
// loaded at the top of its iteration, then the next tile's weights.
// CHECK-LABEL: gpu.func @moe_stage1_int4_fp8_g32_bf16_atomic
// CHECK-COUNT-4: "moe.load"({{.*}}) -> vector<4xi32>
// CHECK-NEXT: "moe.issue_loads"() : () -> ()
// CHECK-NEXT: scf.for %{{.+}} iter_args(
// CHECK-SAME: -> (vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xi32>, vector<4xi32>, vector<4xi32>, vector<4xi32>) : i32 {
// CHECK: "moe.load"(%arg0, {{.*}}) -> vector<2xi32>
// CHECK-COUNT-8: "moe.load"({{.*}}) -> vector<2xbf16>
// CHECK-COUNT-4: "moe.load"({{.*}}) -> vector<4xi32>
// CHECK-NEXT: "moe.issue_loads"() : () -> ()
// CHECK: "moe.unpack_int4"
// CHECK: scf.yield

// prefetch = 3: the 8 activation rows travel; the tile's own weights come first in its iteration (the
// longest wait), then its scales, then the next tile's activations.
// CHECK-LABEL: gpu.func @moe_stage1_int4_fp8_g32_bf16_atomic
// CHECK-COUNT-8: "moe.load"(%arg0, {{.*}}) -> vector<2xi32>
// CHECK-NEXT: "moe.issue_loads"() : () -> ()
// CHECK-NEXT: scf.for %{{.+}} iter_args(
// CHECK-SAME: -> (vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<2xi32>, vector<2xi32>, vector<2xi32>, vector<2xi32>, vector<2xi32>, vector<2xi32>, vector<2xi32>, vector<2xi32>) : i32 {
// CHECK: arith.minsi
// CHECK-COUNT-4: "moe.load"({{.*}}) -> vector<4xi32>
// CHECK-COUNT-8: "moe.load"({{.*}}) -> vector<2xbf16>
// CHECK-COUNT-8: "moe.load"(%arg0, {{.*}}) -> vector<2xi32>
// CHECK-NEXT: "moe.issue_loads"() : () -> ()
// CHECK: "moe.unpack_int4"
// CHECK: scf.yield

// stages = 2: weights go through a ring of 2 K tiles in shared memory: prologue copies tile 0 and
// commits; each iteration copies the tile stages - 1 ahead into slot (i + 1) % 2, waits until at most
// one group is in flight, and reads its slot back from shared memory (the lane's own pieces: no barrier).
// CHECK: llvm.mlir.global external @moe_smem() {addr_space = 3 : i32, alignment = 16 : i64} : !llvm.array<0 x i8>
// CHECK-LABEL: gpu.func @moe_stage1_int4_fp8_g32_bf16_atomic
// 2 stages x 4 warps x 4 weight pieces (2 column blocks x gate/up) x 32 lanes x 16 bytes:
// CHECK-SAME: shared_bytes = 16384 : i64, stages = 2 : i64
// CHECK: llvm.mlir.addressof @moe_smem : !llvm.ptr<3>
// CHECK: "moe.async_copy"
// CHECK: "moe.async_commit"() : () -> ()
// CHECK: scf.for
// CHECK: arith.remui %{{.+}}, %c2_i32 : i32
// CHECK: "moe.async_copy"
// CHECK: "moe.async_commit"() : () -> ()
// CHECK-NEXT: "moe.async_wait"() {pending = 1 : i64} : () -> ()
// CHECK: llvm.load %{{.+}} {alignment = 16 : i64} : !llvm.ptr<3> -> vector<4xi32>
// CHECK-NOT: gpu.barrier

module {
  func.func @prefetch(%x: memref<?x256xf8E4M3FN>, %w: memref<4x256x128xi8>, %sx: memref<?xf32>, %sw: memref<4x8x256xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x2x128xbf16>) {
    "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 1 : i64, group_size = 32 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "int4_fp8", out_dtype = "bf16", mode = "atomic", target = "sm_90", doweight_stage1 = false, tile_n = 64 : i64, tile_k = 128 : i64, prefetch = 1 : i64, stages = 0 : i64, tokens_hint = 64 : i64} : (memref<?x256xf8E4M3FN>, memref<4x256x128xi8>, memref<?xf32>, memref<4x8x256xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x2x128xbf16>) -> ()
    return
  }
  func.func @prefetch_weights(%x: memref<?x256xf8E4M3FN>, %w: memref<4x256x128xi8>, %sx: memref<?xf32>, %sw: memref<4x8x256xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x2x128xbf16>) {
    "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 1 : i64, group_size = 32 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "int4_fp8", out_dtype = "bf16", mode = "atomic", target = "sm_90", doweight_stage1 = false, tile_n = 64 : i64, tile_k = 128 : i64, prefetch = 2 : i64, stages = 0 : i64, tokens_hint = 64 : i64} : (memref<?x256xf8E4M3FN>, memref<4x256x128xi8>, memref<?xf32>, memref<4x8x256xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x2x128xbf16>) -> ()
    return
  }
  func.func @prefetch_small(%x: memref<?x256xf8E4M3FN>, %w: memref<4x256x128xi8>, %sx: memref<?xf32>, %sw: memref<4x8x256xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x2x128xbf16>) {
    "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 1 : i64, group_size = 32 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "int4_fp8", out_dtype = "bf16", mode = "atomic", target = "sm_90", doweight_stage1 = false, tile_n = 64 : i64, tile_k = 128 : i64, prefetch = 3 : i64, stages = 0 : i64, tokens_hint = 64 : i64} : (memref<?x256xf8E4M3FN>, memref<4x256x128xi8>, memref<?xf32>, memref<4x8x256xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x2x128xbf16>) -> ()
    return
  }
  func.func @staged(%x: memref<?x256xf8E4M3FN>, %w: memref<4x256x128xi8>, %sx: memref<?xf32>, %sw: memref<4x8x256xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x2x128xbf16>) {
    "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 1 : i64, group_size = 32 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "int4_fp8", out_dtype = "bf16", mode = "atomic", target = "sm_90", doweight_stage1 = false, tile_n = 64 : i64, tile_k = 128 : i64, prefetch = 0 : i64, stages = 2 : i64, tokens_hint = 64 : i64} : (memref<?x256xf8E4M3FN>, memref<4x256x128xi8>, memref<?xf32>, memref<4x8x256xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x2x128xbf16>) -> ()
    return
  }
}
