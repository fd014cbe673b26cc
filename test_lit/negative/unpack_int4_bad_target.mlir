// RUN: not %moe-opt %s --passes moe-unpack-int4 2>&1 | FileCheck %s

// Negative: moe-unpack-int4 only knows int4 -> fp8; a malformed op (to = "int2") gets a diagnostic at the op, not a wrong expansion.

func.func @int2(%w: i32) -> i64 {
  // CHECK: {{.*}}unpack_int4_bad_target.mlir:[[# @LINE + 1]]:8: error: moe.unpack_int4: unsupported conversion target 'int2' (supported: fp8, i8, bf16, f16)
  %r = "moe.unpack_int4"(%w) {to = "int2"} : (i32) -> i64
  return %r : i64
}
// CHECK-NOT: error:
// CHECK-NOT: module
