// RUN: %moe-opt %s --passes moe-epilogue | FileCheck %s

// moe-epilogue: silu(gate*s)*(up*s)*w as one packed bf16 store (stage 1) or acc*s*w as one packed atomic add (stage 2), only under the row's valid bit, so padding rows never write.

// CHECK-LABEL: func.func @stage1_bf16
// CHECK-SAME: (%[[OUT:[^:]+]]: !llvm.ptr<1>, %[[OFF:[^:]+]]: i32, %[[VALID:[^:]+]]: i1, %[[SX:[^:]+]]: f32, %[[W:[^:]+]]: f32, %[[COL:[^:]+]]: i32, %[[G0:[^:]+]]: f32, %[[G1:[^:]+]]: f32, %[[U0:[^:]+]]: f32, %[[U1:[^:]+]]: f32)
// CHECK-DAG: %[[NLOG2E:.+]] = arith.constant -1.44269502 : f32
// CHECK-DAG: %[[ONE:.+]] = arith.constant 1.000000e+00 : f32
// CHECK: scf.if %[[VALID]] {
// silu(g) = g / (1 + 2^(-g * log2(e)))
// CHECK-NEXT: %[[GS:.+]] = arith.mulf %[[G0]], %[[SX]] : f32
// CHECK-NEXT: %[[US:.+]] = arith.mulf %[[U0]], %[[SX]] : f32
// CHECK-NEXT: %[[NEG:.+]] = arith.mulf %[[GS]], %[[NLOG2E]] : f32
// CHECK-NEXT: %[[EX:.+]] = "moe.exp2"(%[[NEG]]) : (f32) -> f32
// CHECK-NEXT: %[[DEN:.+]] = arith.addf %[[EX]], %[[ONE]] : f32
// CHECK-NEXT: %[[SILU:.+]] = arith.divf %[[GS]], %[[DEN]] : f32
// CHECK-NEXT: %[[H:.+]] = arith.mulf %[[SILU]], %[[US]] : f32
// CHECK-NEXT: %[[V0:.+]] = arith.mulf %[[H]], %[[W]] : f32
// The second column: same sequence on (G1, U1).
// CHECK-NEXT: arith.mulf %[[G1]], %[[SX]] : f32
// CHECK-NEXT: arith.mulf %[[U1]], %[[SX]] : f32
// CHECK-NEXT: arith.mulf
// CHECK-NEXT: "moe.exp2"
// CHECK-NEXT: arith.addf
// CHECK-NEXT: arith.divf
// CHECK-NEXT: arith.mulf
// CHECK-NEXT: %[[V1:.+]] = arith.mulf %{{.+}}, %[[W]] : f32
// CHECK-NEXT: %[[VEC:.+]] = vector.from_elements %[[V0]], %[[V1]] : vector<2xf32>
// CHECK-NEXT: %[[BF:.+]] = arith.truncf %[[VEC]] : vector<2xf32> to vector<2xbf16>
// CHECK-NEXT: %[[IDX:.+]] = arith.addi %[[OFF]], %[[COL]] : i32
// CHECK-NEXT: %[[PTR:.+]] = llvm.getelementptr %[[OUT]][%[[IDX]]] : (!llvm.ptr<1>, i32) -> !llvm.ptr<1>, bf16
// CHECK-NEXT: llvm.store %[[BF]], %[[PTR]] {alignment = 4 : i64} : vector<2xbf16>, !llvm.ptr<1>
// CHECK-NEXT: }
// CHECK-NEXT: return
func.func @stage1_bf16(%out: !llvm.ptr<1>, %off: i32, %valid: i1, %sx: f32, %w: f32, %col: i32, %g0: f32, %g1: f32, %u0: f32, %u1: f32) {
  "moe.epilogue"(%out, %off, %valid, %sx, %w, %col, %g0, %g1, %u0, %u1) {stage = 1 : i64, rows = 1 : i64, cols = 1 : i64, gate_up = 2 : i64, out_dtype = "bf16", mode = "atomic"} : (!llvm.ptr<1>, i32, i1, f32, f32, i32, f32, f32, f32, f32) -> ()
  return
}

// Stage 2, two rows: each row has its own scf.if on its own valid bit, scale and weight, and ends in a
// packed bf16 atomic add (no plain store).
// CHECK-LABEL: func.func @stage2_bf16
// CHECK-SAME: (%[[OUT2:[^:]+]]: !llvm.ptr<1>, %[[OFFA:[^:]+]]: i32, %[[VA:[^:]+]]: i1, %[[SXA:[^:]+]]: f32, %[[WA:[^:]+]]: f32, %[[OFFB:[^:]+]]: i32, %[[VB:[^:]+]]: i1, %[[SXB:[^:]+]]: f32, %[[WB:[^:]+]]: f32, %[[COL2:[^:]+]]: i32, %[[A0:[^:]+]]: f32, %[[A1:[^:]+]]: f32, %[[B0:[^:]+]]: f32, %[[B1:[^:]+]]: f32)
// CHECK-NOT: moe.exp2
// CHECK: scf.if %[[VA]] {
// CHECK-NEXT: %[[X0:.+]] = arith.mulf %[[A0]], %[[SXA]] : f32
// CHECK-NEXT: %[[Y0:.+]] = arith.mulf %[[X0]], %[[WA]] : f32
// CHECK-NEXT: %[[X1:.+]] = arith.mulf %[[A1]], %[[SXA]] : f32
// CHECK-NEXT: %[[Y1:.+]] = arith.mulf %[[X1]], %[[WA]] : f32
// CHECK-NEXT: %[[VEC2:.+]] = vector.from_elements %[[Y0]], %[[Y1]] : vector<2xf32>
// CHECK-NEXT: %[[BF2:.+]] = arith.truncf %[[VEC2]] : vector<2xf32> to vector<2xbf16>
// CHECK-NEXT: %[[IDX2:.+]] = arith.addi %[[OFFA]], %[[COL2]] : i32
// CHECK-NEXT: %[[PTR2:.+]] = llvm.getelementptr %[[OUT2]][%[[IDX2]]] : (!llvm.ptr<1>, i32) -> !llvm.ptr<1>, bf16
// CHECK-NEXT: "moe.atomic_add"(%[[PTR2]], %[[BF2]]) : (!llvm.ptr<1>, vector<2xbf16>) -> ()
// CHECK-NEXT: }
// CHECK-NEXT: scf.if %[[VB]] {
// CHECK-NEXT: arith.mulf %[[B0]], %[[SXB]] : f32
// CHECK-NEXT: arith.mulf %{{.+}}, %[[WB]] : f32
// CHECK-NEXT: arith.mulf %[[B1]], %[[SXB]] : f32
// CHECK-NOT: llvm.store
// CHECK: arith.addi %[[OFFB]], %[[COL2]] : i32
// CHECK-NOT: llvm.store
// CHECK: "moe.atomic_add"(%{{.+}}, %{{.+}}) : (!llvm.ptr<1>, vector<2xbf16>) -> ()
// CHECK-NEXT: }
// CHECK-NEXT: return
func.func @stage2_bf16(%out: !llvm.ptr<1>, %off0: i32, %valid0: i1, %sx0: f32, %w0: f32, %off1: i32, %valid1: i1, %sx1: f32, %w1: f32, %col: i32, %a0: f32, %a1: f32, %b0: f32, %b1: f32) {
  "moe.epilogue"(%out, %off0, %valid0, %sx0, %w0, %off1, %valid1, %sx1, %w1, %col, %a0, %a1, %b0, %b1) {stage = 2 : i64, rows = 2 : i64, cols = 1 : i64, gate_up = 1 : i64, out_dtype = "bf16", mode = "atomic"} : (!llvm.ptr<1>, i32, i1, f32, f32, i32, i1, f32, f32, i32, f32, f32, f32, f32) -> ()
  return
}

// Other output types of the same expansion: f16 truncates to vector<2xf16>; f32 stores the pair as is,
// 8-byte aligned.
// CHECK-LABEL: func.func @stage1_f16
// CHECK: arith.truncf %{{.+}} : vector<2xf32> to vector<2xf16>
// CHECK: llvm.getelementptr %{{.+}} : (!llvm.ptr<1>, i32) -> !llvm.ptr<1>, f16
// CHECK-NEXT: llvm.store %{{.+}} {alignment = 4 : i64} : vector<2xf16>, !llvm.ptr<1>
func.func @stage1_f16(%out: !llvm.ptr<1>, %off: i32, %valid: i1, %sx: f32, %w: f32, %col: i32, %g0: f32, %g1: f32, %u0: f32, %u1: f32) {
  "moe.epilogue"(%out, %off, %valid, %sx, %w, %col, %g0, %g1, %u0, %u1) {stage = 1 : i64, rows = 1 : i64, cols = 1 : i64, gate_up = 2 : i64, out_dtype = "f16", mode = "atomic"} : (!llvm.ptr<1>, i32, i1, f32, f32, i32, f32, f32, f32, f32) -> ()
  return
}

// CHECK-LABEL: func.func @stage1_f32
// CHECK: %[[PAIR:.+]] = vector.from_elements %{{.+}} : vector<2xf32>
// CHECK-NOT: arith.truncf
// CHECK: llvm.getelementptr %{{.+}} : (!llvm.ptr<1>, i32) -> !llvm.ptr<1>, f32
// CHECK-NEXT: llvm.store %[[PAIR]], %{{.+}} {alignment = 8 : i64} : vector<2xf32>, !llvm.ptr<1>
func.func @stage1_f32(%out: !llvm.ptr<1>, %off: i32, %valid: i1, %sx: f32, %w: f32, %col: i32, %g0: f32, %g1: f32, %u0: f32, %u1: f32) {
  "moe.epilogue"(%out, %off, %valid, %sx, %w, %col, %g0, %g1, %u0, %u1) {stage = 1 : i64, rows = 1 : i64, cols = 1 : i64, gate_up = 2 : i64, out_dtype = "f32", mode = "atomic"} : (!llvm.ptr<1>, i32, i1, f32, f32, i32, f32, f32, f32, f32) -> ()
  return
}

// CHECK-NOT: moe.epilogue
