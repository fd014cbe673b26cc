"""moe-unpack-int4: expand `moe.unpack_int4` into shift/convert sequences.

One 32-bit word holds 8 signed int4 codes.  Two schemes, chosen by the
target (the op's `scheme`), both exact (every int4 code is an fp8 value) and
free of lookup tables:

  f32    nibble p is element p.  Each nibble is sign-extended in place (shift
         left, arithmetic shift right: one bit-field extract), converted to f32
         and packed two at a time by `moe.cvt_pk_fp8` (v_cvt_pk_fp8_f32 on gfx9).
  f16x2  nibbles P and P + 4 are elements 2P and 2P + 1 (the prepared layout
         puts them there).  After flipping the sign bits (code + 8, unsigned),
         one AND/OR builds the f16 pair 1024 + u from bits 4P and 16 + 4P (or
         1024 + 16u for odd P, scaled back by the FMA), one f16x2 subtract
         leaves the codes, and `moe.cvt_f16x2_fp8x2` packs the pair (one
         cvt.rn.satfinite.e4m3x2.f16x2 on sm_90).  14 instructions a word.
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


F16_MAGIC = 0x64006400  # f16 1024.0 in both halves: 1024 + n for a 4-bit n in the mantissa


def _to_fp8_f16x2(e, args, out_type):
    w = e.op(f"arith.xori {args[0]}, {e.c(0x88888888 - (1 << 32))} : i32")  # code + 8 in every nibble
    shifted = e.op(f"arith.shrui {w}, {e.c(8)} : i32")
    halves = []
    for P in range(4):
        src = w if P < 2 else shifted
        mask = 0x000F000F if P % 2 == 0 else 0x00F000F0
        bits = e.op(f"arith.ori {e.op(f'arith.andi {src}, {e.c(mask)} : i32')}, {e.c(F16_MAGIC)} : i32")
        pair = e.op(f"llvm.bitcast {bits} : i32 to vector<2xf16>")
        if P % 2 == 0:   # 1024 + u  ->  u - 8
            val = e.op(f"arith.subf {pair}, {e.op('arith.constant dense<1032.0> : vector<2xf16>')} : vector<2xf16>")
        else:            # 1024 + 16u  ->  (1024 + 16u) / 16 - 72 = u - 8
            scale = e.op("arith.constant dense<0.0625> : vector<2xf16>")
            bias = e.op("arith.constant dense<-72.0> : vector<2xf16>")
            v2 = "vector<2xf16>"
            val = e.op(f"llvm.intr.fma({pair}, {scale}, {bias}) : ({v2}, {v2}, {v2}) -> {v2}")
        halves.append(e.generic("moe.cvt_f16x2_fp8x2", [val], ["vector<2xf16>"], "i16"))
    words = []
    for lo, hi in ((halves[0], halves[1]), (halves[2], halves[3])):
        lo32 = e.op(f"arith.extui {lo} : i16 to i32")
        hi32 = e.op(f"arith.shli {e.op(f'arith.extui {hi} : i16 to i32')}, {e.c(16)} : i32")
        words.append(e.op(f"arith.ori {lo32}, {hi32} : i32"))
    vec = e.op(f"vector.from_elements {words[0]}, {words[1]} : vector<2xi32>")
    return [vec] if out_type == "vector<2xi32>" else [e.op(f"llvm.bitcast {vec} : vector<2xi32> to {out_type}")]


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


SCHEMES = {"f32": _to_fp8, "f16x2": _to_fp8_f16x2}


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
        scheme = op.attributes["scheme"].value if "scheme" in op.attributes else "f32"
        if scheme not in SCHEMES:
            raise DiagnosedError(f"moe.unpack_int4: unknown scheme '{scheme}' (known: {', '.join(SCHEMES)})", op)
        expand(op, lambda e, a, f=SCHEMES[scheme]: f(e, a, out_type))
