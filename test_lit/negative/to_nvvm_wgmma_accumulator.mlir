// RUN: not %moe-opt %s --passes moe-to-nvvm 2>&1 | FileCheck %s

// Negative: a wgmma accumulator holds N/2 f32 per lane (N = 8 .. 256 tokens); anything else is
// refused at the op, not passed to ptxas.

func.func @bad_accumulator(%d: i64, %w: vector<4xi32>) -> vector<6xf32> {
  // CHECK: {{.*}}to_nvvm_wgmma_accumulator.mlir:[[# @LINE + 1]]:8: error: moe.wgmma: accumulator vector<6xf32> is not vector<N/2 x f32> for N = 8 .. 256 tokens
  %r = "moe.wgmma"(%d, %w) {atom = "wgmma_m64k16_bf16_t", steps = 1 : i64} : (i64, vector<4xi32>) -> vector<6xf32>
  return %r : vector<6xf32>
}
