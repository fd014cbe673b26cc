// A malformed mid-level op (a 3-operand moe.load) is refused with a diagnostic at the op, not an internal error.
// RUN: not %moe-opt %s --passes moe-to-flydsl 2>&1 | FileCheck %s
// RUN: not %moe-opt %s --passes moe-to-nvvm 2>&1 | FileCheck %s

func.func @bad(%p: !llvm.ptr<1>, %off: i32, %ok: i1) -> i32 {
  // CHECK: {{.*}}midlevel_malformed_load.mlir:[[# @LINE + 1]]:8: error: 'moe.load' expects 4 operands, got 3
  %v = "moe.load"(%p, %off, %ok) : (!llvm.ptr<1>, i32, i1) -> i32
  return %v : i32
}
// CHECK-NOT: error
// CHECK-NOT: Traceback
