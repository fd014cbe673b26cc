// RUN: %moe-opt %s --passes moe-group-accumulate | FileCheck %s

// A warpgroup MMA (sm_90a wgmma) group: the chain is one moe.wgmma of both k16 steps (no zeroed
// accumulator: its first MMA starts from zero), waited for, then one f32 fma by the group scale
// onto the running sum, all shaped like the 64-token accumulator (32 f32 per lane).
// CHECK-LABEL: func.func @wgmma_group32
// CHECK-SAME: (%[[D0:[^:]+]]: i64, %[[D1:[^:]+]]: i64, %[[W0:[^:]+]]: vector<4xi32>, %[[W1:[^:]+]]: vector<4xi32>, %[[RV:[^:]+]]: vector<32xf32>, %[[S:[^:]+]]: vector<32xf32>)
// CHECK-NEXT: %[[I:.+]] = "moe.wgmma"(%[[D0]], %[[D1]], %[[W0]], %[[W1]]) {atom = "wgmma_m64k16_bf16_t", steps = 2 : i64} : (i64, i64, vector<4xi32>, vector<4xi32>) -> vector<32xf32>
// CHECK-NEXT: %[[A:.+]] = "moe.wgmma_wait"(%[[I]]) {pending = 0 : i64} : (vector<32xf32>) -> vector<32xf32>
// CHECK-NEXT: %[[R:.+]] = llvm.intr.fma(%[[A]], %[[S]], %[[RV]]) : (vector<32xf32>, vector<32xf32>, vector<32xf32>) -> vector<32xf32>
// CHECK-NEXT: return %[[R]] : vector<32xf32>
// CHECK-NOT: arith.constant
func.func @wgmma_group32(%d0: i64, %d1: i64, %w0: vector<4xi32>, %w1: vector<4xi32>, %run: vector<32xf32>, %s: vector<32xf32>) -> vector<32xf32> {
  %r = "moe.group_mma"(%d0, %d1, %w0, %w1, %run, %s) {atom = "wgmma_m64k16_bf16_t", steps = 2 : i64} : (i64, i64, vector<4xi32>, vector<4xi32>, vector<32xf32>, vector<32xf32>) -> vector<32xf32>
  return %r : vector<32xf32>
}
