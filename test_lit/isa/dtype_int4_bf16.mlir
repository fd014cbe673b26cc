// W4A16: bf16 activations, int4 weights (group 32). AMD unpacks each nibble through a sign-extending bit-field extract and an exact i32 -> f32 convert, keeping the upper half as bf16; sm_90 builds bf16 pairs 128 + u with one AND/OR and subtracts 136 with one packed bf16 add. bf16 MMA (K16 on gfx942, K32 on gfx950), f32 accumulators.
// Per kernel: the MMA chosen, the conversions, and stage 2's native atomic per output dtype (bf16, f16, f32), never a compare-and-swap loop (SPEC 3).
// RUN: %moe-opt %s --pipeline moe-to-gfx942 --emit isa -o %t.942.s
// RUN: FileCheck %s --input-file %t.942.s --check-prefixes=AMD,G942
// RUN: FileCheck %s --input-file %t.942.s --check-prefix=AMDNOT
// RUN: sed -e 's/"gfx942"/"gfx950"/' -e 's/f8E4M3FNUZ/f8E4M3FN/g' %s | %moe-opt - --pipeline moe-to-gfx950 --emit isa -o %t.950.s
// RUN: FileCheck %s --input-file %t.950.s --check-prefixes=AMD,G950
// RUN: FileCheck %s --input-file %t.950.s --check-prefix=AMDNOT
// RUN: sed -e 's/"gfx942"/"sm_90"/' -e 's/f8E4M3FNUZ/f8E4M3FN/g' %s | %moe-opt - --pipeline moe-to-sm_90 --emit isa -o %t.ptx
// RUN: FileCheck %s --input-file %t.ptx --check-prefix=NV
// RUN: FileCheck %s --input-file %t.ptx --check-prefix=NVNOT
// AMD-LABEL: moe_stage1_int4_bf16_g32_bf16_atomic:
// G942-DAG: v_mfma_f32_16x16x16_bf16
// G950-DAG: v_mfma_f32_16x16x32_bf16
// AMD-DAG: v_bfe_i32
// AMD-DAG: v_cvt_f32_i32
// AMD-DAG: v_pk_fma_f32
// AMD: global_store_dword
// AMD-NOT: global_atomic
// NV-LABEL: .entry moe_stage1_int4_bf16_g32_bf16_atomic(
// NV-DAG: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// NV-DAG: lop3.b32 %r{{[0-9]+}}, %r{{[0-9]+}}, 0xf000f, %r{{[0-9]+}}, 0xEA;
// NV-DAG: add.rn.bf16x2
// NV-DAG: fma.rn.f32
// NV: st.global.b32
// NV-NOT: red.global
// AMD-LABEL: moe_stage2_int4_bf16_g32_bf16_atomic:
// G942-DAG: v_mfma_f32_16x16x16_bf16
// G950-DAG: v_mfma_f32_16x16x32_bf16
// AMD: global_atomic_pk_add_bf16 v[{{[0-9]+:[0-9]+}}], v{{[0-9]+}}, off
// AMD-NOT: global_store
// NV-LABEL: .entry moe_stage2_int4_bf16_g32_bf16_atomic(
// NV-DAG: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// NV: red.global.add.noftz.bf16x2 [%rd{{[0-9]+}}]
// NV-NOT: st.global
// AMD-LABEL: moe_stage2_int4_bf16_g32_f16_atomic:
// G942-DAG: v_mfma_f32_16x16x16_bf16
// G950-DAG: v_mfma_f32_16x16x32_bf16
// AMD: global_atomic_pk_add_f16 v[{{[0-9]+:[0-9]+}}], v{{[0-9]+}}, off
// AMD-NOT: global_store
// NV-LABEL: .entry moe_stage2_int4_bf16_g32_f16_atomic(
// NV-DAG: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// NV: red.global.add.noftz.f16x2 [%rd{{[0-9]+}}]
// NV-NOT: st.global
// AMD-LABEL: moe_stage2_int4_bf16_g32_f32_atomic:
// G942-DAG: v_mfma_f32_16x16x16_bf16
// G950-DAG: v_mfma_f32_16x16x32_bf16
// AMD: global_atomic_add_f32 v[{{[0-9]+:[0-9]+}}], v{{[0-9]+}}, off
// AMD-NOT: global_store
// NV-LABEL: .entry moe_stage2_int4_bf16_g32_f32_atomic(
// NV-DAG: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// NV: red.global.add.f32 [%rd{{[0-9]+}}]
// NV-NOT: st.global
// Nowhere: a compare-and-swap loop, or an instruction of another dtype's path.
// AMDNOT-NOT: cmpswap
// AMDNOT-NOT: v_cvt_pk_fp8_f32
// AMDNOT-NOT: v_mfma_i32
// AMDNOT-NOT: v_mfma_f32_16x16x32_fp8
// NVNOT-NOT: atom.
// NVNOT-NOT: cvt.rn.satfinite.e4m3x2
// NVNOT-NOT: e4m3
// NVNOT-NOT: .s8
// NVNOT-NOT: -2004318072

module {
  func.func @moe_stage1_int4_bf16_g32_bf16_atomic(%x: memref<?x256xbf16>, %w: memref<4x256x128xi8>, %sx: memref<?xf32>, %sw: memref<4x8x256xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x2x128xbf16>) {
    "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 1 : i64, group_size = 32 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "int4_bf16", out_dtype = "bf16", mode = "atomic", target = "gfx942", doweight_stage1 = false, tokens_hint = 64 : i64} : (memref<?x256xbf16>, memref<4x256x128xi8>, memref<?xf32>, memref<4x8x256xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x2x128xbf16>) -> ()
    return
  }

  func.func @moe_stage2_int4_bf16_g32_bf16_atomic(%x: memref<?x2x128xbf16>, %w: memref<4x256x64xi8>, %sx: memref<?x2xf32>, %sw: memref<4x4x256xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x256xbf16>) {
    "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 2 : i64, group_size = 32 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "int4_bf16", out_dtype = "bf16", mode = "atomic", target = "gfx942", doweight_stage1 = false, tokens_hint = 64 : i64} : (memref<?x2x128xbf16>, memref<4x256x64xi8>, memref<?x2xf32>, memref<4x4x256xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x256xbf16>) -> ()
    return
  }

  func.func @moe_stage2_int4_bf16_g32_f16_atomic(%x: memref<?x2x128xbf16>, %w: memref<4x256x64xi8>, %sx: memref<?x2xf32>, %sw: memref<4x4x256xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x256xf16>) {
    "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 2 : i64, group_size = 32 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "int4_bf16", out_dtype = "f16", mode = "atomic", target = "gfx942", doweight_stage1 = false, tokens_hint = 64 : i64} : (memref<?x2x128xbf16>, memref<4x256x64xi8>, memref<?x2xf32>, memref<4x4x256xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x256xf16>) -> ()
    return
  }

  func.func @moe_stage2_int4_bf16_g32_f32_atomic(%x: memref<?x2x128xbf16>, %w: memref<4x256x64xi8>, %sx: memref<?x2xf32>, %sw: memref<4x4x256xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x256xf32>) {
    "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 2 : i64, group_size = 32 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "int4_bf16", out_dtype = "f32", mode = "atomic", target = "gfx942", doweight_stage1 = false, tokens_hint = 64 : i64} : (memref<?x2x128xbf16>, memref<4x256x64xi8>, memref<?x2xf32>, memref<4x4x256xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x256xf32>) -> ()
    return
  }
}
