// RUN: %moe-opt %s --pipeline moe-target-neutral -o %t.mlir
// RUN: FileCheck %s --input-file %t.mlir
// RUN: FileCheck %s --input-file %t.mlir --check-prefix=MMA
// RUN: FileCheck %s --input-file %t.mlir --check-prefix=FMA
// RUN: FileCheck %s --input-file %t.mlir --check-prefix=ATOM
// RUN: FileCheck %s --input-file %t.mlir --check-prefix=CVT
// RUN: FileCheck %s --input-file %t.mlir --check-prefix=GONE
// RUN: %moe-opt %t.mlir --passes moe-to-flydsl -o %t.rocdl.mlir
// RUN: FileCheck %s --input-file %t.rocdl.mlir --check-prefix=ROCDL
// RUN: FileCheck %s --input-file %t.rocdl.mlir --check-prefix=NOMOE

// The target-neutral pipeline leaves only the ops the target lowering owns, in counts fixed by the tile, and its printed IR re-parses and lowers: every stage is a valid lit input.

// CHECK: gpu.module @moe_kernels attributes {moe.target = "gfx942"}
// CHECK: scf.for
// CHECK: "moe.mma"
// CHECK: llvm.intr.fma
// CHECK: scf.yield
// CHECK: "moe.atomic_add"
// CHECK: gpu.return

// GONE-NOT: "moe.gemm"
// GONE-NOT: "moe.unpack_int4"
// GONE-NOT: "moe.group_mma"
// GONE-NOT: "moe.epilogue"
// GONE-NOT: func.func

// 4 K32 steps x 4 MMA tiles; one fused group-scale fma per MMA (group 32).
// MMA-COUNT-16: "moe.mma"(
// MMA-NOT: "moe.mma"(
// FMA-COUNT-16: llvm.intr.fma(
// FMA-NOT: llvm.intr.fma(
// 4 rows x 2 column pairs per lane.
// ATOM-COUNT-8: "moe.atomic_add"(%{{[^,]+}}, %{{[^)]+}}) : (!llvm.ptr<1>, vector<2xbf16>) -> ()
// ATOM-NOT: "moe.atomic_add"
// ATOM-NOT: llvm.store
// 16 unpacked words x 4 packed converts.
// CVT-COUNT-64: "moe.cvt_pk_fp8"(
// CVT-NOT: "moe.cvt_pk_fp8"(

// ROCDL: rocdl.readfirstlane
// ROCDL: rocdl.make.buffer.rsrc
// ROCDL: rocdl.cvt.pk.fp8.f32
// ROCDL: rocdl.mfma.f32.16x16x32.fp8.fp8
// ROCDL: llvm.atomicrmw fadd {{.*}} syncscope("agent") monotonic {rocdl.no_fine_grained_memory, rocdl.no_remote_memory} : !llvm.ptr<1>, vector<2xbf16>
// NOMOE-NOT: "moe.

func.func @s_stage2_gfx942_g32(%x: memref<?x2x128xf8E4M3FNUZ>, %w: memref<4x256x64xi8>, %sx: memref<?x2xf32>, %sw: memref<4x4x256xbf16>, %sorted_ids: memref<?xi32>, %sorted_weights: memref<?xf32>, %expert_ids: memref<?xi32>, %num_valid: memref<1xi32>, %out: memref<?x256xbf16>) {
  "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids, %num_valid, %out) {stage = 2 : i64, group_size = 32 : i64, model_dim = 256 : i64, inter_dim = 128 : i64, experts = 4 : i64, topk = 2 : i64, dtype = "int4_fp8", out_dtype = "bf16", mode = "atomic", target = "gfx942", doweight_stage1 = false, tokens_hint = 64 : i64} : (memref<?x2x128xf8E4M3FNUZ>, memref<4x256x64xi8>, memref<?x2xf32>, memref<4x4x256xbf16>, memref<?xi32>, memref<?xf32>, memref<?xi32>, memref<1xi32>, memref<?x256xbf16>) -> ()
  return
}
