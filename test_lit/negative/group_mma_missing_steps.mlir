// moe.group_mma without its `steps` attribute is refused at the op (the pass must not read what is not there).
// RUN: not %moe-opt %s --passes moe-group-accumulate 2>&1 | FileCheck %s

func.func @bad(%a: i64, %b: i64, %r: vector<4xf32>, %s: vector<4xf32>) -> vector<4xf32> {
  // CHECK: {{.*}}group_mma_missing_steps.mlir:[[# @LINE + 1]]:8: error: 'moe.group_mma' needs the attribute 'steps'
  %v = "moe.group_mma"(%a, %b, %r, %s) {atom = "mfma_f32_16x16x32_fp8"} : (i64, i64, vector<4xf32>, vector<4xf32>) -> vector<4xf32>
  return %v : vector<4xf32>
}
// CHECK-NOT: Traceback
