// RUN: %moe-opt %s --passes moe-unpack-int4 | FileCheck %s

// int4 -> int8 (W4A8, scheme i8x16): nibbles of elements 0-3 sit in the low halves of the word's bytes,
// 4-7 in the high halves; two AND masks (after one shift) give both operand words, each byte 16 x code as
// a signed int8. Three instructions, no conversion (SPEC 3: to int8 for W4A8).
// CHECK-LABEL: func.func @to_i8
// CHECK-SAME: (%[[W:[^:]+]]: i32)
// CHECK: %[[SH:.+]] = arith.shli %[[W]], %c4_i32 : i32
// CHECK-NEXT: %[[LO:.+]] = arith.andi %[[SH]], %c-252645136_i32 : i32
// CHECK-NEXT: %[[HI:.+]] = arith.andi %[[W]], %c-252645136_i32 : i32
// CHECK-NEXT: %[[V:.+]] = vector.from_elements %[[LO]], %[[HI]] : vector<2xi32>
// CHECK-NEXT: %[[R:.+]] = llvm.bitcast %[[V]] : vector<2xi32> to i64
// CHECK-NEXT: return %[[R]] : i64
func.func @to_i8(%w: i32) -> i64 {
  %b = "moe.unpack_int4"(%w) {to = "i8", scheme = "i8x16"} : (i32) -> i64
  return %b : i64
}

// int4 -> bf16 via f32 (W4A16 on gfx9, scheme bf16_f32): sign-extend each nibble, convert exactly to
// f32, keep the upper halves, two per word: (odd & 0xFFFF0000) | (even >> 16).
// CHECK-LABEL: func.func @to_bf16_f32
// CHECK-COUNT-8: arith.sitofp %{{.*}} : i32 to f32
// CHECK: arith.shrui %{{.*}}, %c16_i32 : i32
// CHECK-NEXT: arith.andi %{{.*}}, %c-65536_i32 : i32
// CHECK-NEXT: arith.ori
// CHECK: vector.from_elements %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : vector<4xi32>
// CHECK-NOT: arith.truncf
func.func @to_bf16_f32(%w: i32) -> vector<4xi32> {
  %b = "moe.unpack_int4"(%w) {to = "bf16", scheme = "bf16_f32"} : (i32) -> vector<4xi32>
  return %b : vector<4xi32>
}

// int4 -> bf16 pairs (W4A16 on sm_90, scheme bf16x2): the word holds code + 8 per nibble; per pair one
// shift, one AND/OR with the 0x4300 magic (bf16 128 + u; moe.and_or: one instruction where the target
// has a three-input logic op) and one bf16x2 subtract of 136.
// CHECK-LABEL: func.func @to_bf16x2
// CHECK-NOT: arith.xori
// CHECK: "moe.and_or"(%{{.*}}, %c1124090624_i32) {mask = 983055 : i32} : (i32, i32) -> i32
// CHECK-NEXT: llvm.bitcast %{{.*}} : i32 to vector<2xbf16>
// CHECK-NEXT: arith.subf %{{.*}}, %{{.*}} : vector<2xbf16>
// CHECK-COUNT-3: arith.subf %{{.*}}, %{{.*}} : vector<2xbf16>
// CHECK: vector.from_elements %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : vector<4xi32>
// CHECK-NOT: arith.sitofp
func.func @to_bf16x2(%w: i32) -> vector<4xi32> {
  %b = "moe.unpack_int4"(%w) {to = "bf16", scheme = "bf16x2"} : (i32) -> vector<4xi32>
  return %b : vector<4xi32>
}
