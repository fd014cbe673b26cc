// RUN: not %moe-opt %s --passes moe-to-nvvm 2>&1 | FileCheck %s

// Negative: moe.cvt_f16x2_fp8x2 packs two f16 pairs into one word of four fp8 bytes; other operand or
// result types are refused at the op.

func.func @wrong_types(%a: vector<2xf16>, %b: vector<2xbf16>) -> i32 {
  // CHECK: {{.*}}to_nvvm_cvt_f16x2_types.mlir:[[# @LINE + 1]]:8: error: moe.cvt_f16x2_fp8x2 takes two f16 pairs to an i32 of four fp8 bytes, got ['vector<2xf16>', 'vector<2xbf16>', 'i32']
  %r = "moe.cvt_f16x2_fp8x2"(%a, %b) : (vector<2xf16>, vector<2xbf16>) -> i32
  return %r : i32
}
