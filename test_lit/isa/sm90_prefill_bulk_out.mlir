// sm_90a PTX of stage 2 of the prefill kernel of weights used as stored (fp8, 512 tokens: tile_m 128),
// as the plan makes it: the tile's output goes through shared memory. After the K loop every thread waits
// for its copies in flight and meets the others at the block barrier (the ring's bytes are free), stores
// its scaled bf16 pairs into the tile's rows, fences them for the async proxy, meets the others again,
// and then thread r of the first tile_m adds row r of the tile into the output with one bulk reduction
// of tile_n bf16 (128 columns: 256 bytes), where the row holds a token; it waits until the reductions
// have read the shared memory before leaving. No per-lane reduction is left.
// RUN: %moe-opt %s --pipeline moe-to-sm_90 --emit isa -o %t.ptx
// RUN: FileCheck %s --input-file %t.ptx
// RUN: FileCheck %s --input-file %t.ptx --check-prefix=NOT
// CHECK-LABEL: .entry moe_stage2_fp8_row_bf16_atomic(
// CHECK: wgmma.wait_group.sync.aligned 0;
// CHECK: cp.async.wait_group 0;
// CHECK: bar.sync 0;
// CHECK: st.shared.b32
// CHECK: fence.proxy.async.shared::cta;
// CHECK: bar.sync 0;
// CHECK: cp.reduce.async.bulk.global.shared::cta.bulk_group.add.noftz.bf16 [%rd{{[0-9]+}}], [%r{{[0-9]+}}], 256;
// CHECK: cp.async.bulk.commit_group;
// CHECK: cp.async.bulk.wait_group.read 0;
// NOT-NOT: {{^[[:space:]]*}}red.global
// NOT-NOT: atom.global
module {
  func.func @moe_stage2_fp8_row_bf16_atomic(%x: memref<?x2x256xf8E4M3FN>, %w: memref<4x256x256xi8>, %sx: memref<?x2xf32>, %sw: memref<4x256xf32>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x256xbf16>) {
    "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 2 : i64, group_size = -1 : i64, model_dim = 256 : i64, inter_dim = 256 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "fp8", out_dtype = "bf16", mode = "atomic", target = "sm_90", doweight_stage1 = false, tokens_hint = 512 : i64} : (memref<?x2x256xf8E4M3FN>, memref<4x256x256xi8>, memref<?x2xf32>, memref<4x256xf32>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x256xbf16>) -> ()
    return
  }
}
