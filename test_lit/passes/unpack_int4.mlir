// RUN: %moe-opt %s --passes moe-unpack-int4 -o %t.mlir
// RUN: FileCheck %s --input-file %t.mlir
// RUN: FileCheck %s --input-file %t.mlir --check-prefix=GONE

// moe-unpack-int4 expands 8 int4 codes into 8 fp8 bytes with shifts, an exact int -> f32 and 4 packed converts, in nibble order and with no lookup table (SPEC 3).

// CHECK-LABEL: func.func @unpack_i64
// CHECK-SAME: (%[[W:[^:]+]]: i32) -> i64
// CHECK-NOT: dense<
// CHECK: %[[N0S:.+]] = arith.shli %[[W]], %c28_i32 : i32
// CHECK-NEXT: %[[N0:.+]] = arith.shrsi %[[N0S]], %c28_i32 : i32
// CHECK-NEXT: %[[F0:.+]] = arith.sitofp %[[N0]] : i32 to f32
// CHECK-NEXT: %[[N1S:.+]] = arith.shli %[[W]], %c24_i32 : i32
// CHECK-NEXT: %[[N1:.+]] = arith.shrsi %[[N1S]], %c28_i32 : i32
// CHECK-NEXT: %[[F1:.+]] = arith.sitofp %[[N1]] : i32 to f32
// CHECK-NEXT: %[[N2S:.+]] = arith.shli %[[W]], %c20_i32 : i32
// CHECK-NEXT: %[[N2:.+]] = arith.shrsi %[[N2S]], %c28_i32 : i32
// CHECK-NEXT: %[[F2:.+]] = arith.sitofp %[[N2]] : i32 to f32
// CHECK-NEXT: %[[N3S:.+]] = arith.shli %[[W]], %c16_i32 : i32
// CHECK-NEXT: %[[N3:.+]] = arith.shrsi %[[N3S]], %c28_i32 : i32
// CHECK-NEXT: %[[F3:.+]] = arith.sitofp %[[N3]] : i32 to f32
// CHECK-NEXT: %[[N4S:.+]] = arith.shli %[[W]], %c12_i32 : i32
// CHECK-NEXT: %[[N4:.+]] = arith.shrsi %[[N4S]], %c28_i32 : i32
// CHECK-NEXT: %[[F4:.+]] = arith.sitofp %[[N4]] : i32 to f32
// CHECK-NEXT: %[[N5S:.+]] = arith.shli %[[W]], %c8_i32 : i32
// CHECK-NEXT: %[[N5:.+]] = arith.shrsi %[[N5S]], %c28_i32 : i32
// CHECK-NEXT: %[[F5:.+]] = arith.sitofp %[[N5]] : i32 to f32
// CHECK-NEXT: %[[N6S:.+]] = arith.shli %[[W]], %c4_i32 : i32
// CHECK-NEXT: %[[N6:.+]] = arith.shrsi %[[N6S]], %c28_i32 : i32
// CHECK-NEXT: %[[F6:.+]] = arith.sitofp %[[N6]] : i32 to f32
// The top nibble needs no left shift.
// CHECK-NEXT: %[[N7:.+]] = arith.shrsi %[[W]], %c28_i32 : i32
// CHECK-NEXT: %[[F7:.+]] = arith.sitofp %[[N7]] : i32 to f32
// CHECK-NEXT: %[[LO0:.+]] = "moe.cvt_pk_fp8"(%[[F0]], %[[F1]], %c0_i32) {hi = false} : (f32, f32, i32) -> i32
// CHECK-NEXT: %[[WD0:.+]] = "moe.cvt_pk_fp8"(%[[F2]], %[[F3]], %[[LO0]]) {hi = true} : (f32, f32, i32) -> i32
// CHECK-NEXT: %[[LO1:.+]] = "moe.cvt_pk_fp8"(%[[F4]], %[[F5]], %c0_i32) {hi = false} : (f32, f32, i32) -> i32
// CHECK-NEXT: %[[WD1:.+]] = "moe.cvt_pk_fp8"(%[[F6]], %[[F7]], %[[LO1]]) {hi = true} : (f32, f32, i32) -> i32
// CHECK-NEXT: %[[V:.+]] = vector.from_elements %[[WD0]], %[[WD1]] : vector<2xi32>
// CHECK-NEXT: %[[R:.+]] = llvm.bitcast %[[V]] : vector<2xi32> to i64
// CHECK-NEXT: return %[[R]] : i64
func.func @unpack_i64(%w: i32) -> i64 {
  %r = "moe.unpack_int4"(%w) {to = "fp8"} : (i32) -> i64
  return %r : i64
}

// The vector<2xi32> form is the same words without the final bitcast.
// CHECK-LABEL: func.func @unpack_vec
// CHECK-COUNT-4: "moe.cvt_pk_fp8"
// CHECK-NEXT: %[[V2:.+]] = vector.from_elements %{{[^,]+}}, %{{[^ ]+}} : vector<2xi32>
// CHECK-NEXT: return %[[V2]] : vector<2xi32>
func.func @unpack_vec(%w: i32) -> vector<2xi32> {
  %r = "moe.unpack_int4"(%w) {to = "fp8"} : (i32) -> vector<2xi32>
  return %r : vector<2xi32>
}

// Inside a loop (as in the K loop), each op is expanded in place, using the loop's own value.
// CHECK-LABEL: func.func @unpack_in_loop
// CHECK: scf.for
// CHECK: %[[LW:.+]] = vector.extract %{{.+}}[1] : i32 from vector<2xi32>
// CHECK: arith.shli %[[LW]], %c28_i32 : i32
// CHECK-COUNT-4: "moe.cvt_pk_fp8"
// CHECK: scf.yield
func.func @unpack_in_loop(%words: vector<2xi32>, %n: index) -> i64 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %z = arith.constant 0 : i64
  %r = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %z) -> (i64) {
    %w = vector.extract %words[1] : i32 from vector<2xi32>
    %u = "moe.unpack_int4"(%w) {to = "fp8"} : (i32) -> i64
    %s = arith.xori %acc, %u : i64
    scf.yield %s : i64
  }
  return %r : i64
}

// Anywhere in the output: no unpack op left, no table (no dense constant, no global).
// GONE-NOT: moe.unpack_int4
// GONE-NOT: dense<
// GONE-NOT: global
