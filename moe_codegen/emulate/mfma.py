"""Matrix instructions, from the CDNA3 ISA guide's operand layouts (section "Dependent Arithmetic
Instructions: MFMA", the 16x16xK layouts with 8-byte operands).

V_MFMA_F32_16X16X32_FP8_FP8 (one wave, 64 lanes):
  A (16x32): lane l holds row i = l % 16, k = 8 * (l // 16) + j in byte j of its 64-bit operand.
  B (32x16): lane l holds column n = l % 16, k = 8 * (l // 16) + j in byte j.
  C, D (16x16 f32): lane l holds column n = l % 16, rows 4 * (l // 16) + v in its 4 registers v.
  D = A x B + C, products and sums in f32 (fp8 inputs are exact in f32).
"""
from __future__ import annotations

import numpy as np

from .fp8 import decode


def mfma_f32_16x16x32_fp8(a: np.ndarray, b: np.ndarray, c: np.ndarray, flavour: str) -> np.ndarray:
    """a, b: (waves, 64) uint64 operand words; c: (waves, 64, 4) f32 -> (waves, 64, 4) f32."""
    W = a.shape[0]
    ab = decode(a.astype(np.uint64).view(np.uint8).reshape(W, 64, 8), flavour).astype(np.float64)
    bb = decode(b.astype(np.uint64).view(np.uint8).reshape(W, 64, 8), flavour).astype(np.float64)
    lane = np.arange(64)
    A = np.zeros((W, 16, 32))
    B = np.zeros((W, 32, 16))
    for j in range(8):
        A[:, lane % 16, 8 * (lane // 16) + j] = ab[:, :, j]
        B[:, 8 * (lane // 16) + j, lane % 16] = bb[:, :, j]
    D = np.einsum("wik,wkn->win", A, B)
    out = np.empty((W, 64, 4), dtype=np.float64)
    for v in range(4):
        out[:, :, v] = D[:, 4 * (lane // 16) + v, lane % 16]
    return (out + c.astype(np.float64)).astype(np.float32)
