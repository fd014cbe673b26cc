"""moe-unpack-int4: expand `moe.unpack_int4` into shift/convert sequences.

One 32-bit word holds 8 signed int4 codes; nibble p is the operand's element
p.  Each nibble is sign-extended in place (shift left then arithmetic shift
right: one bit-field-extract on both targets), converted to f32 (exact for
-8..7) and packed two at a time into fp8 by `moe.cvt_pk_fp8`, which the target
lowering maps to its native converter (v_cvt_pk_fp8_f32 / cvt.rn.satfinite
.e4m3x2.f32).  Every int4 code is an exact fp8 value, so the result is exact.
No lookup table.
"""
from __future__ import annotations

from ..mlir import walk_ops
from ..midlevel import check
from ..rewrite import expand
from .registry import DiagnosedError, register


def _nibbles_f32(e, word):
    vals = []
    for p in range(8):
        hi = e.op(f"arith.shli {word}, {e.c(28 - 4 * p)} : i32") if p < 7 else word
        v = e.op(f"arith.shrsi {hi}, {e.c(28)} : i32")
        vals.append(e.op(f"arith.sitofp {v} : i32 to f32"))
    return vals


def _to_fp8(e, args, out_type):
    f = _nibbles_f32(e, args[0])
    words = []
    for w in range(2):
        lo = e.generic("moe.cvt_pk_fp8", [f[4 * w], f[4 * w + 1], e.c(0)], ["f32", "f32", "i32"], "i32",
                       "hi = false")
        words.append(e.generic("moe.cvt_pk_fp8", [f[4 * w + 2], f[4 * w + 3], lo], ["f32", "f32", "i32"],
                               "i32", "hi = true"))
    vec = e.op(f"vector.from_elements {words[0]}, {words[1]} : vector<2xi32>")
    if out_type == "vector<2xi32>":
        return [vec]
    return [e.op(f"llvm.bitcast {vec} : vector<2xi32> to {out_type}")]


@register("moe-unpack-int4", "Expand moe.unpack_int4 into in-register int4 -> fp8 sequences.")
def run(module) -> None:
    for op in walk_ops(module, "moe.unpack_int4"):
        check(op)
        if str(op.operands[0].type) != "i32":
            raise DiagnosedError(f"moe.unpack_int4 takes one i32 word of 8 codes, got {op.operands[0].type}", op)
        to = str(op.attributes["to"]).strip('"') if "to" in op.attributes else None
        out_type = str(op.results[0].type)
        if to != "fp8":
            raise DiagnosedError(f"moe.unpack_int4: unsupported conversion target '{to}' (supported: fp8)", op)
        if out_type not in ("i64", "vector<2xi32>"):
            raise DiagnosedError(f"moe.unpack_int4 to fp8 yields 8 bytes (i64 or vector<2xi32>), got {out_type}", op)
        expand(op, lambda e, a: _to_fp8(e, a, out_type))
