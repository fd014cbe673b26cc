// RUN: not %moe-opt %s --pipeline moe-to-gfx90a 2>&1 | FileCheck %s

// Negative (CLI): an unknown pipeline name is one error line listing the known pipelines.

// CHECK: moe-opt: error: unknown pipeline 'moe-to-gfx90a'; known: moe-target-neutral, moe-to-gfx942, moe-to-gfx950
// CHECK-NOT: Traceback
// CHECK-NOT: module
func.func @f() {
  return
}
