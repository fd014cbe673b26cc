// moe-to-kernel outlines moe.reduce: grid.y walks tokens, each thread sums cols_per_thread columns over
// the topk slots in f32 (an invalid slot's row loads as zero through the mask), rounds once, stores once.
// RUN: %moe-opt %s --passes moe-verify,moe-plan,moe-to-kernel | FileCheck %s

// CHECK: gpu.func @moe_reduce_topk2_bf16_masked(%[[P:.*]]: !llvm.ptr<1>, %[[M:.*]]: !llvm.ptr<1>, %[[O:.*]]: !llvm.ptr<1>, %{{.*}}: i32) kernel
// CHECK-SAME: cols_per_thread = 8
// CHECK: gpu.block_id y
// CHECK: "moe.load"(%[[M]], {{.*}}) : (!llvm.ptr<1>, i32, i32, i1) -> i8
// CHECK: arith.cmpi ne
// CHECK: "moe.load"(%[[P]], {{.*}}) : (!llvm.ptr<1>, i32, i32, i1) -> vector<8xbf16>
// CHECK: arith.addf {{.*}} : vector<8xf32>
// CHECK: "moe.load"(%[[M]]
// CHECK: "moe.load"(%[[P]]
// CHECK: arith.addf {{.*}} : vector<8xf32>
// CHECK: arith.truncf {{.*}} : vector<8xf32> to vector<8xbf16>
// CHECK: llvm.store {{.*}} : vector<8xbf16>, !llvm.ptr<1>
// CHECK-NOT: moe.atomic_add
func.func @red(%partial: memref<?x2x256xbf16>, %mask: memref<?x2xi8>, %out: memref<?x256xbf16>) {
  "moe.reduce"(%partial, %mask, %out) {topk = 2 : i64, model_dim = 256 : i64, out_dtype = "bf16", target = "gfx950", masked = true} : (memref<?x2x256xbf16>, memref<?x2xi8>, memref<?x256xbf16>) -> ()
  return
}
