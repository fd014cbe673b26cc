"""Matrix instructions, from the operand layouts of the CDNA3 ISA guide (section "Dependent
Arithmetic Instructions: MFMA", the 16x16xK layouts) and, for the gfx950-only K=32 bf16/f16
forms, the CDNA4 ISA guide (same section; these take 16-byte operands, 8 elements a lane).

All the 16x16xK instructions modelled here share one layout, on one wave of 64 lanes, with
`kl` = K / 4 elements of A and of B per lane:
  A (16xK): lane l holds row i = l % 16, k = kl * (l // 16) + j in element j of its operand.
  B (Kx16): lane l holds column n = l % 16, k = kl * (l // 16) + j in element j.
  C, D (16x16): lane l holds column n = l % 16, rows 4 * (l // 16) + v in its 4 registers v.
  D = A x B + C.

  instruction (ROCDL op)                   A/B operand      kl  elements           C, D
  V_MFMA_F32_16X16X32_FP8_FP8              i64              8   fp8 (chip flavour)  4 x f32
    (rocdl.mfma.f32.16x16x32.fp8.fp8)
  V_MFMA_I32_16X16X32_I8                   i64              8   signed int8         4 x i32
    (rocdl.mfma.i32.16x16x32.i8)
  V_MFMA_F32_16X16X16_BF16                 vector<4xi16>    4   bf16 bits           4 x f32
    (rocdl.mfma.f32.16x16x16bf16.1k)
  V_MFMA_F32_16X16X16_F16                  vector<4xf16>    4   f16                 4 x f32
    (rocdl.mfma.f32.16x16x16f16)
  V_MFMA_F32_16X16X32_BF16 (CDNA4)         vector<8xbf16>   8   bf16                4 x f32
    (rocdl.mfma.f32.16x16x32.bf16)
  V_MFMA_F32_16X16X32_F16 (CDNA4)          vector<8xf16>    8   f16                 4 x f32
    (rocdl.mfma.f32.16x16x32.f16)

Floating-point forms: products and sums in f64, one rounding to f32 at the end (fp8, bf16 and f16
products are exact in f64).  Integer form: products and sums exact, added to C with 32-bit
wrap-around.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from .fp8 import decode

LANES = 64


# -- element decoders: (waves, 64[, n]) operand as the executor holds it -> (waves, 64, kl) values --
def _bytes(x: np.ndarray, width: int) -> np.ndarray:
    """The operand's little-endian bytes, (waves, 64, width)."""
    x = np.ascontiguousarray(x)
    return x.view(np.uint8).reshape(x.shape[0], LANES, width)


def decode_fp8(x, flavour):
    return decode(_bytes(x.astype(np.uint64), 8), flavour).astype(np.float64)


def decode_i8(x, flavour=None):
    return _bytes(x.astype(np.int64), 8).view(np.int8).astype(np.int64)


def decode_bf16_bits(x, flavour=None):
    """i16 elements holding bf16 bit patterns."""
    return (x.astype(np.int16).view(np.uint16).astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def decode_float(x, flavour=None):
    """f16 elements (numpy float16), or bf16 elements (held as the f32 they represent)."""
    return x.astype(np.float64)


@dataclasses.dataclass(frozen=True)
class Mfma:
    k_per_lane: int
    decode: Callable
    integer: bool = False     # i32 accumulator (exact, wraps) instead of f32


MFMA = {
    "rocdl.mfma.f32.16x16x32.fp8.fp8": Mfma(8, decode_fp8),
    "rocdl.mfma.i32.16x16x32.i8": Mfma(8, decode_i8, integer=True),
    "rocdl.mfma.f32.16x16x16bf16.1k": Mfma(4, decode_bf16_bits),
    "rocdl.mfma.f32.16x16x16f16": Mfma(4, decode_float),
    "rocdl.mfma.f32.16x16x32.bf16": Mfma(8, decode_float),
    "rocdl.mfma.f32.16x16x32.f16": Mfma(8, decode_float),
}


def mfma_16x16(av: np.ndarray, bv: np.ndarray, c: np.ndarray, integer: bool = False) -> np.ndarray:
    """The shared 16x16xK layout.  av, bv: (waves, 64, kl) element values (f64, or int64 when
    `integer`); c: (waves, 64, 4) -> D, (waves, 64, 4) f32 (int32 when `integer`)."""
    W, _, kl = av.shape
    dt = np.int64 if integer else np.float64
    lane = np.arange(LANES)
    A = np.zeros((W, 16, 4 * kl), dtype=dt)
    B = np.zeros((W, 4 * kl, 16), dtype=dt)
    for j in range(kl):
        A[:, lane % 16, kl * (lane // 16) + j] = av[:, :, j]
        B[:, kl * (lane // 16) + j, lane % 16] = bv[:, :, j]
    D = np.einsum("wik,wkn->win", A, B)
    out = np.empty((W, LANES, 4), dtype=dt)
    for v in range(4):
        out[:, :, v] = D[:, 4 * (lane // 16) + v, lane % 16]
    if integer:   # |sum| <= 32 * 128 * 128: exact in int64; the add to C wraps at 32 bits
        return (out + c.astype(np.int64)).astype(np.uint64).astype(np.uint32).view(np.int32)
    return (out + c.astype(np.float64)).astype(np.float32)


def run_mfma(name: str, a: np.ndarray, b: np.ndarray, c: np.ndarray, flavour: str | None = None) -> np.ndarray:
    """Instruction `name` on wave-shaped operands as the executor holds them: a, b (waves, 64) for
    i64 operands or (waves, 64, n) for vectors; c (waves, 64, 4)."""
    ins = MFMA[name]
    av, bv = ins.decode(a, flavour), ins.decode(b, flavour)
    if av.shape[-1] != ins.k_per_lane or bv.shape[-1] != ins.k_per_lane:
        raise ValueError(f"{name}: a lane's operand holds {ins.k_per_lane} elements, got {av.shape[-1]}")
    return mfma_16x16(av, bv, c, ins.integer)


def mfma_f32_16x16x32_fp8(a: np.ndarray, b: np.ndarray, c: np.ndarray, flavour: str) -> np.ndarray:
    """a, b: (waves, 64) uint64 operand words; c: (waves, 64, 4) f32 -> (waves, 64, 4) f32."""
    return run_mfma("rocdl.mfma.f32.16x16x32.fp8.fp8", a, b, c, flavour)
