// sm_90a PTX of the dense prefill kernel (fp8, stage 1, tile 128 x 128 x 128, a ring of 4 K tiles of
// the 8 in K = 1024, weights by TMA) with multicast = 2: clusters of two blocks (.reqnctapercluster
// 1, 2, 1), the token tiles 2p, 2p + 1 of one column tile.  Both blocks read the pair's two expert ids;
// where they agree the pair shares its weight boxes: each block issues two of a K tile's four boxes
// with the multicast mask (each lands in both blocks' shared memory and completes on both blocks' slot
// barrier, which expects all 32768 bytes either way), else all four itself.  A sharing pair's slots
// also have a free barrier (16 arrivals: each warp of both blocks releases the slot it has finished
// reading, on its own block's and the partner's barrier: mapa + an arrival on the cluster address, whose
// default release is at CTA scope: one at cluster scope also waits for the thread's copies in flight,
// measured 2x slower); the issuing thread refills a slot behind the tile's MMAs, once the slot's free
// barrier has completed.  The cluster barrier is taken twice: after the barriers' initialisation
// (before a partner's copy or arrival may reach them) and after the loop (no block leaves while its
// partner may still copy or arrive into it).
// NOT-NOT: .release.cluster.shared::cluster
// (tokens_m = 0: the weights' rows as the MMA's M side, as before the tokens-as-M default.)
// RUN: %moe-opt %s --pipeline moe-to-sm_90 --emit isa -o %t.ptx
// RUN: FileCheck %s --input-file %t.ptx
// RUN: FileCheck %s --input-file %t.ptx --check-prefix=LOOP
// RUN: FileCheck %s --input-file %t.ptx --check-prefix=NOT
// CHECK: .target sm_90a
// CHECK-LABEL: .entry moe_stage1_fp8_row_bf16_atomic(
// CHECK: .reqnctapercluster 1, 2, 1
// CHECK: setp.eq.b32 %p{{[0-9]+}}, %r{{[0-9]+}}, %r{{[0-9]+}};
// CHECK-COUNT-4: mbarrier.init.shared::cta.b64 [%r{{[0-9]+}}], 1;
// CHECK-COUNT-4: mbarrier.init.shared::cta.b64 [%r{{[0-9]+}}], 16;
// CHECK: fence.mbarrier_init.release.cluster;
// CHECK: bar.sync 0;
// CHECK-NEXT: not.pred [[ALONE:%p[0-9]+]], %p{{[0-9]+}};
// CHECK-NEXT: @[[ALONE]] bra
// CHECK-NEXT: barrier.cluster.arrive.aligned;
// CHECK-NEXT: barrier.cluster.wait.aligned;
// The prologue's first fills: alone (four boxes), or shared (the same free-barrier wait as the loop's
// refills, which a slot's first fill passes at once, then two multicast boxes).
// CHECK: mbarrier.arrive.expect_tx.shared::cta.b64 _, [[[BAR:%r[0-9]+]]], 32768;
// CHECK-COUNT-4: cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%r{{[0-9]+}}], [%rd{{[0-9]+}}, {%r{{[0-9]+}}, %r{{[0-9]+}}, %r{{[0-9]+}}, %r{{[0-9]+}}}], [[[BAR]]];
// CHECK: mbarrier.try_wait.parity.shared::cta.b64
// CHECK: mbarrier.arrive.expect_tx.shared::cta.b64 _, [[[SBAR:%r[0-9]+]]], 32768;
// CHECK-COUNT-2: cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes.multicast::cluster [%r{{[0-9]+}}], [%rd{{[0-9]+}}, {%r{{[0-9]+}}, %r{{[0-9]+}}, %r{{[0-9]+}}, %r{{[0-9]+}}}], [[[SBAR]]], %rs{{[0-9]+}};
// The loop: a block alone refills before its MMAs; a sharing pair after them, once the slot is free.
// LOOP: cp.async.wait_group 1;
// LOOP: bar.sync 0;
// LOOP-COUNT-4: cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [
// LOOP: mbarrier.try_wait.parity.shared::cta.b64
// LOOP: wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3
// LOOP: mbarrier.try_wait.parity.shared::cta.b64 p, [%r{{[0-9]+}}], %r{{[0-9]+}};
// LOOP: mbarrier.arrive.expect_tx.shared::cta.b64 _, [%r{{[0-9]+}}], 32768;
// LOOP-COUNT-2: cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes.multicast::cluster [
// LOOP: wgmma.wait_group.sync.aligned 2;
// LOOP: mapa.shared::cluster.u32 ra, [[FREE:%r[0-9]+]], %r{{[0-9]+}}; mbarrier.arrive.shared::cluster.b64 _, [ra];
// LOOP: mapa.shared::cluster.u32 ra, [[FREE]], %r{{[0-9]+}}; mbarrier.arrive.shared::cluster.b64 _, [ra];
// LOOP: barrier.cluster.arrive.aligned;
// LOOP-NEXT: barrier.cluster.wait.aligned;
// LOOP: wgmma.wait_group.sync.aligned 0;
// LOOP: shfl.sync.bfly.b32
module {
  func.func @moe_stage1_fp8_row_bf16_atomic(%x: memref<?x1024xf8E4M3FN>, %w: memref<4x256x1024xi8>, %sx: memref<?xf32>, %sw: memref<4x256xf32>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x2x128xbf16>) {
    "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 1 : i64, group_size = -1 : i64, model_dim = 1024 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "fp8", out_dtype = "bf16", mode = "atomic", target = "sm_90", doweight_stage1 = false, tokens_hint = 512 : i64, multicast = 2 : i64, tokens_m = 0 : i64} : (memref<?x1024xf8E4M3FN>, memref<4x256x1024xi8>, memref<?xf32>, memref<4x256xf32>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x2x128xbf16>) -> ()
    return
  }
}
