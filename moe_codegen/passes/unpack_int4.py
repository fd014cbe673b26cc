"""moe-unpack-int4: expand `moe.unpack_int4` into shift/convert sequences.

One 32-bit word holds 8 signed int4 codes (one lane's 8 k of a K32 step), and
the op yields the MMA's operand data for them: 8 fp8 or int8 bytes, or 8 bf16.
The scheme (op attribute `scheme`, chosen per target and dtype in
moe_codegen/weight_layout.py, which also fixes the nibble order the host
packs) says how.  All are exact and free of lookup tables.

int4 -> fp8 (every int4 code is an fp8 value):

  f32    nibble p is element p.  Each nibble is sign-extended in place (shift
         left, arithmetic shift right: one bit-field extract), converted to f32
         and packed two at a time by `moe.cvt_pk_fp8` (v_cvt_pk_fp8_f32 on gfx9).
  f16x2  nibbles P and P + 4 are elements 2P and 2P + 1, stored as code + 8
         (the prepared layout puts them there, offset binary).  One AND/OR builds the f16 pair 1024 + u from bits 4P and 16 + 4P (or
         1024 + 16u for odd P, scaled back by the FMA), one f16x2 subtract
         leaves the codes, and `moe.cvt_f16x2_fp8x2` packs two pairs into a word
         (two cvt.rn.satfinite.e4m3x2.f16x2 on sm_90).

  f16    (int4 -> f16, for fp8 activations on an f16 MMA) the f16x2 pairs without
         the final convert: one AND/OR and one f16x2 subtract or FMA per pair.

int4 -> int8:
  i8x16  element p < 4 sits in the low nibble of byte p, element 4 + p in its
         high nibble.  (w << 4) & 0xF0F0F0F0 and w & 0xF0F0F0F0 are the two
         operand words, each byte 16 x code as a signed int8: three
         instructions a word.  The i32 MMA sum is exactly 16x too; the kernel
         folds 1/16 into the row's activation scale (exact, a power of two).

int4 -> bf16 (8 bf16, four 32-bit pairs; element 2i, 2i + 1 in pair i):
  bf16_f32  nibble p is element p: sign-extend, convert to f32 and keep the
            upper half (exact: the codes need 4 mantissa bits), two per word.
  bf16x2    nibbles P and P + 4 are elements 2P and 2P + 1, stored as code + 8:
            one AND/OR builds the bf16 pair 128 + u (0x4300 | u), one
            bf16x2 subtract of 136 leaves the codes.  Two or three
            instructions a pair, for targets with packed bf16 arithmetic (sm_90).
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


def _and_or(e, word, mask: int, magic: int):
    """(word & mask) | magic: one instruction (the target lowering keeps magic in a register)."""
    signed = mask - (1 << 32) if mask >= 1 << 31 else mask   # (an i32 attribute)
    return e.generic("moe.and_or", [word, e.c(magic)], ["i32", "i32"], "i32", f"mask = {signed} : i32")


F16_MAGIC = 0x64006400  # f16 1024.0 in both halves: 1024 + n for a 4-bit n in the mantissa


def _f16_pairs(e, word):
    """The four f16 pairs (elements 2P, 2P + 1 at nibbles P, P + 4) of a word of code + 8, exact."""
    w = word
    shifted = e.op(f"arith.shrui {w}, {e.c(8)} : i32")
    pairs = []
    for P in range(4):
        src = w if P < 2 else shifted
        mask = 0x000F000F if P % 2 == 0 else 0x00F000F0
        bits = _and_or(e, src, mask, F16_MAGIC)
        pair = e.op(f"llvm.bitcast {bits} : i32 to vector<2xf16>")
        if P % 2 == 0:   # 1024 + u  ->  u - 8
            val = e.op(f"arith.subf {pair}, {e.op('arith.constant dense<1032.0> : vector<2xf16>')} : vector<2xf16>")
        else:            # 1024 + 16u  ->  (1024 + 16u) / 16 - 72 = u - 8
            scale = e.op("arith.constant dense<0.0625> : vector<2xf16>")
            bias = e.op("arith.constant dense<-72.0> : vector<2xf16>")
            v2 = "vector<2xf16>"
            val = e.op(f"llvm.intr.fma({pair}, {scale}, {bias}) : ({v2}, {v2}, {v2}) -> {v2}")
        pairs.append(val)
    return pairs


def _to_f16(e, args, out_type):
    return [_words(e, [e.op(f"llvm.bitcast {p} : vector<2xf16> to i32") for p in _f16_pairs(e, args[0])],
                   out_type)]


def _to_fp8_f16x2(e, args, out_type):
    p = _f16_pairs(e, args[0])
    words = [e.generic("moe.cvt_f16x2_fp8x2", [p[2 * w], p[2 * w + 1]], ["vector<2xf16>"] * 2, "i32")
             for w in range(2)]
    return [_words(e, words, out_type)]


def _to_fp8(e, args, out_type):
    f = _nibbles_f32(e, args[0])
    words = []
    for w in range(2):
        lo = e.generic("moe.cvt_pk_fp8", [f[4 * w], f[4 * w + 1], e.c(0)], ["f32", "f32", "i32"], "i32",
                       "hi = false")
        words.append(e.generic("moe.cvt_pk_fp8", [f[4 * w + 2], f[4 * w + 3], lo], ["f32", "f32", "i32"],
                               "i32", "hi = true"))
    return [_words(e, words, out_type)]


def _to_i8(e, args, out_type):
    w = args[0]
    lo = e.op(f"arith.andi {e.op(f'arith.shli {w}, {e.c(4)} : i32')}, {e.c(0xF0F0F0F0 - (1 << 32))} : i32")
    hi = e.op(f"arith.andi {w}, {e.c(0xF0F0F0F0 - (1 << 32))} : i32")
    return [_words(e, [lo, hi], out_type)]


def _words(e, words, out_type):
    vt = f"vector<{len(words)}xi32>"
    vec = e.op(f"vector.from_elements {', '.join(words)} : {vt}")
    return vec if out_type == vt else e.op(f"llvm.bitcast {vec} : {vt} to {out_type}")


HI16 = -65536   # 0xFFFF0000 as i32


def _to_bf16_f32(e, args, out_type):
    bits = [e.op(f"arith.bitcast {f} : f32 to i32") for f in _nibbles_f32(e, args[0])]
    pairs = []
    for i in range(4):   # bf16 of an exact f32 is its upper half: (hi & 0xFFFF0000) | (lo >> 16)
        lo = e.op(f"arith.shrui {bits[2 * i]}, {e.c(16)} : i32")
        hi = e.op(f"arith.andi {bits[2 * i + 1]}, {e.c(HI16)} : i32")
        pairs.append(e.op(f"arith.ori {hi}, {lo} : i32"))
    return [_words(e, pairs, out_type)]


BF16_MAGIC = 0x43004300  # bf16 128.0 in both halves: 128 + n for a 4-bit n in the mantissa


def _to_bf16x2(e, args, out_type):
    w = args[0]   # code + 8 in every nibble (offset binary, as the host packs it for this scheme)
    bias = e.op("arith.constant dense<136.0> : vector<2xbf16>")
    pairs = []
    for P in range(4):
        src = w if P == 0 else e.op(f"arith.shrui {w}, {e.c(4 * P)} : i32")
        bits = _and_or(e, src, 0x000F000F, BF16_MAGIC)
        pair = e.op(f"llvm.bitcast {bits} : i32 to vector<2xbf16>")
        val = e.op(f"arith.subf {pair}, {bias} : vector<2xbf16>")     # 128 + u - 136 = code
        pairs.append(e.op(f"llvm.bitcast {val} : vector<2xbf16> to i32"))
    return [_words(e, pairs, out_type)]


# scheme -> (conversion target, builder, result types it can fill)
SCHEMES = {
    "f32": ("fp8", _to_fp8, ("i64", "vector<2xi32>")),
    "f16x2": ("fp8", _to_fp8_f16x2, ("i64", "vector<2xi32>")),
    "f16": ("f16", _to_f16, ("vector<4xi32>",)),
    "i8x16": ("i8", _to_i8, ("i64", "vector<2xi32>")),
    "bf16_f32": ("bf16", _to_bf16_f32, ("vector<4xi32>",)),
    "bf16x2": ("bf16", _to_bf16x2, ("vector<4xi32>",)),
}
DEFAULT_SCHEME = {"fp8": "f32", "i8": "i8x16", "bf16": "bf16_f32", "f16": "f16"}
RESULT_TEXT = {"fp8": "8 bytes (i64 or vector<2xi32>)", "i8": "8 bytes (i64 or vector<2xi32>)",
               "bf16": "8 bf16 (vector<4xi32>)", "f16": "8 f16 (vector<4xi32>)"}


@register("moe-unpack-int4", "Expand moe.unpack_int4 into in-register int4 -> fp8 / int8 / bf16 sequences.")
def run(module) -> None:
    for op in walk_ops(module, "moe.unpack_int4"):
        check(op)
        if str(op.operands[0].type) != "i32":
            raise DiagnosedError(f"moe.unpack_int4 takes one i32 word of 8 codes, got {op.operands[0].type}", op)
        to = str(op.attributes["to"]).strip('"')
        if to not in DEFAULT_SCHEME:
            raise DiagnosedError(f"moe.unpack_int4: unsupported conversion target '{to}' "
                                 f"(supported: {', '.join(DEFAULT_SCHEME)})", op)
        scheme = op.attributes["scheme"].value if "scheme" in op.attributes else DEFAULT_SCHEME[to]
        if scheme not in SCHEMES:
            raise DiagnosedError(f"moe.unpack_int4: unknown scheme '{scheme}' (known: {', '.join(SCHEMES)})", op)
        target, build, results = SCHEMES[scheme]
        if target != to:
            raise DiagnosedError(f"moe.unpack_int4: scheme '{scheme}' converts to {target}, not {to}", op)
        out_type = str(op.results[0].type)
        if out_type not in results:
            raise DiagnosedError(f"moe.unpack_int4 to {to} yields {RESULT_TEXT[to]}, got {out_type}", op)
        expand(op, lambda e, a, f=build: f(e, a, out_type))
