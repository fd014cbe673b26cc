// RUN: not %moe-opt %s --passes moe-to-nvvm 2>&1 | FileCheck %s

// Negative: moe.and_or is the 32-bit masked OR of the int4 pair unpack; other operand types are refused at
// the op, not handed to ptxas as a malformed lop3.

func.func @wide(%w: i64, %m: i64) -> i64 {
  // CHECK: {{.*}}to_nvvm_and_or_types.mlir:[[# @LINE + 1]]:8: error: moe.and_or takes and gives i32, got ['i64', 'i64', 'i64']
  %r = "moe.and_or"(%w, %m) {mask = 983055 : i32} : (i64, i64) -> i64
  return %r : i64
}
