// RUN: not %moe-opt %s --passes moe-to-flydsl 2>&1 | FileCheck %s

// Negative: the target lowering refuses a leftover target-neutral op (moe.group_mma) and names the skipped passes, instead of handing it to FlyDSL.

func.func @not_expanded(%a: i64, %b: i64, %run: vector<4xf32>, %s: vector<4xf32>) -> vector<4xf32> {
  // CHECK: {{.*}}to_flydsl_unexpanded_group_mma.mlir:[[# @LINE + 1]]:8: error: 'moe.group_mma' must be expanded before moe-to-flydsl (run the target-neutral passes first)
  %r = "moe.group_mma"(%a, %b, %run, %s) {atom = "mfma_f32_16x16x32_fp8", steps = 1 : i64} : (i64, i64, vector<4xf32>, vector<4xf32>) -> vector<4xf32>
  return %r : vector<4xf32>
}
// CHECK-NOT: error:
// CHECK-NOT: module
