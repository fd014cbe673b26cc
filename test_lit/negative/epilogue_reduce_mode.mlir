// RUN: not %moe-opt %s --passes moe-epilogue 2>&1 | FileCheck %s

// Negative: stage-2 reduce mode is not implemented in the epilogue, so it must be refused rather than written with atomics.

func.func @reduce(%out: !llvm.ptr<1>, %off: i32, %valid: i1, %sx: f32, %w: f32, %col: i32, %a0: f32, %a1: f32) {
  // CHECK: {{.*}}epilogue_reduce_mode.mlir:[[# @LINE + 1]]:3: error: moe.epilogue: stage 2 mode 'reduce' is not implemented (supported: atomic)
  "moe.epilogue"(%out, %off, %valid, %sx, %w, %col, %a0, %a1) {stage = 2 : i64, rows = 1 : i64, cols = 1 : i64, gate_up = 1 : i64, out_dtype = "bf16", mode = "reduce"} : (!llvm.ptr<1>, i32, i1, f32, f32, i32, f32, f32) -> ()
  return
}
// CHECK-NOT: error:
// CHECK-NOT: module
