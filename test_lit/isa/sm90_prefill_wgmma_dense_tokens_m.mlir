// sm_90a PTX of the prefill kernel of weights used as stored (fp8, stage 1, 512 tokens: tile_m 128, tile_n 128),
// as the plan makes it: the tokens are the warpgroup MMA's M side (tokens_m, the default where each
// warpgroup takes 64 tokens and the tile's weight rows fit one MMA's N).  Each warpgroup runs one chain of
// m64n256k32 e4m3 MMAs per K tile: A its 64 tokens (the token ring's descriptor at row 64 x group), B all 256
// weight rows of the tile (gate 0..127, then up), both through descriptors; one commit group per K tile,
// so the loop keeps one in flight (wait_group 1) and the epilogue waits for the last (0).  A lane's
// accumulator holds two tokens (g, g + 8 of its warp's 16) x weight rows 8 j + 2 t, + 1: gate row c and
// up row c are in the same lane, so no token swap between lanes (no shfl) comes before the packed stores
// of silu(gate) x up, 16 bytes apart (8 columns of bf16).  (The weights as M: sm90_prefill_wgmma_dense.mlir.)
// RUN: %moe-opt %s --pipeline moe-to-sm_90 --emit isa -o %t.ptx
// RUN: FileCheck %s --input-file %t.ptx
// RUN: FileCheck %s --input-file %t.ptx --check-prefix=NOT
// CHECK: .target sm_90a
// CHECK-LABEL: .entry moe_stage1_fp8_row_bf16_atomic(
// CHECK: cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes
// CHECK: cp.async.wait_group
// CHECK: bar.sync 0;
// CHECK: mbarrier.try_wait.parity.shared::cta.b64
// CHECK: wgmma.fence.sync.aligned;
// CHECK-SAME: wgmma.mma_async.sync.aligned.m64n256k32.f32.e4m3.e4m3 {{.*}}, %rd{{[0-9]+}}, %rd{{[0-9]+}}, p, 1, 1;
// CHECK-SAME: wgmma.commit_group.sync.aligned;
// CHECK: wgmma.wait_group.sync.aligned 1;
// CHECK: wgmma.wait_group.sync.aligned 0;
// CHECK: ex2.approx.f32
// CHECK: st.global.b32 [%rd{{[0-9]+}}], %r{{[0-9]+}};
// CHECK: st.global.b32 [%rd{{[0-9]+}}+16], %r{{[0-9]+}};
// CHECK: st.global.b32 [%rd{{[0-9]+}}+32], %r{{[0-9]+}};
// NOT-NOT: shfl.sync
// NOT-NOT: m64n128k32
// NOT-NOT: mma.sync
module {
  func.func @moe_stage1_fp8_row_bf16_atomic(%x: memref<?x256xf8E4M3FN>, %w: memref<4x256x256xi8>, %sx: memref<?xf32>, %sw: memref<4x256xf32>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x2x128xbf16>) {
    "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 1 : i64, group_size = -1 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "fp8", out_dtype = "bf16", mode = "atomic", target = "sm_90", doweight_stage1 = false, tokens_hint = 512 : i64} : (memref<?x256xf8E4M3FN>, memref<4x256x256xi8>, memref<?xf32>, memref<4x256xf32>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x2x128xbf16>) -> ()
    return
  }
}
