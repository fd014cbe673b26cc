// RUN: not %moe-opt %s --passes moe-epilogue 2>&1 | FileCheck %s

// Negative: an epilogue with an unknown output mode is refused rather than written one way or another.

func.func @reduce(%out: !llvm.ptr<1>, %off: i32, %valid: i1, %sx: f32, %w: f32, %col: i32, %a0: f32, %a1: f32) {
  // CHECK: {{.*}}epilogue_unknown_mode.mlir:[[# @LINE + 1]]:3: error: moe.epilogue: unknown mode 'scatter' (known: atomic, reduce)
  "moe.epilogue"(%out, %off, %valid, %sx, %w, %col, %a0, %a1) {stage = 2 : i64, rows = 1 : i64, cols = 1 : i64, gate_up = 1 : i64, out_dtype = "bf16", mode = "scatter"} : (!llvm.ptr<1>, i32, i1, f32, f32, i32, f32, f32) -> ()
  return
}
// CHECK-NOT: error:
// CHECK-NOT: module
