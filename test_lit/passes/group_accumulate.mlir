// RUN: %moe-opt %s --passes moe-group-accumulate | FileCheck %s

// moe-group-accumulate: a fresh MMA chain from zero per K group, then one fused running' = acc * s + running in f32: SPEC 1b's group-scale rule, applied inside the K loop.

// Group 32: one MMA from zero, then the fma with the running value.
// CHECK-LABEL: func.func @group32
// CHECK-SAME: (%[[A:[^:]+]]: i64, %[[B:[^:]+]]: i64, %[[RV:[^:]+]]: vector<4xf32>, %[[S:[^:]+]]: vector<4xf32>)
// CHECK-NEXT: %[[Z:.+]] = arith.constant dense<0.000000e+00> : vector<4xf32>
// CHECK-NEXT: %[[ACC:.+]] = "moe.mma"(%[[A]], %[[B]], %[[Z]]) {atom = "mfma_f32_16x16x32_fp8"} : (i64, i64, vector<4xf32>) -> vector<4xf32>
// CHECK-NEXT: %[[R:.+]] = llvm.intr.fma(%[[ACC]], %[[S]], %[[RV]]) : (vector<4xf32>, vector<4xf32>, vector<4xf32>) -> vector<4xf32>
// CHECK-NEXT: return %[[R]] : vector<4xf32>
func.func @group32(%a: i64, %b: i64, %run: vector<4xf32>, %s: vector<4xf32>) -> vector<4xf32> {
  %r = "moe.group_mma"(%a, %b, %run, %s) {atom = "mfma_f32_16x16x32_fp8", steps = 1 : i64} : (i64, i64, vector<4xf32>, vector<4xf32>) -> vector<4xf32>
  return %r : vector<4xf32>
}

// Group 64: operands are (a0, a1, b0, b1, running, s); the chain pairs a_i with b_i, in K order,
// and only the chain's end is scaled.
// CHECK-LABEL: func.func @group64
// CHECK-SAME: (%[[A0:[^:]+]]: i64, %[[A1:[^:]+]]: i64, %[[B0:[^:]+]]: i64, %[[B1:[^:]+]]: i64, %[[RV2:[^:]+]]: vector<4xf32>, %[[S2:[^:]+]]: vector<4xf32>)
// CHECK-NEXT: %[[Z2:.+]] = arith.constant dense<0.000000e+00> : vector<4xf32>
// CHECK-NEXT: %[[M0:.+]] = "moe.mma"(%[[A0]], %[[B0]], %[[Z2]]) {atom = "mfma_f32_16x16x32_fp8"}
// CHECK-NEXT: %[[M1:.+]] = "moe.mma"(%[[A1]], %[[B1]], %[[M0]]) {atom = "mfma_f32_16x16x32_fp8"}
// CHECK-NEXT: %[[R2:.+]] = llvm.intr.fma(%[[M1]], %[[S2]], %[[RV2]]) : (vector<4xf32>, vector<4xf32>, vector<4xf32>) -> vector<4xf32>
// CHECK-NEXT: return %[[R2]] : vector<4xf32>
func.func @group64(%a0: i64, %a1: i64, %b0: i64, %b1: i64, %run: vector<4xf32>, %s: vector<4xf32>) -> vector<4xf32> {
  %r = "moe.group_mma"(%a0, %a1, %b0, %b1, %run, %s) {atom = "mfma_f32_16x16x32_fp8", steps = 2 : i64} : (i64, i64, i64, i64, vector<4xf32>, vector<4xf32>) -> vector<4xf32>
  return %r : vector<4xf32>
}

// In a K loop, two groups in a row: the second group's running value is the first group's fma, and
// each group starts again from zero (never from the running sum).
// CHECK-LABEL: func.func @two_groups_in_loop
// CHECK: scf.for {{.*}} iter_args(%[[IT:[a-z0-9_]+]] = %{{[^)]+}}) -> (vector<4xf32>)
// CHECK-NEXT: %[[ZA:.+]] = arith.constant dense<0.000000e+00> : vector<4xf32>
// CHECK-NEXT: %[[MA:.+]] = "moe.mma"(%{{[^,]+}}, %{{[^,]+}}, %[[ZA]])
// CHECK-NEXT: %[[FA:.+]] = llvm.intr.fma(%[[MA]], %{{[^,]+}}, %[[IT]])
// CHECK-NEXT: %[[ZB:.+]] = arith.constant dense<0.000000e+00> : vector<4xf32>
// CHECK-NEXT: %[[MB:.+]] = "moe.mma"(%{{[^,]+}}, %{{[^,]+}}, %[[ZB]])
// CHECK-NEXT: %[[FB:.+]] = llvm.intr.fma(%[[MB]], %{{[^,]+}}, %[[FA]])
// CHECK-NEXT: scf.yield %[[FB]] : vector<4xf32>
func.func @two_groups_in_loop(%a: i64, %b: i64, %s: vector<4xf32>, %n: index) -> vector<4xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %z = arith.constant dense<0.0> : vector<4xf32>
  %r = scf.for %i = %c0 to %n step %c1 iter_args(%run = %z) -> (vector<4xf32>) {
    %g0 = "moe.group_mma"(%a, %b, %run, %s) {atom = "mfma_f32_16x16x32_fp8", steps = 1 : i64} : (i64, i64, vector<4xf32>, vector<4xf32>) -> vector<4xf32>
    %g1 = "moe.group_mma"(%a, %b, %g0, %s) {atom = "mfma_f32_16x16x32_fp8", steps = 1 : i64} : (i64, i64, vector<4xf32>, vector<4xf32>) -> vector<4xf32>
    scf.yield %g1 : vector<4xf32>
  }
  return %r : vector<4xf32>
}

// CHECK-NOT: moe.group_mma

// i8 MMA (W4A8, group 32): the chain runs in i32 from an integer zero, exact, and is converted to f32
// once before the fused scale-add (SPEC 2: int accumulators converted to f32 first).
// CHECK-LABEL: func.func @group32_i8
// CHECK-SAME: (%[[IA:[^:]+]]: i64, %[[IB:[^:]+]]: i64, %[[IRV:[^:]+]]: vector<4xf32>, %[[IS:[^:]+]]: vector<4xf32>)
// CHECK-NEXT: %[[IZ:.+]] = arith.constant dense<0> : vector<4xi32>
// CHECK-NEXT: %[[IACC:.+]] = "moe.mma"(%[[IA]], %[[IB]], %[[IZ]]) {atom = "mfma_i32_16x16x32_i8"} : (i64, i64, vector<4xi32>) -> vector<4xi32>
// CHECK-NEXT: %[[IF:.+]] = arith.sitofp %[[IACC]] : vector<4xi32> to vector<4xf32>
// CHECK-NEXT: %[[IR:.+]] = llvm.intr.fma(%[[IF]], %[[IS]], %[[IRV]]) : (vector<4xf32>, vector<4xf32>, vector<4xf32>) -> vector<4xf32>
// CHECK-NEXT: return %[[IR]] : vector<4xf32>
func.func @group32_i8(%a: i64, %b: i64, %run: vector<4xf32>, %s: vector<4xf32>) -> vector<4xf32> {
  %r = "moe.group_mma"(%a, %b, %run, %s) {atom = "mfma_i32_16x16x32_i8", steps = 1 : i64} : (i64, i64, vector<4xf32>, vector<4xf32>) -> vector<4xf32>
  return %r : vector<4xf32>
}

// gfx942 bf16 (K16 MFMA): a K32 group is a chain of two MFMAs.
// CHECK-LABEL: func.func @group32_bf16_k16
// CHECK: "moe.mma"{{.*}}{atom = "mfma_f32_16x16x16_bf16"}
// CHECK-NEXT: "moe.mma"{{.*}}{atom = "mfma_f32_16x16x16_bf16"}
// CHECK-NEXT: llvm.intr.fma
func.func @group32_bf16_k16(%a0: i64, %a1: i64, %b0: i64, %b1: i64, %run: vector<4xf32>, %s: vector<4xf32>) -> vector<4xf32> {
  %r = "moe.group_mma"(%a0, %a1, %b0, %b1, %run, %s) {atom = "mfma_f32_16x16x16_bf16", steps = 2 : i64} : (i64, i64, i64, i64, vector<4xf32>, vector<4xf32>) -> vector<4xf32>
  return %r : vector<4xf32>
}
