// RUN: %moe-opt %s --passes moe-to-kernel | FileCheck %s

// moe-to-kernel with group 64: one moe.group_mma (steps = 2) per 64-wide K group, so each group starts one fresh accumulator as SPEC 1b requires.

// CHECK: gpu.module @moe_kernels attributes {moe.target = "gfx942"}
// CHECK-NEXT: gpu.func @moe_stage1_int4_fp8_g64_bf16_atomic(%[[X:[^:]+]]: !llvm.ptr<1>, %[[W:[^:]+]]: !llvm.ptr<1>, %[[SX:[^:]+]]: !llvm.ptr<1>, %[[SW:[^:]+]]: !llvm.ptr<1>,
// Scales [E, K/64, N] bf16: 4 x 256 x 2 bytes an expert.
// CHECK: %[[SWOFF:.+]] = arith.muli %{{.+}}, %c2048_i64 : i64
// CHECK-NEXT: %[[SWE:.+]] = llvm.getelementptr %[[SW]][%[[SWOFF]]]
// CHECK: scf.for %[[KT:[a-z0-9_]+]] = %c0_i32 to %c256_i32 step %c128_i32 iter_args(%[[R0:[a-z0-9_]+]] = %{{[a-z0-9_]+}}, %[[R1:[a-z0-9_]+]] =
// CHECK: %[[A0:.+]] = "moe.load"(%[[X]], {{.*}}) -> i64
// CHECK-NEXT: arith.addi %[[KT]], %c32_i32
// CHECK: %[[A1:.+]] = "moe.load"(%[[X]], {{.*}}) -> i64
// The group index is K / 64.
// CHECK: arith.divui %[[KT]], %c64_i32 : i32
// CHECK: "moe.load"(%[[SWE]], {{.*}}) -> vector<2xbf16>
// CHECK: "moe.unpack_int4"
// CHECK: %[[SV:.+]] = vector.broadcast %{{.+}} : f32 to vector<4xf32>
// CHECK-NEXT: "moe.group_mma"(%[[A0]], %[[A1]], %{{[^,]+}}, %{{[^,]+}}, %[[R0]], %[[SV]]) {atom = "mfma_f32_16x16x32_fp8", steps = 2 : i64} : (i64, i64, i64, i64, vector<4xf32>, vector<4xf32>) -> vector<4xf32>
// CHECK-COUNT-7: "moe.group_mma"({{.*}}) {atom = "mfma_f32_16x16x32_fp8", steps = 2 : i64}
// CHECK-NOT: "moe.group_mma"
// CHECK-NOT: "moe.mma"
// CHECK: scf.yield

func.func @s_g64(%x: memref<?x256xf8E4M3FNUZ>, %w: memref<4x256x128xi8>, %sx: memref<?xf32>, %sw: memref<4x4x256xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x2x128xbf16>) {
  "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {doweight_stage1 = false, dtype = "int4_fp8", experts = 4 : i64, group_size = 64 : i64, inter_dim = 128 : i64, mode = "atomic", model_dim = 256 : i64, out_dtype = "bf16", stage = 1 : i64, target = "gfx942", tile_k = 128 : i64, tile_m = 16 : i64, tile_n = 128 : i64, tokens_hint = 64 : i64, topk = 2 : i64, waves = 4 : i64} : (memref<?x256xf8E4M3FNUZ>, memref<4x256x128xi8>, memref<?xf32>, memref<4x4x256xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x2x128xbf16>) -> ()
  return
}
