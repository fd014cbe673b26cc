// sm_90a PTX of the prefill kernel of weights used as stored (fp8, stage 1, 512 tokens: tile_m 128),
// as the plan makes it on sm_90: the weights of each K tile come by the tensor memory accelerator,
// one thread's bulk tensor copies (per gate / up half and 64 bytes of K: 4 copies, 32768 bytes, on
// the ring slot's mbarrier, initialised once, the map read from the pointer after the token count),
// the tokens by cp.async (8 bytes per copy in the weights' K order, zero-filled for padding rows);
// every thread waits for the tile's cp.async group, the block barrier and the slot's mbarrier phase,
// then both operands of the native fp8 wgmma (m64n128k32 e4m3) are read through descriptors: the
// weights' rows in the 64-byte swizzle (layout 2, bit 63; stride 512 = 32 << 32; leading offset 1:
// -9223371899415756800), the tokens' in the 128-byte swizzle (layout 1, stride 1024:
// 4611686293305360384).  The weights' rows are in column order, so after the K loop a lane swaps a
// token with its neighbour column's lane (shfl.sync.bfly 4) before the packed stores.
// tokens_m = 0: the weights' rows as the MMA's M side, 64 per chain (the default, the tokens as M:
// sm90_prefill_wgmma_dense_tokens_m.mlir).
// RUN: %moe-opt %s --pipeline moe-to-sm_90 --emit isa -o %t.ptx
// RUN: FileCheck %s --input-file %t.ptx
// RUN: FileCheck %s --input-file %t.ptx --check-prefix=NOT
// CHECK: .target sm_90a
// CHECK: .extern .shared .align 1024 .b8 moe_smem[];
// CHECK-LABEL: .entry moe_stage1_fp8_row_bf16_atomic(
// CHECK: .param .u32 moe_stage1_fp8_row_bf16_atomic_param_9,
// CHECK-NEXT: .param .u64 .ptr .global .align 1 moe_stage1_fp8_row_bf16_atomic_param_10
// CHECK: ld.param.b64 [[MAP:%rd[0-9]+]], [moe_stage1_fp8_row_bf16_atomic_param_10];
// CHECK-COUNT-4: mbarrier.init.shared::cta.b64 [%r{{[0-9]+}}], 1;
// CHECK: fence.mbarrier_init.release.cluster;
// CHECK: fence.proxy.tensormap::generic.acquire.gpu [[[MAP]]], 128;
// CHECK: bar.sync 0;
// CHECK: mbarrier.arrive.expect_tx.shared::cta.b64 _, [[[BAR:%r[0-9]+]]], 32768;
// CHECK-COUNT-4: cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%r{{[0-9]+}}], [[[MAP]], {%r{{[0-9]+}}, %r{{[0-9]+}}, %r{{[0-9]+}}, %r{{[0-9]+}}}], [[[BAR]]];
// CHECK: cp.async.ca.shared.global [%rd{{[0-9]+}}{{(\+[0-9]+)?}}], [%rd{{[0-9]+}}], 8, %r{{[0-9]+}};
// CHECK-DAG: or.b64 %rd{{[0-9]+}}, %rd{{[0-9]+}}, -9223371899415756800;
// CHECK-DAG: or.b64 %rd{{[0-9]+}}, %rd{{[0-9]+}}, 4611686293305360384;
// CHECK: cp.async.wait_group
// CHECK: fence.proxy.async.shared::cta;
// CHECK: bar.sync 0;
// CHECK: mbarrier.try_wait.parity.shared::cta.b64
// CHECK: wgmma.fence.sync.aligned;
// CHECK-SAME: wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 {{.*}}, %rd{{[0-9]+}}, %rd{{[0-9]+}}, p, 1, 1;
// CHECK: wgmma.wait_group.sync.aligned 2;
// CHECK: wgmma.wait_group.sync.aligned 0;
// CHECK: shfl.sync.bfly.b32 {{.*}}, 4, 31, -1;
// CHECK: ex2.approx.f32
// CHECK: st.global.b32
// No per-warp MMA, no fp8 -> f16 conversion, no weights through registers or cp.async.
// NOT-NOT: mma.sync
// NOT-NOT: cp.async.cg.shared.global
// NOT-NOT: cvt.rn.f16x2.e4m3x2
// NOT-NOT: ld.global.v4
module {
  func.func @moe_stage1_fp8_row_bf16_atomic(%x: memref<?x256xf8E4M3FN>, %w: memref<4x256x256xi8>, %sx: memref<?xf32>, %sw: memref<4x256xf32>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x2x128xbf16>) {
    "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 1 : i64, group_size = -1 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "fp8", out_dtype = "bf16", mode = "atomic", target = "sm_90", doweight_stage1 = false, tokens_hint = 512 : i64, tokens_m = 0 : i64} : (memref<?x256xf8E4M3FN>, memref<4x256x256xi8>, memref<?xf32>, memref<4x256xf32>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x2x128xbf16>) -> ()
    return
  }
}
