// RUN: %moe-opt %s --pipeline moe-to-gfx942 --emit isa | FileCheck %s

// The heaviest planned tile (stage 1, L shape, tile 64x128, gfx942) fits the chip: zero scratch, zero spills, LDS within 64 KiB, <= 256 VGPRs for 2 waves per SIMD (SPEC 3).

// CHECK-LABEL: .amdhsa_kernel moe_stage1_int4_fp8_g32_bf16_atomic
// CHECK-NEXT: .amdhsa_group_segment_fixed_size {{([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-6])$}}
// CHECK-NEXT: .amdhsa_private_segment_fixed_size 0
// CHECK: .amdhsa_enable_private_segment 0
// CHECK: .end_amdhsa_kernel
// CHECK: .group_segment_fixed_size: {{([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-6])$}}
// CHECK: .name: moe_stage1_int4_fp8_g32_bf16_atomic
// CHECK: .private_segment_fixed_size: 0
// CHECK: .sgpr_spill_count: 0
// CHECK: .vgpr_count: {{([0-9]{1,2}|1[0-9]{2}|2[0-4][0-9]|25[0-6])$}}
// CHECK-NEXT: .vgpr_spill_count: 0
// CHECK: amdhsa.target: amdgcn-amd-amdhsa-{{.*}}gfx942

func.func @l_stage1_gfx942(%x: memref<?x4096xf8E4M3FNUZ>, %w: memref<17x4096x2048xi8>, %sx: memref<?xf32>, %sw: memref<17x128x4096xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x9x2048xbf16>) {
  "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 1 : i64, group_size = 32 : i64, model_dim = 4096 : i64, inter_dim = 2048 : i64, experts = 17 : i64, topk = 9 : i64, dtype = "int4_fp8", out_dtype = "bf16", mode = "atomic", target = "gfx942", doweight_stage1 = false, tokens_hint = 333 : i64} : (memref<?x4096xf8E4M3FNUZ>, memref<17x4096x2048xi8>, memref<?xf32>, memref<17x128x4096xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x9x2048xbf16>) -> ()
  return
}
