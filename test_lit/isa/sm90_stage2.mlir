// sm_90 PTX of stage 2 (S shape): the f16 MMA fed by exact fp8 -> f16 and int4 -> f16 conversions, and the bf16 output accumulated with the native paired
// reduction red.global.add.noftz.bf16x2 -- never a compare-and-swap loop (a vector atomicrmw would be).
// RUN: %moe-opt %s --pipeline moe-to-sm_90 --emit isa | FileCheck %s
// CHECK-LABEL: .entry moe_stage2_int4_fp8_g32_bf16_atomic(
// CHECK-NOT: atom.
// CHECK-DAG: cvt.rn.f16x2.e4m3x2
// CHECK-DAG: add.rn.f16x2
// CHECK-NOT: atom.
// CHECK: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// CHECK-NOT: atom.
// CHECK: red.global.add.noftz.bf16x2 [%rd{{[0-9]+}}], %r{{[0-9]+}};
// CHECK-NOT: atom.
// CHECK-NOT: st.global

module {
  func.func @moe_stage2_int4_fp8_g32_bf16_atomic(%x: memref<?x2x128xf8E4M3FN>, %w: memref<4x256x64xi8>, %sx: memref<?x2xf32>, %sw: memref<4x4x256xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x256xbf16>) {
    "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 2 : i64, group_size = 32 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "int4_fp8", out_dtype = "bf16", mode = "atomic", target = "sm_90", doweight_stage1 = false, tokens_hint = 64 : i64} : (memref<?x2x128xf8E4M3FN>, memref<4x256x64xi8>, memref<?x2xf32>, memref<4x4x256xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x256xbf16>) -> ()
    return
  }
}
