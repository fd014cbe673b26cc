// sm_90a PTX of the prefill kernel of weights used as stored (fp8, stage 1, 512 tokens: tile_m 128),
// its weights by cp.async (tma = 0; the default on sm_90 is the tensor memory accelerator:
// sm90_prefill_wgmma_dense.mlir): weights and tokens of each K tile go straight from global to
// shared memory by cp.async (the
// weights 16 bytes per copy, a lane's whole piece of the prepared layout: two K32 steps of fp8; the
// tokens 8 bytes per copy into the same K order, zero-filled for padding rows), and both operands of
// the native fp8 wgmma (m64n128k32 e4m3) are read from there through descriptors.  A K tile's MMAs
// stay in flight while the next tile is waited for (wait_group 2: two column tiles), the last ones
// are waited for after the loop; the per-token x per-row scales apply once, in the epilogue.
// Shared memory holds the operands in the 128-byte swizzled layout: 1024-byte aligned, descriptors
// with layout 1 (bit 62), stride byte offset 1024 (64 << 32) and the unused leading offset 1
// (1 << 16): 4611686293305360384.
// RUN: %moe-opt %s --pipeline moe-to-sm_90 --emit isa -o %t.ptx
// RUN: FileCheck %s --input-file %t.ptx
// RUN: FileCheck %s --input-file %t.ptx --check-prefix=NOT
// CHECK: .target sm_90a
// CHECK: .extern .shared .align 1024 .b8 moe_smem[];
// CHECK-LABEL: .entry moe_stage1_fp8_row_bf16_atomic(
// CHECK-DAG: or.b64 %rd{{[0-9]+}}, %rd{{[0-9]+}}, 4611686293305360384;
// CHECK-DAG: cp.async.cg.shared.global [%rd{{[0-9]+}}{{(\+[0-9]+)?}}], [%rd{{[0-9]+}}{{(\+[0-9]+)?}}], 16;
// CHECK-DAG: cp.async.ca.shared.global [%rd{{[0-9]+}}{{(\+[0-9]+)?}}], [%rd{{[0-9]+}}], 8, %r{{[0-9]+}};
// CHECK: cp.async.wait_group
// CHECK: fence.proxy.async.shared::cta;
// CHECK: bar.sync 0;
// CHECK: wgmma.fence.sync.aligned;
// CHECK-SAME: wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 {{.*}}, %rd{{[0-9]+}}, %rd{{[0-9]+}}, p, 1, 1;
// CHECK: wgmma.wait_group.sync.aligned 2;
// CHECK: wgmma.wait_group.sync.aligned 0;
// CHECK: ex2.approx.f32
// CHECK: st.global.b32
// No per-warp MMA, no fp8 -> f16 conversion, no weights through registers, no half-piece weight copy.
// NOT-NOT: mma.sync
// NOT-NOT: cp.async.ca.shared.global [%rd{{[0-9]+}}{{(\+[0-9]+)?}}], [%rd{{[0-9]+}}{{(\+[0-9]+)?}}], 8;
// NOT-NOT: cvt.rn.f16x2.e4m3x2
// NOT-NOT: ld.global.v4
// NOT-NOT: cp.async.bulk
// NOT-NOT: mbarrier
module {
  func.func @moe_stage1_fp8_row_bf16_atomic(%x: memref<?x256xf8E4M3FN>, %w: memref<4x256x256xi8>, %sx: memref<?xf32>, %sw: memref<4x256xf32>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x2x128xbf16>) {
    "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 1 : i64, group_size = -1 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "fp8", out_dtype = "bf16", mode = "atomic", target = "sm_90", doweight_stage1 = false, tokens_hint = 512 : i64, tma = 0 : i64} : (memref<?x256xf8E4M3FN>, memref<4x256x256xi8>, memref<?xf32>, memref<4x256xf32>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x2x128xbf16>) -> ()
    return
  }
}
