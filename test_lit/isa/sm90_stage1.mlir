// sm_90 PTX of stage 1 (S shape, int4 weights x fp8, group 32): the f16 tensor-core MMA (sm_90 has no
// native fp8 mma.sync; its e4m3 form runs as f16 HMMA plus conversions), fed by an exact fp8 -> f16
// convert of each activation pair and an exact int4 -> f16 unpack (AND/OR with the 1024.0 magic, one
// f16x2 subtract or FMA per pair); K32 group scale as an f32 fma, plain packed bf16 stores, no atomics.
// RUN: %moe-opt %s --pipeline moe-to-sm_90 --emit isa -o %t.ptx
// RUN: FileCheck %s --input-file %t.ptx
// RUN: FileCheck %s --input-file %t.ptx --check-prefix=NOT
// CHECK: .version 8.4
// CHECK: .target sm_90
// CHECK-LABEL: .entry moe_stage1_int4_fp8_g32_bf16_atomic(
// CHECK: ld.global.v4.b32
// CHECK-DAG: cvt.rn.f16x2.e4m3x2
// CHECK-DAG: lop3.b32 %r{{[0-9]+}}, %r{{[0-9]+}}, 0xf000f, %r{{[0-9]+}}, 0xEA;
// CHECK-DAG: mov.b32 %r{{[0-9]+}}, 1677747200;
// CHECK-DAG: add.rn.f16x2
// CHECK-DAG: fma.rn.f16x2
// CHECK: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// CHECK: fma.rn.f32
// CHECK: ex2.approx.f32
// CHECK: cvt.rn.bf16x2.f32
// CHECK: st.global.b32
// CHECK-NOT: red.global
// CHECK-NOT: atom.
// Nowhere: the emulated e4m3 MMA or an f16 -> fp8 repack.
// NOT-NOT: e4m3.e4m3
// NOT-NOT: cvt.rn.satfinite.e4m3x2
// No sign flip either: the host stores int4 codes + 8 for this scheme.
// NOT-NOT: xor.b32
module {
  func.func @moe_stage1_int4_fp8_g32_bf16_atomic(%x: memref<?x256xf8E4M3FN>, %w: memref<4x256x128xi8>, %sx: memref<?xf32>, %sw: memref<4x8x256xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x2x128xbf16>) {
    "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 1 : i64, group_size = 32 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "int4_fp8", out_dtype = "bf16", mode = "atomic", target = "sm_90", doweight_stage1 = false, tokens_hint = 64 : i64} : (memref<?x256xf8E4M3FN>, memref<4x256x128xi8>, memref<?xf32>, memref<4x8x256xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x2x128xbf16>) -> ()
    return
  }
}
