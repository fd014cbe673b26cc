// RUN: not %moe-opt %s --passes moe-to-flydsl 2>&1 | FileCheck %s

// Negative: the K32 bf16 MFMA exists on gfx950 only; a gfx942 kernel that asks for it is refused
// at the op instead of reaching the backend (which cannot select it).

gpu.module @k attributes {moe.target = "gfx942"} {
  gpu.func @f(%a: vector<4xi32>, %b: vector<4xi32>, %c: vector<4xf32>) kernel {
    // CHECK: {{.*}}to_flydsl_gfx950_atom_on_gfx942.mlir:[[# @LINE + 1]]:10: error: moe.mma: atom 'mfma_f32_16x16x32_bf16' needs gfx950; this kernel is for gfx942
    %d = "moe.mma"(%a, %b, %c) {atom = "mfma_f32_16x16x32_bf16"} : (vector<4xi32>, vector<4xi32>, vector<4xf32>) -> vector<4xf32>
    gpu.return
  }
}
// CHECK-NOT: error:
// CHECK-NOT: module
