// fp8 weights with per-row scales, stage 2: the stored bytes are the MMA operand (16-byte weight loads,
// no int4 unpack, no conversion), the row scale applied once after the K loop.
// RUN: %moe-opt %s --pipeline moe-to-gfx942 --emit isa | FileCheck %s --check-prefix=AMD
// RUN: sed -e 's/"gfx942"/"gfx950"/' -e 's/f8E4M3FNUZ/f8E4M3FN/g' %s | %moe-opt - --pipeline moe-to-gfx950 --emit isa | FileCheck %s --check-prefix=AMD
// RUN: sed -e 's/"gfx942"/"sm_90"/' -e 's/f8E4M3FNUZ/f8E4M3FN/g' %s | %moe-opt - --pipeline moe-to-sm_90 --emit isa | FileCheck %s --check-prefix=NV
// AMD-LABEL: moe_stage2_fp8_row_bf16_atomic:
// AMD-NOT: v_cvt_pk_fp8_f32
// AMD: buffer_load_dwordx4
// AMD-NOT: v_cvt_pk_fp8_f32
// AMD: v_mfma_f32_16x16x32_fp8_fp8
// AMD-NOT: v_cvt_pk_fp8_f32
// AMD: global_atomic_pk_add_bf16
// AMD-NOT: cmpswap
// NV-LABEL: .entry moe_stage2_fp8_row_bf16_atomic(
// sm_90: the stored e4m3 bytes of both operands go through one exact cvt.rn.f16x2.e4m3x2 per pair
// into the f16 MMA (sm_90's e4m3 mma.sync is f16 HMMA with the same conversions inside every MMA).
// NV-NOT: cvt.rn.satfinite.e4m3x2
// NV: cvt.rn.f16x2.e4m3x2
// NV-NOT: e4m3.e4m3
// NV: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// NV-NOT: cvt.rn.satfinite.e4m3x2
// NV: red.global.add.noftz.bf16x2

module {
  func.func @moe_stage2_fp8_row_bf16_atomic(%x: memref<?x2x128xf8E4M3FNUZ>, %w: memref<4x256x128xi8>, %sx: memref<?x2xf32>, %sw: memref<4x256xf32>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x256xbf16>) {
    "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 2 : i64, group_size = -1 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "fp8", out_dtype = "bf16", mode = "atomic", target = "gfx942", doweight_stage1 = false, tokens_hint = 64 : i64} : (memref<?x2x128xf8E4M3FNUZ>, memref<4x256x128xi8>, memref<?x2xf32>, memref<4x256xf32>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x256xbf16>) -> ()
    return
  }
}
