// sm_90a PTX of the prefill kernel of weights used as stored (bf16, stage 1, 1024 tokens over 4 experts:
// 512 rows an expert, two 192-token tiles or more), as the plan makes it: 192-token tiles of three
// warpgroups (a block of 384 threads), each its 64 tokens as the warpgroup MMA's M side over all 256
// weight rows of the tile (gate 0..127, then up): one chain of m64n256k16 bf16 MMAs per K tile and
// warpgroup, one commit group per K tile (wait_group 1 in the loop, 0 after it), the weights by TMA, the
// tokens by cp.async; no token swap between lanes before the packed stores.
// RUN: %moe-opt %s --pipeline moe-to-sm_90 --emit isa -o %t.ptx
// RUN: FileCheck %s --input-file %t.ptx
// RUN: FileCheck %s --input-file %t.ptx --check-prefix=NOT
// CHECK: .target sm_90a
// CHECK-LABEL: .entry moe_stage1_bf16_row_bf16_atomic(
// CHECK: .maxntid 384, 1, 1
// CHECK: cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes
// CHECK: mbarrier.try_wait.parity.shared::cta.b64
// CHECK: wgmma.fence.sync.aligned;
// CHECK-SAME: wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {{.*}}, %rd{{[0-9]+}}, %rd{{[0-9]+}}, p, 1, 1, 0, 0;
// CHECK-SAME: wgmma.commit_group.sync.aligned;
// CHECK: wgmma.wait_group.sync.aligned 1;
// CHECK: cp.async.wait_group
// CHECK: bar.sync 0;
// CHECK: wgmma.wait_group.sync.aligned 0;
// CHECK: ex2.approx.f32
// CHECK: st.global.b32 [%rd{{[0-9]+}}+16], %r{{[0-9]+}};
// NOT-NOT: shfl.sync
// NOT-NOT: m64n128k16
// NOT-NOT: mma.sync
module {
  func.func @moe_stage1_bf16_row_bf16_atomic(%x: memref<?x256xbf16>, %w: memref<4x256x512xi8>, %sx: memref<?xf32>, %sw: memref<4x256xf32>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x2x128xbf16>) {
    "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 1 : i64, group_size = -1 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "bf16", out_dtype = "bf16", mode = "atomic", target = "sm_90", doweight_stage1 = false, tokens_hint = 1024 : i64} : (memref<?x256xbf16>, memref<4x256x512xi8>, memref<?xf32>, memref<4x256xf32>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x2x128xbf16>) -> ()
    return
  }
}
