// RUN: %moe-opt %s --passes moe-to-flydsl -o %t.mlir
// RUN: FileCheck %s --input-file %t.mlir
// RUN: FileCheck %s --input-file %t.mlir --check-prefix=GONE

// moe-to-flydsl maps each mid-level op to its gfx9 ROCDL form (zero-fill buffer loads, readfirstlane, fp8 MFMA, packed fp8 convert, exp2, the non-CAS bf16 atomic): the only AMD-specific step.

// A load that is always valid: buffer resource over the base pointer, then the raw buffer load with the
// per-lane offset as voffset and the uniform one as soffset; no select.
// CHECK-LABEL: func.func @load_always
// CHECK-SAME: (%[[P:[^:]+]]: !llvm.ptr<1>, %[[OFF:[^:]+]]: i32, %[[SOFF:[^:]+]]: i32)
// CHECK-DAG: %[[STRIDE:.+]] = arith.constant 0 : i16
// CHECK-DAG: %[[NREC:.+]] = arith.constant 2147483648 : i64
// CHECK-DAG: %[[FLAGS:.+]] = arith.constant 159744 : i32
// CHECK: %[[RSRC:.+]] = rocdl.make.buffer.rsrc %[[P]], %[[STRIDE]], %[[NREC]], %[[FLAGS]] : <1> to <8>
// CHECK-NEXT: %[[V:.+]] = rocdl.raw.ptr.buffer.load %[[RSRC]], %[[OFF]], %[[SOFF]], 0 : vector<2xi32>
// CHECK-NEXT: return %[[V]] : vector<2xi32>
func.func @load_always(%p: !llvm.ptr<1>, %off: i32, %soff: i32) -> vector<2xi32> {
  %true = arith.constant true
  %v = "moe.load"(%p, %off, %soff, %true) : (!llvm.ptr<1>, i32, i32, i1) -> vector<2xi32>
  return %v : vector<2xi32>
}

// A load with a runtime validity bit: the voffset becomes 0x80000000 (past num_records) when invalid,
// and the hardware returns zero for that lane.
// CHECK-LABEL: func.func @load_masked
// CHECK-SAME: (%[[P2:[^:]+]]: !llvm.ptr<1>, %[[OFF2:[^:]+]]: i32, %[[SOFF2:[^:]+]]: i32, %[[OK:[^:]+]]: i1)
// CHECK-DAG: %[[OOR:.+]] = arith.constant -2147483648 : i32
// CHECK: %[[RSRC2:.+]] = rocdl.make.buffer.rsrc %[[P2]], %{{.+}}, %{{.+}}, %{{.+}} : <1> to <8>
// CHECK-NEXT: %[[SEL:.+]] = arith.select %[[OK]], %[[OFF2]], %[[OOR]] : i32
// CHECK-NEXT: %[[V2:.+]] = rocdl.raw.ptr.buffer.load %[[RSRC2]], %[[SEL]], %[[SOFF2]], 0 : i64
// CHECK-NEXT: return %[[V2]] : i64
func.func @load_masked(%p: !llvm.ptr<1>, %off: i32, %soff: i32, %ok: i1) -> i64 {
  %v = "moe.load"(%p, %off, %soff, %ok) : (!llvm.ptr<1>, i32, i32, i1) -> i64
  return %v : i64
}

// The validity bit as the kernel computes it (token < tokens): still a select, on that bit.
// CHECK-LABEL: func.func @load_row_valid
// CHECK: %[[CMP:.+]] = arith.cmpi ult
// CHECK: arith.select %[[CMP]], %{{.+}}, %{{.+}} : i32
// CHECK-NEXT: rocdl.raw.ptr.buffer.load {{.*}} : f32
func.func @load_row_valid(%p: !llvm.ptr<1>, %tok: i32, %tokens: i32) -> f32 {
  %c0 = arith.constant 0 : i32
  %ok = arith.cmpi ult, %tok, %tokens : i32
  %v = "moe.load"(%p, %tok, %c0, %ok) : (!llvm.ptr<1>, i32, i32, i1) -> f32
  return %v : f32
}

// CHECK-LABEL: func.func @uniform
// CHECK-NEXT: %[[U:.+]] = rocdl.readfirstlane %{{.+}} : i32
// CHECK-NEXT: return %[[U]] : i32
func.func @uniform(%x: i32) -> i32 {
  %u = "moe.uniform"(%x) : (i32) -> i32
  return %u : i32
}

// CHECK-LABEL: func.func @mma
// CHECK-SAME: (%[[A:[^:]+]]: i64, %[[B:[^:]+]]: i64, %[[C:[^:]+]]: vector<4xf32>)
// CHECK-NEXT: %[[D:.+]] = rocdl.mfma.f32.16x16x32.fp8.fp8 %[[A]], %[[B]], %[[C]], 0, 0, none : (i64, i64, vector<4xf32>) -> vector<4xf32>
// CHECK-NEXT: return %[[D]] : vector<4xf32>
func.func @mma(%a: i64, %b: i64, %c: vector<4xf32>) -> vector<4xf32> {
  %d = "moe.mma"(%a, %b, %c) {atom = "mfma_f32_16x16x32_fp8"} : (i64, i64, vector<4xf32>) -> vector<4xf32>
  return %d : vector<4xf32>
}

// hi = false fills bytes 0-1 of the old word, hi = true bytes 2-3.
// CHECK-LABEL: func.func @cvt
// CHECK-SAME: (%[[F0:[^:]+]]: f32, %[[F1:[^:]+]]: f32, %[[F2:[^:]+]]: f32, %[[F3:[^:]+]]: f32)
// CHECK-NEXT: %[[Z:.+]] = arith.constant 0 : i32
// CHECK-NEXT: %[[LO:.+]] = rocdl.cvt.pk.fp8.f32 %[[F0]], %[[F1]] -> %[[Z]][false] : i32
// CHECK-NEXT: %[[HI:.+]] = rocdl.cvt.pk.fp8.f32 %[[F2]], %[[F3]] -> %[[LO]][true] : i32
// CHECK-NEXT: return %[[HI]] : i32
func.func @cvt(%a: f32, %b: f32, %c: f32, %d: f32) -> i32 {
  %z = arith.constant 0 : i32
  %lo = "moe.cvt_pk_fp8"(%a, %b, %z) {hi = false} : (f32, f32, i32) -> i32
  %w = "moe.cvt_pk_fp8"(%c, %d, %lo) {hi = true} : (f32, f32, i32) -> i32
  return %w : i32
}

// Agent scope plus the two no-fine-grained / no-remote unit attributes: without them the bf16 pair add
// is a compare-and-swap loop on gfx942/gfx950 (SPEC 7).
// CHECK-LABEL: func.func @atomic_bf16
// CHECK-SAME: (%[[PTR:[^:]+]]: !llvm.ptr<1>, %[[VAL:[^:]+]]: vector<2xbf16>)
// CHECK-NEXT: llvm.atomicrmw fadd %[[PTR]], %[[VAL]] syncscope("agent") monotonic {rocdl.no_fine_grained_memory, rocdl.no_remote_memory} : !llvm.ptr<1>, vector<2xbf16>
// CHECK-NEXT: return
func.func @atomic_bf16(%p: !llvm.ptr<1>, %v: vector<2xbf16>) {
  "moe.atomic_add"(%p, %v) : (!llvm.ptr<1>, vector<2xbf16>) -> ()
  return
}

// CHECK-LABEL: func.func @atomic_f16
// CHECK-NEXT: llvm.atomicrmw fadd %{{.+}}, %{{.+}} syncscope("agent") monotonic {rocdl.no_fine_grained_memory, rocdl.no_remote_memory} : !llvm.ptr<1>, vector<2xf16>
func.func @atomic_f16(%p: !llvm.ptr<1>, %v: vector<2xf16>) {
  "moe.atomic_add"(%p, %v) : (!llvm.ptr<1>, vector<2xf16>) -> ()
  return
}

// CHECK-LABEL: func.func @exp2
// CHECK-NEXT: %[[E:.+]] = rocdl.exp2 %{{.+}} f32 -> f32
// CHECK-NEXT: return %[[E]] : f32
func.func @exp2(%x: f32) -> f32 {
  %y = "moe.exp2"(%x) : (f32) -> f32
  return %y : f32
}

// Ops nested in regions (the kernel's scf.if / scf.for) are lowered too.
// CHECK-LABEL: func.func @nested
// CHECK: scf.if
// CHECK: rocdl.make.buffer.rsrc
// CHECK-NEXT: rocdl.raw.ptr.buffer.load
// CHECK-NEXT: llvm.atomicrmw fadd
// CHECK-NEXT: }
func.func @nested(%p: !llvm.ptr<1>, %c: i1) {
  %true = arith.constant true
  %z = arith.constant 0 : i32
  scf.if %c {
    %v = "moe.load"(%p, %z, %z, %true) : (!llvm.ptr<1>, i32, i32, i1) -> vector<2xbf16>
    "moe.atomic_add"(%p, %v) : (!llvm.ptr<1>, vector<2xbf16>) -> ()
  }
  return
}

// moe.and_or (the f16 / bf16 pair unpack's masked OR) stays two integer ops: the AMD backend fuses them
// into v_and_or_b32 itself.
// CHECK-LABEL: func.func @and_or
// CHECK-SAME: (%[[W:[^:]+]]: i32, %[[M:[^:]+]]: i32)
// CHECK: %[[AND:.+]] = arith.andi %[[W]], %{{.+}} : i32
// CHECK-NEXT: %[[OR:.+]] = arith.ori %[[AND]], %[[M]] : i32
// CHECK-NEXT: return %[[OR]] : i32
func.func @and_or(%w: i32, %m: i32) -> i32 {
  %r = "moe.and_or"(%w, %m) {mask = 983055 : i32} : (i32, i32) -> i32
  return %r : i32
}

// No moe op survives the target lowering, and no CAS loop is built here.
// GONE-NOT: "moe.
// GONE-NOT: cmpxchg
