// RUN: not %moe-opt %s --passes moe-unpack-int4 2>&1 | FileCheck %s

// Negative: 8 int4 codes become 8 fp8 bytes; a 4-byte result type cannot hold them and is refused.

func.func @i32_result(%w: i32) -> i32 {
  // CHECK: {{.*}}unpack_int4_bad_result.mlir:[[# @LINE + 1]]:8: error: moe.unpack_int4 to fp8 yields 8 bytes (i64 or vector<2xi32>), got i32
  %r = "moe.unpack_int4"(%w) {to = "fp8"} : (i32) -> i32
  return %r : i32
}
// CHECK-NOT: error:
// CHECK-NOT: module
