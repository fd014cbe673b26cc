// Stage 2 with f32 output: the native f32 atomic on gfx942 and gfx950 (global_atomic_add_f32) and on sm_90 (red.global.add.f32),
// never a compare-and-swap loop.
// RUN: %moe-opt %s --pipeline moe-to-gfx942 --emit isa | FileCheck %s --check-prefix=AMD
// RUN: sed -e 's/"gfx942"/"gfx950"/' -e 's/f8E4M3FNUZ/f8E4M3FN/g' %s | %moe-opt - --pipeline moe-to-gfx950 --emit isa | FileCheck %s --check-prefix=AMD
// RUN: sed -e 's/"gfx942"/"sm_90"/' -e 's/f8E4M3FNUZ/f8E4M3FN/g' %s | %moe-opt - --pipeline moe-to-sm_90 --emit isa | FileCheck %s --check-prefix=NV
// AMD-NOT: cmpswap
// AMD: global_atomic_add_f32
// AMD-NOT: cmpswap
// NV-NOT: atom.
// NV: red.global.add.f32
// NV-NOT: atom.

module {
  func.func @moe_stage2_int4_fp8_g32_f32_atomic(%x: memref<?x2x128xf8E4M3FNUZ>, %w: memref<4x256x64xi8>, %sx: memref<?x2xf32>, %sw: memref<4x4x256xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x256xf32>) {
    "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 2 : i64, group_size = 32 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "int4_fp8", out_dtype = "f32", mode = "atomic", target = "gfx942", doweight_stage1 = false, tokens_hint = 64 : i64} : (memref<?x2x128xf8E4M3FNUZ>, memref<4x256x64xi8>, memref<?x2xf32>, memref<4x4x256xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x256xf32>) -> ()
    return
  }
}
