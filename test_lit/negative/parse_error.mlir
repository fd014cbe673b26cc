// RUN: not %moe-opt %s --passes moe-verify 2>&1 | FileCheck %s

// Negative: malformed input text is reported as file:line:col like any MLIR tool, with no traceback.

func.func @undeclared(%x: i32) {
  // CHECK: {{.*}}parse_error.mlir:[[# @LINE + 1]]:23: error: use of undeclared SSA value name
  %y = arith.addi %x, %z : i32
  return
}
// CHECK-NOT: Traceback
// CHECK-NOT: module
