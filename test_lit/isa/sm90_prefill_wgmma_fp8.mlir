// sm_90a PTX of the W4A_FP8 prefill kernel, stage 2 (atomic): the fp8 activations of the next K tile
// are loaded into registers (16 bytes per row piece) and stored as they are, permuted into the MMA's K
// order (two 8-byte stores per piece), into the other shared-memory slot while the MMAs read this one;
// int4 weights unpacked to f16 pairs and packed to e4m3 (cvt.rn.satfinite.e4m3x2.f16x2) are the
// register A operand of the native fp8 wgmma.m64n64k32; group scales by f32 fma; packed bf16 atomics.
// RUN: %moe-opt %s --pipeline moe-to-sm_90 --emit isa -o %t.ptx
// RUN: FileCheck %s --input-file %t.ptx
// RUN: FileCheck %s --input-file %t.ptx --check-prefix=NOT
// CHECK: .target sm_90a
// CHECK-LABEL: .entry moe_stage2_int4_fp8_g32_bf16_atomic(
// CHECK: ld.global.v4.b32
// CHECK: st.shared.v2.b32
// CHECK: fence.proxy.async.shared::cta;
// CHECK: bar.sync 0;
// CHECK: cvt.rn.satfinite.e4m3x2.f16x2
// CHECK: wgmma.mma_async.sync.aligned.m64n64k32.f32.e4m3.e4m3 {{.*}}, {%r{{[0-9]+}}, %r{{[0-9]+}}, %r{{[0-9]+}}, %r{{[0-9]+}}}, %rd{{[0-9]+}}, p, 1, 1;
// CHECK: wgmma.wait_group.sync.aligned 0;
// CHECK: fma.rn.f32
// CHECK: red.global.add.noftz.bf16x2
// NOT-NOT: mma.sync
// NOT-NOT: .f16.f16
// NOT-NOT: cvt.rn.f16x2.e4m3x2
// NOT-NOT: atom.global.cas
module {
  func.func @moe_stage2_int4_fp8_g32_bf16_atomic(%x: memref<?x2x128xf8E4M3FN>, %w: memref<4x256x64xi8>, %sx: memref<?x2xf32>, %sw: memref<4x4x256xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x256xbf16>) {
    "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 2 : i64, group_size = 32 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "int4_fp8", out_dtype = "bf16", mode = "atomic", target = "sm_90", doweight_stage1 = false, tokens_hint = 512 : i64, tile_n = 64 : i64} : (memref<?x2x128xf8E4M3FN>, memref<4x256x64xi8>, memref<?x2xf32>, memref<4x4x256xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x256xbf16>) -> ()
    return
  }
}
