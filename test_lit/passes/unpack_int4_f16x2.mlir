// The f16-pair schemes (sm_90): the word holds code + 8 per nibble (offset binary, as the host packs it
// for these schemes: no sign flip in the kernel), each f16 pair built by one AND + OR (moe.and_or) with the 1024.0 magic (nibbles P and P+4 of the word are elements 2P and 2P+1), one f16x2 subtract or FMA to
// recover the codes. "f16" stops there (the operand of the f16 MMA that sm_90's W4A_FP8 uses);
// "f16x2" adds one paired f16 -> fp8 convert per pair, two pairs per word of four fp8 bytes. No lookup
// table, no per-element shifts.
// RUN: %moe-opt %s --passes moe-unpack-int4 | FileCheck %s

// CHECK-LABEL: func.func @unpack_f16
// CHECK-NOT: moe.unpack_int4
// CHECK-NOT: arith.xori
// CHECK-COUNT-1: arith.shrui
// CHECK: "moe.and_or"(%{{.*}}, %c1677747200_i32) {mask = 983055 : i32} : (i32, i32) -> i32
// CHECK-NEXT: llvm.bitcast %{{.*}} : i32 to vector<2xf16>
// CHECK: arith.subf %{{.*}}, %{{.*}} : vector<2xf16>
// CHECK: llvm.intr.fma(%{{.*}}, %{{.*}}, %{{.*}}) : (vector<2xf16>, vector<2xf16>, vector<2xf16>) -> vector<2xf16>
// CHECK-COUNT-4: llvm.bitcast %{{.*}} : vector<2xf16> to i32
// CHECK-NEXT: vector.from_elements %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : vector<4xi32>
// CHECK-NOT: moe.cvt
// CHECK-NOT: arith.sitofp
// CHECK-LABEL: func.func @unpack_f16x2
// CHECK-COUNT-2: arith.subf %{{.*}}, %{{.*}} : vector<2xf16>
// CHECK-COUNT-2: "moe.cvt_f16x2_fp8x2"(%{{.*}}, %{{.*}}) : (vector<2xf16>, vector<2xf16>) -> i32
// CHECK-NOT: moe.cvt_pk_fp8
// CHECK-NOT: arith.shli
// CHECK-NEXT: vector.from_elements %{{.*}}, %{{.*}} : vector<2xi32>
// CHECK-NOT: arith.sitofp
func.func @unpack_f16(%w: i32) -> vector<4xi32> {
  %b = "moe.unpack_int4"(%w) {to = "f16", scheme = "f16"} : (i32) -> vector<4xi32>
  return %b : vector<4xi32>
}

func.func @unpack_f16x2(%w: i32) -> vector<2xi32> {
  %b = "moe.unpack_int4"(%w) {to = "fp8", scheme = "f16x2"} : (i32) -> vector<2xi32>
  return %b : vector<2xi32>
}
