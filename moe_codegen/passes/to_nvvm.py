"""moe-to-nvvm: the sm_90 lowering of the mid-level `moe.*` ops (NVVM + LLVM dialects).

  moe.load         llvm.load at base + lane offset + uniform offset, one GEP each (the lane
                   part is loop-invariant and leaves the loop; the uniform part's constant
                   becomes the load's immediate); an invalid lane loads from the base instead
                   and its value is replaced by zero
  moe.uniform      nothing to do: uniform values need no register class on NVPTX
  moe.cvt_pk_fp8   cvt.rn.satfinite.e4m3x2.f32 (exact for the int4 codes), merged
                   into the low or high half of the old word
  moe.cvt_f16x2_fp8x2  two cvt.rn.satfinite.e4m3x2.f16x2 joined into one word (low half -> low byte)
  moe.cvt_fp8_f16  four cvt.rn.f16x2.e4m3x2 (exact), the low byte of each pair to the low half
  moe.mma          nvvm.mma.sync row.col: m16n8k32 e4m3 (PTX ISA 8.4 on sm_90) or s8 (s32
                   accumulators), m16n8k16 bf16 / f16
  moe.atomic_add   red.global.add.noftz.bf16x2 / .f16x2 / red.global.add.f32 (device
                   scope by default): a vector atomicrmw would become a compare-and-swap loop
  moe.exp2         ex2.approx.f32
  moe.bulk_reduce  cp.reduce.async.bulk.global.shared::cta.bulk_group.add: a row of the shared-memory tile
                   added into the output (bf16 / f16 .noftz, f32); moe.bulk_commit / moe.bulk_wait_read:
                   cp.async.bulk.commit_group / cp.async.bulk.wait_group.read 0
  moe.wgmma        one inline-asm block: wgmma.fence, the chain of wgmma.mma_async m64nNk16 (A: the
                   weights in registers, or a shared-memory descriptor for weights used as stored
                   (fp8: m64nNk32 e4m3), B: tokens through a shared-memory descriptor; the first
                   starts from zero unless a running sum is given), commit
  moe.wgmma_wait   wgmma.wait_group N, the accumulators tied through it, so that no read of them
                   can be scheduled before it
  moe.async_proxy_fence  fence.proxy.async.shared::cta (plain stores -> what wgmma reads)
  moe.mbarrier_init / moe.mbarrier_init_fence / moe.mbarrier_expect_tx / moe.mbarrier_wait
                   mbarrier.init (count), fence.mbarrier_init, mbarrier.arrive.expect_tx (bytes),
                   a mbarrier.try_wait.parity loop (shared addresses: byte offsets into @moe_smem)
  moe.tensormap_acquire  fence.proxy.tensormap::generic.acquire.gpu on the 128-byte map (written
                   by the host, read by the tensor copies)
  moe.tma_load     cp.async.bulk.tensor.4d tile copy global -> shared completing on an mbarrier
  moe.tma_load_multicast  the same copy landing in every block of the cluster named by an i16 mask
  moe.cluster_arrive / moe.cluster_wait  barrier.cluster.arrive / .wait (release / acquire, aligned)
  moe.mbarrier_arrive_cluster  an arrival on the mbarrier at an offset of a cluster block's shared
                   memory (mapa)
  moe.issue_loads  an empty inline-asm statement that may write memory: no instruction, but LLVM
                   cannot fold a software pipeline's loads (the next K tile's, carried by the loop)
                   into loads at their use after the loop's phi
  moe.async_copy   cp.async.cg.shared.global, 16 bytes (or .ca, 4 / 8: attribute bytes; a 6th operand: zero-fill when false, any size) (staged weights); moe.async_commit / moe.async_wait:
                   cp.async.commit_group / cp.async.wait_group N
"""
from __future__ import annotations

import re

from ..midlevel import lower_all
from ..mlir import attr, ir, walk_ops
from .registry import DiagnosedError, register
from .to_flydsl import _is_true

ELEM_BYTES = {"i8": 1, "i16": 2, "i32": 4, "i64": 8, "f16": 2, "bf16": 2, "f32": 4}


def _size(t: str):
    """Bytes of a scalar or vector type, None for what a load cannot be."""
    m = re.fullmatch(r"vector<(\d+)x(\w+)>", t)
    elem, n = (m.group(2), int(m.group(1))) if m else (t, 1)
    return ELEM_BYTES[elem] * n if elem in ELEM_BYTES else None
# atom -> (PTX operand type, shape k, A regs, B regs, accumulator element, register type of A/B, swap):
# with swap the weights are the 16-row operand: the mid-level b (4 registers) goes to A, a (2) to B
MMA = {
    "mma_m16n8k32_e4m3": ("e4m3", 32, 4, 2, "f32", "i32", False),
    "mma_m16n8k32_s8": ("s8", 32, 4, 2, "i32", "i32", False),
    "mma_m16n8k16_bf16": ("bf16", 16, 4, 2, "f32", "i32", False),
    "mma_m16n8k16_f16": ("f16", 16, 4, 2, "f32", "vector<2xf16>", False),
    "mma_m16n8k16_f16_t": ("f16", 16, 4, 2, "f32", "vector<2xf16>", True),
    "mma_m16n8k16_bf16_t": ("bf16", 16, 4, 2, "f32", "i32", True),
}


def _load(op):
    t = str(op.results[0].type)
    if _size(t) is None:
        raise DiagnosedError(f"moe.load: no sm_90 lowering for result type {t}", op)
    always = _is_true(op.operands[3])

    def build(e, a):
        # (one i32 sum would be sign-extended as a whole: no hoisting, no immediate offsets)
        lane = e.op(f"llvm.getelementptr {a[0]}[{a[1]}] : (!llvm.ptr<1>, i32) -> !llvm.ptr<1>, i8")
        ptr = e.op(f"llvm.getelementptr {lane}[{a[2]}] : (!llvm.ptr<1>, i32) -> !llvm.ptr<1>, i8")
        if not always:
            ptr = e.op(f"arith.select {a[3]}, {ptr}, {a[0]} : !llvm.ptr<1>")
        v = e.op(f"llvm.load {ptr} {{alignment = {_size(t)} : i64}} : !llvm.ptr<1> -> {t}")
        if always:
            return [v]
        floating = t.rstrip(">").split("x")[-1].startswith(("f", "bf"))
        zero = e.op(f"arith.constant {'0.0' if floating else '0'} : {t}" if not t.startswith("vector")
                    else f"arith.constant dense<{'0.0' if floating else '0'}> : {t}")
        return [e.op(f"arith.select {a[3]}, {v}, {zero} : {t}")]

    return build


def _cvt(op):
    hi = op.attributes["hi"].value

    def build(e, a):
        # PTX puts the conversion of the first source in the upper byte
        h = e.op(f'llvm.inline_asm asm_dialect = att "cvt.rn.satfinite.e4m3x2.f32 $0, $1, $2;", "=h,f,f" '
                 f"{a[1]}, {a[0]} : (f32, f32) -> i16")
        w = e.op(f"arith.extui {h} : i16 to i32")
        if hi:
            w = e.op(f"arith.shli {w}, {e.c(16)} : i32")
        keep = e.op(f"arith.andi {a[2]}, {e.c(0xFFFF if hi else -65536)} : i32")
        return [e.op(f"arith.ori {keep}, {w} : i32")]

    return build


def _cvt_f16x2(op):
    types = [str(v.type) for v in op.operands] + [str(op.results[0].type)]
    if types != ["vector<2xf16>", "vector<2xf16>", "i32"]:
        raise DiagnosedError(f"moe.cvt_f16x2_fp8x2 takes two f16 pairs to an i32 of four fp8 bytes, got {types}", op)

    def build(e, a):
        bits = [e.op(f"llvm.bitcast {v} : vector<2xf16> to i32") for v in a]
        # both halves converted into 16-bit registers and joined by one move: no zero-extend / shift / or
        text = ("{ .reg .b16 lo, hi; cvt.rn.satfinite.e4m3x2.f16x2 lo, $1; "
                "cvt.rn.satfinite.e4m3x2.f16x2 hi, $2; mov.b32 $0, {lo, hi}; }")
        return [e.op(f'llvm.inline_asm asm_dialect = att "{text}", "=r,r,r" {bits[0]}, {bits[1]} : (i32, i32) -> i32')]
    return build


def _cvt_fp8_f16(op):
    in_t = str(op.operands[0].type)
    if in_t != "vector<2xi32>" or str(op.results[0].type) != "vector<4xi32>":
        raise DiagnosedError(f"moe.cvt_fp8_f16 takes 8 bytes (vector<2xi32>) to vector<4xi32>, got {in_t}", op)

    def build(e, a):
        pairs = []
        for i in range(2):
            w = e.op(f"vector.extract {a[0]}[{i}] : i32 from vector<2xi32>")
            for half in range(2):   # the low byte of each 16-bit half becomes the low f16
                h = e.op(f"arith.trunci {e.op(f'arith.shrui {w}, {e.c(16)} : i32') if half else w} : i32 to i16")
                pairs.append(e.op(f'llvm.inline_asm asm_dialect = att "cvt.rn.f16x2.e4m3x2 $0, $1;", "=r,h" '
                                  f"{h} : (i16) -> i32"))
        return [e.op(f"vector.from_elements {', '.join(pairs)} : vector<4xi32>")]

    return build


def _mma(op):
    atom = op.attributes["atom"].value
    if atom not in MMA:
        raise DiagnosedError(f"moe.mma: atom '{atom}' has no sm_90 mma.sync (known: {', '.join(MMA)})", op)
    ptx, k, na, nb, ct, rt, swap = MMA[atom]
    attrs = (f"layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>, "
             f"multiplicandAPtxType = #nvvm.mma_type<{ptx}>, multiplicandBPtxType = #nvvm.mma_type<{ptx}>, "
             f"shape = #nvvm.shape<m = 16, n = 8, k = {k}>")
    if ct == "i32":   # the sums cannot overflow (|code| <= 128, K < 2^17): plain two's complement
        attrs += ", intOverflowBehavior = #nvvm.mma_int_overflow<wrapped>"
    st = f"!llvm.struct<({ct}, {ct}, {ct}, {ct})>"

    def regs(e, v, n):
        out = [e.op(f"vector.extract {v}[{i}] : i32 from vector<{n}xi32>") for i in range(n)]
        return out if rt == "i32" else [e.op(f"llvm.bitcast {r} : i32 to {rt}") for r in out]

    def build(e, a):
        first, second = (a[1], a[0]) if swap else (a[0], a[1])
        av, bv = regs(e, first, na), regs(e, second, nb)
        cv = [e.op(f"vector.extract {a[2]}[{i}] : {ct} from vector<4x{ct}>") for i in range(4)]
        r = e.op(f"nvvm.mma.sync A[{', '.join(av)}] B[{', '.join(bv)}] C[{', '.join(cv)}] {{{attrs}}} "
                 f": ({rt}, {rt}, {ct}) -> {st}")
        d = [e.op(f"llvm.extractvalue {r}[{i}] : {st}") for i in range(4)]
        return [e.op(f"vector.from_elements {', '.join(d)} : vector<4x{ct}>")]

    return build


def _asm_to_accumulator(e, text, cons, ins, types, t, n):
    """An inline-asm block whose n f32 outputs are an accumulator vector<n x f32> (t)."""
    st = f"!llvm.struct<({', '.join(['f32'] * n)})>"
    r = e.op(f'llvm.inline_asm has_side_effects asm_dialect = att "{text}", "{cons},~{{memory}}" '
             f'{", ".join(ins)} : ({", ".join(types)}) -> {st}')
    vals = [e.op(f"llvm.extractvalue {r}[{i}] : {st}") for i in range(n)]
    return e.op(f"vector.from_elements {', '.join(vals)} : {t}")


def _wgmma(op):
    from ..targets import ATOMS
    name = op.attributes["atom"].value
    if name not in ATOMS or not ATOMS[name].warpgroup:
        raise DiagnosedError(f"moe.wgmma: '{name}' is not a warpgroup MMA atom", op)
    steps = op.attributes["steps"].value
    acc = len(op.operands) == 2 * steps + 1
    if len(op.operands) != 2 * steps + (1 if acc else 0):
        raise DiagnosedError(f"moe.wgmma with steps = {steps} takes {2 * steps} operands (+ a running sum)", op)
    t = str(op.results[0].type)
    m = re.fullmatch(r"vector<(\d+)xf32>", t)
    n = int(m.group(1)) if m else 0
    if not m or n % 4 or not 4 <= n <= 128:
        raise DiagnosedError(f"moe.wgmma: accumulator {t} is not vector<N/2 x f32> for N = 8 .. 256 tokens", op)
    atom = ATOMS[name]
    ptx = {"fp8": "e4m3"}.get(atom.elem, atom.elem)
    d = "{" + ", ".join(f"${i}" for i in range(n)) + "}"
    first = n + (n if acc else 0)         # operand number of the first A register (or descriptor)
    a_regs = 1 if atom.smem_a else 4      # the weights: a descriptor, or 4 registers of fragment
    desc0, flag = first + a_regs * steps, first + (a_regs + 1) * steps
    body = ["{", ".reg .pred p, q;", f"setp.ne.b32 p, ${flag}, 0;", f"setp.ne.b32 q, ${flag + 1}, 0;",
            "wgmma.fence.sync.aligned;"]
    # K-major operands: transpose flags 0 (the fp8 form has none, K-major is its only layout)
    trans = "" if ptx == "e4m3" else (", 0, 0" if atom.smem_a else ", 0")
    for i in range(steps):
        a = f"${first + i}" if atom.smem_a else "{" + ", ".join(f"${first + 4 * i + j}" for j in range(4)) + "}"
        body.append(f"wgmma.mma_async.sync.aligned.m64n{2 * n}k{atom.k}.f32.{ptx}.{ptx} {d}, {a}, ${desc0 + i}, "
                    f"{'p' if i == 0 else 'q'}, 1, 1{trans};")
    body += ["wgmma.commit_group.sync.aligned;", "}"]
    cons = ["=f"] * n + ([str(i) for i in range(n)] if acc else []) + ["l" if atom.smem_a else "r"] * (a_regs * steps) \
        + ["l"] * steps + ["r", "r"]

    def build(e, a):
        ins = []
        if acc:
            ins += [e.op(f"vector.extract {a[-1]}[{i}] : f32 from {t}") for i in range(n)]
        for i in range(steps):
            ins += [a[steps + i]] if atom.smem_a else \
                [e.op(f"vector.extract {a[steps + i]}[{j}] : i32 from vector<4xi32>") for j in range(4)]
        ins += list(a[:steps]) + [e.c(1 if acc else 0), e.c(1)]
        types = ["f32"] * (n if acc else 0) + (["i64"] * steps if atom.smem_a else ["i32"] * (4 * steps)) \
            + ["i64"] * steps + ["i32", "i32"]
        return [_asm_to_accumulator(e, " ".join(body), ",".join(cons), ins, types, t, n)]

    return build


def _wgmma_wait(op):
    t = str(op.results[0].type)
    m = re.fullmatch(r"vector<(\d+)xf32>", t)
    if not m or str(op.operands[0].type) != t:
        raise DiagnosedError(f"moe.wgmma_wait takes and gives the accumulator vector<N x f32>, got {t}", op)
    n, pending = int(m.group(1)), op.attributes["pending"].value
    # the accumulators pass through the wait (tied operands): nothing reads them before it
    cons = ",".join(["=f"] * n + [str(i) for i in range(n)])

    def build(e, a):
        ins = [e.op(f"vector.extract {a[0]}[{i}] : f32 from {t}") for i in range(n)]
        return [_asm_to_accumulator(e, f"wgmma.wait_group.sync.aligned {pending};", cons, ins, ["f32"] * n, t, n)]

    return build


def _statement(text: str, *attrs: str):
    """The lowering of an op without operands or results: one statement, `attrs` (integer attributes
    of the op) filled into `text`."""
    def lower(op):
        line = text.format(**{k: op.attributes[k].value for k in attrs})

        def build(e, a):
            e.line(line)
            return []
        return build
    return lower




RED = {"vector<2xbf16>": "red.global.add.noftz.bf16x2", "vector<2xf16>": "red.global.add.noftz.f16x2",
       "f32": "red.global.add.f32"}


def _atomic(op):
    t = str(op.operands[1].type)
    if t not in RED:
        raise DiagnosedError(f"moe.atomic_add: no native sm_90 reduction for {t}", op)

    def build(e, a):
        if t == "f32":
            val, kind, vt = a[1], "f", "f32"
        else:
            val, kind, vt = e.op(f"llvm.bitcast {a[1]} : {t} to i32"), "r", "i32"
        e.line(f'llvm.inline_asm has_side_effects asm_dialect = att "{RED[t]} [$0], $1;", "l,{kind},~{{memory}}" '
               f"{a[0]}, {val} : (!llvm.ptr<1>, {vt}) -> ()")
        return []

    return build


BULK_RED = {"bf16": "add.noftz.bf16", "f16": "add.noftz.f16", "f32": "add.f32"}


def _bulk_reduce(op):
    """out[out_off ..] += smem[smem_off ..], `bytes` of elements `type`, by the bulk copy engine: one
    request for a whole row instead of a reduction per lane and column pair."""
    t, n = op.attributes["type"].value, op.attributes["bytes"].value
    if t not in BULK_RED or n % 16:
        raise DiagnosedError(f"moe.bulk_reduce: {n} bytes of {t} (a multiple of 16 bytes of bf16, f16 or f32)", op)
    ptx = f"cp.reduce.async.bulk.global.shared::cta.bulk_group.{BULK_RED[t]}"

    def build(e, a):
        dst = e.op(f"llvm.getelementptr {a[1]}[{a[2]}] : (!llvm.ptr<1>, i32) -> !llvm.ptr<1>, i8")
        row = e.op(f"llvm.getelementptr {a[0]}[{a[3]}] : (!llvm.ptr<3>, i32) -> !llvm.ptr<3>, i8")
        src = e.op(f"llvm.ptrtoint {row} : !llvm.ptr<3> to i32")
        e.line(f'llvm.inline_asm has_side_effects asm_dialect = att "{ptx} [$0], [$1], {n};", "l,r,~{{memory}}" '
               f'{dst}, {src} : (!llvm.ptr<1>, i32) -> ()')
        return []
    return build


def _and_or(op):
    types = [str(v.type) for v in op.operands] + [str(op.results[0].type)]
    if types != ["i32"] * 3:
        raise DiagnosedError(f"moe.and_or takes and gives i32, got {types}", op)
    mask = op.attributes["mask"].value & 0xFFFFFFFF
    # one lop3 (a & b) | c, the second constant in a register: with both as immediates ptxas emits two
    # LOP3s (an instruction takes one immediate); the register's mov leaves the loop
    return lambda e, a: [e.op(f'llvm.inline_asm asm_dialect = att "lop3.b32 $0, $1, {mask:#x}, $2, 0xEA;", "=r,r,r" '
                              f"{a[0]}, {a[1]} : (i32, i32) -> i32")]


def _exp2(op):
    def build(e, a):
        return [e.op(f'llvm.inline_asm asm_dialect = att "ex2.approx.f32 $0, $1;", "=f,f" {a[0]} : (f32) -> f32')]
    return build


def _async_copy(op):
    if len(op.operands) not in (5, 6):
        raise DiagnosedError(f"moe.async_copy takes 5 operands (+ a validity bit), got {len(op.operands)}", op)
    guarded = len(op.operands) == 6 and not _is_true(op.operands[5])
    nbytes = op.attributes["bytes"].value if "bytes" in op.attributes else 16
    if nbytes not in (4, 8, 16):
        raise DiagnosedError(f"moe.async_copy: {nbytes} bytes (cp.async copies 4, 8 or 16)", op)
    # 16 bytes bypass L1 (.cg: each copy is read once from shared memory); 4 and 8 exist only as .ca
    cache = "cg" if nbytes == 16 else "ca"

    def build(e, a):
        dst = e.op(f"llvm.getelementptr {a[0]}[{a[1]}] : (!llvm.ptr<3>, i32) -> !llvm.ptr<3>, i8")
        off = e.op(f'arith.addi {a[3]}, {a[4]} : i32')
        if guarded:   # an invalid copy reads nothing (the base, 0 bytes) and fills its bytes with zeros
            off = e.op(f"arith.select {a[5]}, {off}, {e.c(0)} : i32")
        src = e.op(f"llvm.getelementptr {a[2]}[{off}] : (!llvm.ptr<1>, i32) -> !llvm.ptr<1>, i8")
        if guarded:
            n = e.op(f"arith.select {a[5]}, {e.c(nbytes)}, {e.c(0)} : i32")
            e.line(f"nvvm.cp.async.shared.global {dst}, {src}, {nbytes}, cache = {cache}, {n} "
                   f": !llvm.ptr<3>, !llvm.ptr<1>, i32")
        else:
            e.line(f"nvvm.cp.async.shared.global {dst}, {src}, {nbytes}, cache = {cache} : !llvm.ptr<3>, !llvm.ptr<1>")
        return []
    return build


def _asm(text: str, constraints: str, offsets=(), attrs=()):
    """One side-effecting inline-asm statement.  With `offsets`, operand 0 is @moe_smem and the operands
    at those indices byte offsets into it, each passed as a 32-bit shared address; the other operands
    pass as they are, in order ($0, $1, ...).  `attrs`: integer attributes of the op filled into `text`."""
    def lower(op):
        line = text.format(**{k: op.attributes[k].value for k in attrs})

        def build(e, a):
            ins, types = [], []
            for i in range(1 if offsets else 0, len(a)):
                if i in offsets:
                    ptr = e.op(f"llvm.getelementptr {a[0]}[{a[i]}] : (!llvm.ptr<3>, i32) -> !llvm.ptr<3>, i8")
                    ins.append(e.op(f"llvm.ptrtoint {ptr} : !llvm.ptr<3> to i32"))
                    types.append("i32")
                else:
                    ins.append(a[i])
                    types.append(str(op.operands[i].type))
            cons = ",".join(c for c in (constraints, "~{memory}") if c)
            e.line(f'llvm.inline_asm has_side_effects asm_dialect = att "{line}", "{cons}" '
                   f'{", ".join(ins)} : ({", ".join(types)}) -> ()')
            return []
        return build
    return lower


_mbarrier_init = _asm("mbarrier.init.shared::cta.b64 [$0], {count};", "r", (1,), ("count",))
_async_proxy_fence = _asm("fence.proxy.async.shared::cta;", "")
_mbarrier_init_fence = _asm("fence.mbarrier_init.release.cluster;", "")
_tensormap_acquire = _asm("fence.proxy.tensormap::generic.acquire.gpu [$0], 128;", "l")
_mbarrier_expect_tx = _asm("mbarrier.arrive.expect_tx.shared::cta.b64 _, [$0], {bytes};", "r", (1,), ("bytes",))
# (a label is local to its braces: the loop may be inlined any number of times)
_mbarrier_wait = _asm("{{ .reg .pred p; wait: mbarrier.try_wait.parity.shared::cta.b64 p, [$0], $1; "
                      "@!p bra wait; }}", "r,r", (1,))
_tma_load = _asm("cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes "
                 "[$0], [$1, {{$3, $4, $5, $6}}], [$2];", "r,l,r,r,r,r,r", (1, 3))
# the same box into the same offsets of every block of the cluster in the 16-bit mask, completing on
# each one's mbarrier at that offset
_tma_load_multicast = _asm("cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes"
                           ".multicast::cluster [$0], [$1, {{$3, $4, $5, $6}}], [$2], $7;", "r,l,r,r,r,r,r,h", (1, 3))
# one arrival on the mbarrier at this offset in the shared memory of cluster block $1 (the default
# release at CTA scope: what it reports, MMAs done reading a slot, is complete, not merely ordered; a
# release at cluster scope costs a memory barrier that also waits for the thread's copies in flight)
_mbarrier_arrive_cluster = _asm("{{ .reg .b32 ra; mapa.shared::cluster.u32 ra, $0, $1; "
                                "mbarrier.arrive.shared::cluster.b64 _, [ra]; }}", "r,r", (1,))
# (release / acquire: the default semantics of barrier.cluster.arrive / wait)
_cluster_arrive = _statement("nvvm.cluster.arrive {{aligned}}")
_cluster_wait = _statement("nvvm.cluster.wait {{aligned}}")


# (instcombine turns a phi of two loads, one before the loop and one in its body, into one load behind
# the phi, i.e. at the use, whenever nothing after the loads in their blocks may write memory)
_issue_loads = _asm("", "")
_async_commit = _statement("nvvm.cp.async.commit.group")
_bulk_commit = _asm("cp.async.bulk.commit_group;", "")
# (the bulk reductions have read their shared memory: it may be reused, or the block may end)
_bulk_wait_read = _asm("cp.async.bulk.wait_group.read 0;", "")
_async_wait = _statement("nvvm.cp.async.wait.group {pending}", "pending")


def _uniform(op):
    return lambda e, a: [a[0]]


LOWERINGS = {
    "moe.load": _load,
    "moe.uniform": _uniform,
    "moe.and_or": _and_or,
    "moe.cvt_pk_fp8": _cvt,
    "moe.cvt_f16x2_fp8x2": _cvt_f16x2,
    "moe.cvt_fp8_f16": _cvt_fp8_f16,
    "moe.mma": _mma,
    "moe.atomic_add": _atomic,
    "moe.exp2": _exp2,
    "moe.wgmma": _wgmma,
    "moe.wgmma_wait": _wgmma_wait,
    "moe.async_proxy_fence": _async_proxy_fence,
    "moe.async_copy": _async_copy,
    "moe.async_commit": _async_commit,
    "moe.async_wait": _async_wait,
    "moe.mbarrier_init": _mbarrier_init,
    "moe.mbarrier_init_fence": _mbarrier_init_fence,
    "moe.tensormap_acquire": _tensormap_acquire,
    "moe.mbarrier_expect_tx": _mbarrier_expect_tx,
    "moe.mbarrier_wait": _mbarrier_wait,
    "moe.tma_load": _tma_load,
    "moe.tma_load_multicast": _tma_load_multicast,
    "moe.cluster_arrive": _cluster_arrive,
    "moe.mbarrier_arrive_cluster": _mbarrier_arrive_cluster,
    "moe.cluster_wait": _cluster_wait,
    "moe.issue_loads": _issue_loads,
    "moe.bulk_reduce": _bulk_reduce,
    "moe.bulk_commit": _bulk_commit,
    "moe.bulk_wait_read": _bulk_wait_read,
}


def _cluster_dims(module) -> None:
    """A kernel launched in clusters (launch metadata cluster_y) declares their shape, so that a plain
    launch forms them (PTX .reqnctapercluster)."""
    for f in walk_ops(module, "gpu.func"):
        if "moe.launch" not in f.attributes:
            continue
        launch = ir.DictAttr(f.attributes["moe.launch"])
        if "cluster_y" in launch:
            f.attributes["nvvm.cluster_dim"] = attr(f"array<i32: 1, {ir.IntegerAttr(launch['cluster_y']).value}, 1>")


@register("moe-to-nvvm", "Lower mid-level moe ops to NVVM/LLVM for sm_90.")
def run(module) -> None:
    lower_all(module, LOWERINGS, "moe-to-nvvm")
    _cluster_dims(module)
