// Reduce mode's second kernel: per (token, valid slot) rows summed in f32 and rounded once, with
// 16-byte loads and stores and no atomics; on every target.
// RUN: %moe-opt %s --pipeline moe-to-gfx942 --emit isa | FileCheck %s --check-prefix=AMD
// RUN: sed -e 's/"gfx942"/"gfx950"/' %s | %moe-opt - --pipeline moe-to-gfx950 --emit isa | FileCheck %s --check-prefix=AMD
// RUN: sed -e 's/"gfx942"/"sm_90"/' %s | %moe-opt - --pipeline moe-to-sm_90 --emit isa | FileCheck %s --check-prefix=NV
// AMD-LABEL: moe_reduce_topk2_bf16_masked:
// AMD: buffer_load_ubyte
// AMD: buffer_load_dwordx4
// AMD: global_store_dwordx4
// AMD-NOT: atomic
// NV-LABEL: .entry moe_reduce_topk2_bf16_masked(
// NV: ld.global.b8
// NV: ld.global.v4.b32
// NV: st.global.v4.b32
// NV-NOT: red.
// NV-NOT: atom.

module {
  func.func @moe_reduce_topk2_bf16_masked(%partial: memref<?x2x256xbf16>, %valid_mask: memref<?x2xi8>, %out: memref<?x256xbf16>) {
    "moe.reduce"(%partial, %valid_mask, %out) {topk = 2 : i64, model_dim = 256 : i64, out_dtype = "bf16", target = "gfx942", masked = true} : (memref<?x2x256xbf16>, memref<?x2xi8>, memref<?x256xbf16>) -> ()
    return
  }
}
