// RUN: not %moe-opt %s --passes moe-to-flydsl 2>&1 | FileCheck %s

// Negative: gfx9 has no packed f32 pair atomic add; rather than emit a CAS loop, the lowering refuses.

func.func @f32_pair(%p: !llvm.ptr<1>, %v: vector<2xf32>) {
  // CHECK: {{.*}}to_flydsl_atomic_f32x2.mlir:[[# @LINE + 1]]:3: error: moe.atomic_add: no native gfx9 atomic for vector<2xf32>
  "moe.atomic_add"(%p, %v) : (!llvm.ptr<1>, vector<2xf32>) -> ()
  return
}
// CHECK-NOT: error:
// CHECK-NOT: module
