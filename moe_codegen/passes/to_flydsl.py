"""moe-to-flydsl: the gfx942/gfx950 lowering of the mid-level `moe.*` ops.

The only AMD-specific pass.  Its output is what FlyDSL's ROCm pipeline takes:
upstream dialects plus ROCDL intrinsics, with bare-pointer kernel arguments.

  moe.load         buffer resource over the base pointer + raw buffer load, the
                   per-lane offset as voffset and the uniform one as soffset; an
                   invalid lane gets a voffset past num_records, and the
                   hardware returns zero (no branch, no select on the data; the
                   select depends on the row only, so it leaves the K loop)
  moe.uniform      rocdl.readfirstlane (keeps resources and bases in SGPRs)
  moe.cvt_pk_fp8   rocdl.cvt.pk.fp8.f32 (v_cvt_pk_fp8_f32; the fp8 flavour is the chip's)
  moe.mma          the atom's MFMA (fp8, i8, bf16 / f16 at k16 or, gfx950, k32); operand
                   containers bitcast to the element vectors the instruction takes
  moe.exp2         rocdl.exp2 (v_exp_f32)
  moe.issue_loads  nothing: buffer loads are intrinsic calls, which LLVM does not
                   fold through a phi (the NVVM lowering's reason for it)
  moe.atomic_add   llvm.atomicrmw fadd, agent scope, no fine-grained / remote
                   memory: the form that selects global_atomic_pk_add_bf16
                   instead of a compare-and-swap loop
"""
from __future__ import annotations

from ..mlir import ir
from ..midlevel import lower_all
from .registry import DiagnosedError, register

NUM_RECORDS = 0x80000000
OUT_OF_RANGE = -0x80000000          # as i32: 0x80000000, one past the last valid byte
BUFFER_FLAGS = (7 << 12) | (4 << 15)  # gfx9 raw buffer: 32-bit data format, dst_sel xyzw
# atom -> (ROCDL op, operand type the instruction takes; None: the mid-level container as is)
MFMA = {
    "mfma_f32_16x16x32_fp8": ("rocdl.mfma.f32.16x16x32.fp8.fp8", None),
    "mfma_i32_16x16x32_i8": ("rocdl.mfma.i32.16x16x32.i8", None),
    "mfma_f32_16x16x16_bf16": ("rocdl.mfma.f32.16x16x16bf16.1k", "vector<4xi16>"),
    "mfma_f32_16x16x16_f16": ("rocdl.mfma.f32.16x16x16f16", "vector<4xf16>"),
    "mfma_f32_16x16x32_bf16": ("rocdl.mfma.f32.16x16x32.bf16", "vector<8xbf16>"),   # gfx950
    "mfma_f32_16x16x32_f16": ("rocdl.mfma.f32.16x16x32.f16", "vector<8xf16>"),      # gfx950
}
MFMA_PROPS = "<{abid = 0 : i32, blgp = #rocdl<mfma_perm_b none>, cbsz = 0 : i32}>"


def _is_true(value) -> bool:
    owner = value.owner
    if not isinstance(owner, ir.Operation) and hasattr(owner, "operation"):
        owner = owner.operation
    if getattr(owner, "name", None) != "arith.constant":
        return False
    v = owner.attributes["value"]
    return isinstance(v, (ir.IntegerAttr, ir.BoolAttr)) and bool(v.value)


def _load(op):
    res_t = str(op.results[0].type)
    always = _is_true(op.operands[3])

    def build(e, a):
        rsrc = e.op(f'"rocdl.make.buffer.rsrc"({a[0]}, {e.c(0, "i16")}, {e.c(NUM_RECORDS, "i64")}, '
                    f'{e.c(BUFFER_FLAGS)}) : (!llvm.ptr<1>, i16, i64, i32) -> !llvm.ptr<8>')
        off = a[1] if always else e.op(f"arith.select {a[3]}, {a[1]}, {e.c(OUT_OF_RANGE)} : i32")
        return [e.op(f'"rocdl.raw.ptr.buffer.load"({rsrc}, {off}, {a[2]}) <{{aux = 0 : i32}}> '
                     f': (!llvm.ptr<8>, i32, i32) -> {res_t}')]

    return build


def _simple(template):
    def factory(op):
        types_in = ", ".join(str(v.type) for v in op.operands)
        res = [str(r.type) for r in op.results]

        make = template(op)

        def build(e, a):
            text = make(a)
            sig = f" : ({types_in}) -> {res[0] if res else '()'}"
            if res:
                return [e.op(text + sig)]
            e.line(text + sig)
            return []

        return build
    return factory


GFX950_ONLY = ("mfma_f32_16x16x32_bf16", "mfma_f32_16x16x32_f16")


def _chip(op):
    """The `moe.target` of the gpu.module around op, if any."""
    p = op.parent
    while p is not None:
        if p.name == "gpu.module" and "moe.target" in p.attributes:
            return ir.StringAttr(p.attributes["moe.target"]).value
        p = p.parent
    return None


def _mma(op):
    atom = ir.StringAttr(op.attributes["atom"]).value
    if atom not in MFMA:
        raise DiagnosedError(f"moe.mma: atom '{atom}' has no gfx9 MFMA (known: {', '.join(MFMA)})", op)
    name, operand_t = MFMA[atom]
    chip = _chip(op)
    if chip is not None and atom in GFX950_ONLY and chip != "gfx950":
        raise DiagnosedError(f"moe.mma: atom '{atom}' needs gfx950; this kernel is for {chip}", op)
    in_t = [str(v.type) for v in op.operands]
    res_t = str(op.results[0].type)

    def build(e, a):
        ab = [a[0], a[1]]
        if operand_t is not None:
            ab = [e.op(f"llvm.bitcast {v} : {t} to {operand_t}") for v, t in zip(ab, in_t)]
        ot = operand_t or in_t[0]
        return [e.op(f'"{name}"({ab[0]}, {ab[1]}, {a[2]}) {MFMA_PROPS} : ({ot}, {ot}, {in_t[2]}) -> {res_t}')]

    return build


def _cvt_template(op):
    hi = "true" if ir.BoolAttr(op.attributes["hi"]).value else "false"
    return lambda a: f'"rocdl.cvt.pk.fp8.f32"({a[0]}, {a[1]}, {a[2]}) <{{wordSel = {hi}}}>'


def _atomic_template(op):
    vt = str(op.operands[1].type)
    if vt not in ("vector<2xbf16>", "vector<2xf16>", "f32"):
        raise DiagnosedError(f"moe.atomic_add: no native gfx9 atomic for {vt}", op)
    return lambda a: (f'"llvm.atomicrmw"({a[0]}, {a[1]}) <{{bin_op = 11 : i64, ordering = 2 : i64, '
                      'syncscope = "agent"}> {rocdl.no_fine_grained_memory, rocdl.no_remote_memory}')


def _atomic(op):
    vt = str(op.operands[1].type)
    text = _atomic_template(op)  # atomicrmw returns the old value; the op has no result

    def build(e, a):
        e.op(f"{text(a)} : (!llvm.ptr<1>, {vt}) -> {vt}")
        return []

    return build


def _and_or(op):
    mask = op.attributes["mask"].value

    def build(e, a):   # (v_and_or_b32: the backend fuses the pair itself)
        return [e.op(f"arith.ori {e.op(f'arith.andi {a[0]}, {e.c(mask)} : i32')}, {a[1]} : i32")]
    return build


LOWERINGS = {
    "moe.load": _load,
    "moe.and_or": _and_or,
    "moe.uniform": _simple(lambda op: lambda a: f'"rocdl.readfirstlane"({a[0]})'),
    "moe.cvt_pk_fp8": _simple(_cvt_template),
    "moe.mma": _mma,
    "moe.atomic_add": _atomic,
    "moe.exp2": _simple(lambda op: lambda a: f'"rocdl.exp2"({a[0]})'),
    "moe.issue_loads": lambda op: lambda e, a: [],
}


@register("moe-to-flydsl", "Lower mid-level moe ops to ROCDL for gfx942/gfx950 (FlyDSL's pipeline input).")
def run(module) -> None:
    lower_all(module, LOWERINGS, "moe-to-flydsl")
