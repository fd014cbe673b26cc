// RUN: not %moe-opt %s --passes moe-to-flydsl 2>&1 | FileCheck %s

// Negative: a moe.mma whose atom has no gfx9 MFMA is refused with the list of atoms the lowering knows.

func.func @wmma(%a: i64, %b: i64, %c: vector<4xf32>) -> vector<4xf32> {
  // CHECK: {{.*}}to_flydsl_unknown_atom.mlir:[[# @LINE + 1]]:8: error: moe.mma: atom 'wmma_f32_16x16x16_f16' has no gfx9 MFMA (known: mfma_f32_16x16x32_fp8, mfma_i32_16x16x32_i8, mfma_f32_16x16x16_bf16, mfma_f32_16x16x16_f16, mfma_f32_16x16x32_bf16, mfma_f32_16x16x32_f16)
  %d = "moe.mma"(%a, %b, %c) {atom = "wmma_f32_16x16x16_f16"} : (i64, i64, vector<4xf32>) -> vector<4xf32>
  return %d : vector<4xf32>
}
// CHECK-NOT: error:
// CHECK-NOT: module
