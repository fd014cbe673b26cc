// RUN: %moe-opt %s --passes moe-verify -o %t.mlir
// RUN: FileCheck %s --input-file %t.mlir
// RUN: FileCheck %s --input-file %t.mlir --check-prefix=NOPLAN
// RUN: %moe-opt %t.mlir --passes moe-verify | FileCheck %s

// moe-verify accepts well-formed moe.gemm ops (both stages, both AMD targets, group and per-row scales) unchanged, and its output re-parses and re-verifies.

// CHECK-LABEL: func.func @stage1_gfx950_g32
// CHECK-SAME: (%[[X:[^:]+]]: memref<?x256xf8E4M3FN>, %[[W:[^:]+]]: memref<4x256x128xi8>, %[[SX:[^:]+]]: memref<?xf32>, %[[SW:[^:]+]]: memref<4x8x256xbf16>, %[[IDS:[^:]+]]: memref<?xi32>, %[[SWT:[^:]+]]: memref<?xf32>, %[[EIDS:[^:]+]]: memref<?xi32>, %[[NV:[^:]+]]: memref<1xi32>, %[[OUT:[^:]+]]: memref<?x2x128xbf16>)
// CHECK-NEXT: "moe.gemm"(%[[X]], %[[W]], %[[SX]], %[[SW]], %[[IDS]], %[[SWT]], %[[EIDS]], %[[NV]], %[[OUT]])
// CHECK-SAME: {doweight_stage1 = false, dtype = "int4_fp8", experts = 4 : i64, group_size = 32 : i64, inter_dim = 128 : i64, mode = "atomic", model_dim = 256 : i64, out_dtype = "bf16", stage = 1 : i64, target = "gfx950", tokens_hint = 64 : i64, topk = 2 : i64}
// CHECK-SAME: : (memref<?x256xf8E4M3FN>, memref<4x256x128xi8>, memref<?xf32>, memref<4x8x256xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x2x128xbf16>) -> ()
// CHECK-NEXT: return
func.func @stage1_gfx950_g32(%x: memref<?x256xf8E4M3FN>, %w: memref<4x256x128xi8>, %sx: memref<?xf32>, %sw: memref<4x8x256xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x2x128xbf16>) {
  "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 1 : i64, group_size = 32 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "int4_fp8", out_dtype = "bf16", mode = "atomic", target = "gfx950", doweight_stage1 = false, tokens_hint = 64 : i64} : (memref<?x256xf8E4M3FN>, memref<4x256x128xi8>, memref<?xf32>, memref<4x8x256xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x2x128xbf16>) -> ()
  return
}

// Stage 2 on gfx942: fp8 is e4m3fnuz there, a2 is [tokens, topk, inter], per-row scales are [E, N] f32.
// CHECK-LABEL: func.func @stage2_gfx942_row
// CHECK-NEXT: "moe.gemm"
// CHECK-SAME: {doweight_stage1 = true, dtype = "int4_fp8", experts = 4 : i64, group_size = -1 : i64, inter_dim = 128 : i64, mode = "atomic", model_dim = 256 : i64, out_dtype = "bf16", stage = 2 : i64, target = "gfx942", topk = 2 : i64}
// CHECK-SAME: : (memref<?x2x128xf8E4M3FNUZ>, memref<4x256x64xi8>, memref<?x2xf32>, memref<4x256xf32>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x256xbf16>) -> ()
// CHECK-NEXT: return
func.func @stage2_gfx942_row(%x: memref<?x2x128xf8E4M3FNUZ>, %w: memref<4x256x64xi8>, %sx: memref<?x2xf32>, %sw: memref<4x256xf32>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x256xbf16>) {
  "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 2 : i64, group_size = -1 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "int4_fp8", out_dtype = "bf16", mode = "atomic", target = "gfx942", doweight_stage1 = true} : (memref<?x2x128xf8E4M3FNUZ>, memref<4x256x64xi8>, memref<?x2xf32>, memref<4x256xf32>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x256xbf16>) -> ()
  return
}

// Group size 128 on the stage-2 K (inter_dim 128): one scale per K row block, [E, 1, N].
// CHECK-LABEL: func.func @stage2_gfx950_g128
// CHECK-NEXT: "moe.gemm"
// CHECK-SAME: group_size = 128 : i64
// CHECK-SAME: memref<4x1x256xbf16>
// CHECK-NEXT: return
func.func @stage2_gfx950_g128(%x: memref<?x2x128xf8E4M3FN>, %w: memref<4x256x64xi8>, %sx: memref<?x2xf32>, %sw: memref<4x1x256xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x256xbf16>) {
  "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 2 : i64, group_size = 128 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "int4_fp8", out_dtype = "bf16", mode = "atomic", target = "gfx950", doweight_stage1 = false} : (memref<?x2x128xf8E4M3FN>, memref<4x256x64xi8>, memref<?x2xf32>, memref<4x1x256xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x256xbf16>) -> ()
  return
}

// Nothing planned or outlined by the verifier.
// NOPLAN-NOT: tile_
// NOPLAN-NOT: waves
// NOPLAN-NOT: gpu.module
