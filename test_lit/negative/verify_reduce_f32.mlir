// RUN: not %moe-opt %s --passes moe-verify 2>&1 | FileCheck %s

// Negative: reduce mode writes 16-bit per-slot rows; an f32 reduce is refused at the op (SPEC: f32 output
// is atomic-mode only).

func.func @reduce_f32(%partial: memref<?x2x256xf32>, %out: memref<?x256xf32>) {
  // CHECK: {{.*}}verify_reduce_f32.mlir:[[# @LINE + 1]]:3: error: 'moe.reduce' reduce mode writes 16-bit per-slot rows: out dtype f16 or bf16, not f32
  "moe.reduce"(%partial, %out) {topk = 2 : i64, model_dim = 256 : i64, out_dtype = "f32", target = "gfx942", masked = false} : (memref<?x2x256xf32>, memref<?x256xf32>) -> ()
  return
}
// CHECK-NOT: error:
