// RUN: %moe-opt %s --passes moe-to-nvvm | FileCheck %s

// The int4 unpack's helper ops on sm_90. moe.and_or is one lop3 (a & mask) | b with b in a register: with
// both constants as immediates ptxas splits it into two LOP3s. moe.cvt_f16x2_fp8x2 converts two f16
// pairs into 16-bit halves and joins them by one move into the word of four e4m3 bytes (first pair low).

// CHECK-LABEL: func.func @and_or
// CHECK-SAME: (%[[W:[^:]+]]: i32)
// CHECK: %[[M:.+]] = arith.constant 1677747200 : i32
// CHECK: llvm.inline_asm asm_dialect = att "lop3.b32 $0, $1, 0xf000f, $2, 0xEA;", "=r,r,r" %[[W]], %[[M]] : (i32, i32) -> i32
// CHECK-NOT: arith.andi
// CHECK-NOT: arith.ori
func.func @and_or(%w: i32) -> i32 {
  %m = arith.constant 1677747200 : i32
  %r = "moe.and_or"(%w, %m) {mask = 983055 : i32} : (i32, i32) -> i32
  return %r : i32
}

// CHECK-LABEL: func.func @cvt_f16x2_fp8x2
// CHECK: %[[A:.+]] = llvm.bitcast %{{.*}} : vector<2xf16> to i32
// CHECK-NEXT: %[[B:.+]] = llvm.bitcast %{{.*}} : vector<2xf16> to i32
// CHECK-NEXT: llvm.inline_asm asm_dialect = att "{ .reg .b16 lo, hi; cvt.rn.satfinite.e4m3x2.f16x2 lo, $1; cvt.rn.satfinite.e4m3x2.f16x2 hi, $2; mov.b32 $0, {lo, hi}; }", "=r,r,r" %[[A]], %[[B]] : (i32, i32) -> i32
func.func @cvt_f16x2_fp8x2(%a: vector<2xf16>, %b: vector<2xf16>) -> i32 {
  %r = "moe.cvt_f16x2_fp8x2"(%a, %b) : (vector<2xf16>, vector<2xf16>) -> i32
  return %r : i32
}
