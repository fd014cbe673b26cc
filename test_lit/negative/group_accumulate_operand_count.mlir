// RUN: not %moe-opt %s --passes moe-group-accumulate 2>&1 | FileCheck %s

// Negative: a moe.group_mma whose operand count does not match its steps (2 steps: a0, a1, b0, b1, running, scale) is refused at the op.

func.func @steps_mismatch(%a: i64, %b: i64, %run: vector<4xf32>, %s: vector<4xf32>) -> vector<4xf32> {
  // CHECK: {{.*}}group_accumulate_operand_count.mlir:[[# @LINE + 1]]:8: error: moe.group_mma with steps = 2 needs 6 operands, got 4
  %r = "moe.group_mma"(%a, %b, %run, %s) {atom = "mfma_f32_16x16x32_fp8", steps = 2 : i64} : (i64, i64, vector<4xf32>, vector<4xf32>) -> vector<4xf32>
  return %r : vector<4xf32>
}
// CHECK-NOT: error:
// CHECK-NOT: module
