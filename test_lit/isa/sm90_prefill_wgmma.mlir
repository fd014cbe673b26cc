// sm_90a PTX of the prefill kernel (W4A16, stage 1, 512 tokens: tile_m 64): the weights stay the A
// operand in registers (unpacked int4 -> bf16 pairs, the decode kernels' layout), the 64 tokens are
// the N operand of wgmma.m64n64k16, read from shared memory through a descriptor.  With stages = 2
// the activations and the weights come through a cp.async ring (padding rows: a 0-byte source,
// zero-filled), each thread permutes its own activations into the MMA layout, then a proxy fence and
// a barrier publish them.  Each K32 group: a chain of two wgmma from zero, wait, f32 fma by the scale.
// The MMA slots hold each row's K32 step as 64 bytes in the 64-byte swizzle: descriptors with layout 2
// (bits 62-63), stride byte offset 512 (32 << 32), leading offset 1: the i64 -9223371899415756800.
// RUN: %moe-opt %s --pipeline moe-to-sm_90 --emit isa -o %t.ptx
// RUN: FileCheck %s --input-file %t.ptx
// RUN: FileCheck %s --input-file %t.ptx --check-prefix=NOT
// CHECK: .target sm_90a
// CHECK: .extern .shared .align 1024 .b8 moe_smem[];
// CHECK-LABEL: .entry moe_stage1_int4_bf16_g32_bf16_atomic(
// CHECK: or.b64 %rd{{[0-9]+}}, %rd{{[0-9]+}}, -9223371899415756800;
// CHECK: cp.async.cg.shared.global [%rd{{[0-9]+}}{{(\+[0-9]+)?}}], [%rd{{[0-9]+}}], 16, %r{{[0-9]+}};
// CHECK: cp.async.commit_group;
// CHECK: cp.async.wait_group 1;
// CHECK: ld.shared.v4.b32
// CHECK: st.shared.b32
// CHECK: fence.proxy.async.shared::cta;
// CHECK: bar.sync 0;
// CHECK: add.rn.bf16x2
// CHECK: wgmma.fence.sync.aligned;
// CHECK-SAME: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 0;
// CHECK-SAME: wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {{.*}}, q, 1, 1, 0;
// CHECK-SAME: wgmma.commit_group.sync.aligned;
// CHECK: wgmma.wait_group.sync.aligned 0;
// CHECK: fma.rn.f32
// CHECK: ex2.approx.f32
// CHECK: st.global.b32
// No per-warp MMA and no atomics (stage 1 stores its rows).
// NOT-NOT: mma.sync
// NOT-NOT: red.global.add
module {
  func.func @moe_stage1_int4_bf16_g32_bf16_atomic(%x: memref<?x256xbf16>, %w: memref<4x256x128xi8>, %sx: memref<?xf32>, %sw: memref<4x8x256xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x2x128xbf16>) {
    "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 1 : i64, group_size = 32 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "int4_bf16", out_dtype = "bf16", mode = "atomic", target = "sm_90", doweight_stage1 = false, tokens_hint = 512 : i64, stages = 2 : i64} : (memref<?x256xbf16>, memref<4x256x128xi8>, memref<?xf32>, memref<4x8x256xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x2x128xbf16>) -> ()
    return
  }
}
