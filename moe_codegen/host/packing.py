"""int4 weight preparation: logical [E, N, K] codes -> the byte layout each target's kernel loads.

Each layout is one reshape/permute of the nibble tensor, so packing and unpacking are exact inverses.
Axis names below follow the layout definitions (nb/kb = N/K block, l = lane, b = byte, i = nibble in
the byte: 0 = low half, 1 = high half).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

# gfx942/gfx950 MFMA 16x16x32: [E, N/32, K/64, 2, 64, 8].
# Logical view of q: N = (nb, c16, r2), K = (kb, h2, kq4, j4, i2); one lane l = kq*16 + c reads
# 8 bytes (b = h*4 + j) with one dwordx2 load per K64 step, word h covering K32 group h.
_AMD = dict(
    name="mfma16x16x32_k64", n_blk=32, k_blk=64,
    logical=lambda E, NB, KB: (E, NB, 16, 2, KB, 2, 4, 4, 2),
    perm=(0, 1, 4, 3, 6, 2, 5, 7, 8),          # -> (E, nb, kb, r, kq, c, h, j, i)
    packed=lambda E, NB, KB: (E, NB, KB, 2, 64, 8),
)
# sm_90 mma.m16n8k32 B fragment: [E, N/8, K/128, 32, 16].
# N = (nb, g8), K = (kb, h4, t4, j4, i2); lane l = g*4 + t reads 16 bytes, word h covering K32 group
# h: the 8 consecutive k = h*32 + t*8 + p (p = 2j + i) that the kernel's A operand of lane t holds
# too (MMA k 4t.. and 16+4t.. map to actual k 8t..8t+7).  Element p sits at nibble P = 4i + j of the
# word, so nibbles P and P + 4 (bits 4P and 16 + 4P) are elements 2P and 2P + 1: one masked OR
# makes them an f16 pair, which one cvt turns into two adjacent e4m3 bytes (the f16x2 unpack).
_NV = dict(
    name="mma16x8x32_k128", n_blk=8, k_blk=128,
    logical=lambda E, NB, KB: (E, NB, 8, KB, 4, 4, 4, 2),
    perm=(0, 1, 3, 2, 5, 4, 7, 6),             # -> (E, nb, kb, g, t, h, i, j)
    packed=lambda E, NB, KB: (E, NB, KB, 32, 16),
)
_LAYOUT_BY_TARGET = {"gfx942": _AMD, "gfx950": _AMD, "sm_90": _NV, "sm_90a": _NV}
_LAYOUT_BY_NAME = {l["name"]: l for l in (_AMD, _NV)}


@dataclass(frozen=True)
class PreparedWeights:
    w: torch.Tensor       # uint8, layout-shaped, contiguous
    scale: torch.Tensor   # [E, N] (per row) or [E, K/G, N] (per group), contiguous
    layout: str
    n: int
    k: int
    experts: int
    group_size: int = -1


def _inverse(perm):
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


def prepare_weights(q: torch.Tensor, scale: torch.Tensor, *, target: str, group_size: int) -> PreparedWeights:
    """Pack int4 codes (int8 [E, N, K], values -8..7) two per byte in the target's kernel layout."""
    if target not in _LAYOUT_BY_TARGET:
        raise ValueError(f"unknown target {target!r}; expected one of {sorted(_LAYOUT_BY_TARGET)}")
    L = _LAYOUT_BY_TARGET[target]
    if q.dim() != 3 or q.dtype.is_floating_point or q.dtype == torch.bool:
        raise ValueError(f"q must be an integer tensor [E, N, K], got {q.dtype} {tuple(q.shape)}")
    E, N, K = q.shape
    if N % L["n_blk"]:
        raise ValueError(f"N={N} must be a multiple of {L['n_blk']} for layout {L['name']}")
    if K % L["k_blk"]:
        raise ValueError(f"K={K} must be a multiple of {L['k_blk']} for layout {L['name']}")
    if q.numel() and (q.min() < -8 or q.max() > 7):
        raise ValueError("int4 codes must lie in [-8, 7]")
    if group_size == -1:
        want = (E, N)
    elif group_size > 0 and K % group_size == 0:
        want = (E, K // group_size, N)
    else:
        raise ValueError(f"group_size {group_size} must be -1 or a positive divisor of K={K}")
    if tuple(scale.shape) != want:
        raise ValueError(f"scale shape {tuple(scale.shape)} != {want} for group_size {group_size}")
    NB, KB = N // L["n_blk"], K // L["k_blk"]
    nib = q.to(torch.int8).view(torch.uint8) & 0xF   # two's complement low nibble
    nib = nib.reshape(L["logical"](E, NB, KB)).permute(L["perm"])
    nib = nib.reshape(*nib.shape[:-2], -1, 2)         # consecutive nibbles -> (low, high) of one byte
    w = (nib[..., 0] | (nib[..., 1] << 4)).reshape(L["packed"](E, NB, KB)).contiguous()
    return PreparedWeights(w=w, scale=scale.contiguous(), layout=L["name"], n=N, k=K, experts=E,
                           group_size=group_size)


def unpack_prepared(p: PreparedWeights) -> torch.Tensor:
    """Inverse of prepare_weights: int8 [E, N, K] codes in -8..7."""
    L = _LAYOUT_BY_NAME[p.layout]
    E, NB, KB = p.experts, p.n // L["n_blk"], p.k // L["k_blk"]
    byte = p.w.to(torch.int16)
    nib = torch.stack((byte & 0xF, byte >> 4), dim=-1)
    code = (nib ^ 8) - 8                              # sign-extend the 4-bit value
    permuted_shape = [L["logical"](E, NB, KB)[i] for i in L["perm"]]
    code = code.reshape(permuted_shape).permute(_inverse(L["perm"]))
    return code.reshape(E, p.n, p.k).to(torch.int8)


# fp8 weights (byte per element), same lane order as the int4 layouts with a byte where a nibble was:
# gfx9: [E, N/32, K/64, 2, 64, 16], lane q*16 + c, byte h*8 + j at k = kb*64 + h*32 + q*8 + j
#       (one buffer_load_dwordx4 per MFMA tile per K64 step);
# sm_90: [E, N/8, K/128, 32, 32], lane g*4 + t, byte h*8 + j at k = kb*128 + h*32 + t*8 + j.
_AMD_FP8 = dict(name="mfma16x16x32_k64_fp8", n_blk=32, k_blk=64,
                logical=lambda E, NB, KB: (E, NB, 16, 2, KB, 2, 4, 8),
                perm=(0, 1, 4, 3, 6, 2, 5, 7),              # -> (E, nb, kb, r, q, c, h, j)
                packed=lambda E, NB, KB: (E, NB, KB, 2, 64, 16))
_NV_FP8 = dict(name="mma16x8x32_k128_fp8", n_blk=8, k_blk=128,
               logical=lambda E, NB, KB: (E, NB, 8, KB, 4, 4, 8),
               perm=(0, 1, 3, 2, 5, 4, 6),                 # -> (E, nb, kb, g, t, h, j)
               packed=lambda E, NB, KB: (E, NB, KB, 32, 32))
_FP8_LAYOUT_BY_TARGET = {"gfx942": _AMD_FP8, "gfx950": _AMD_FP8, "sm_90": _NV_FP8, "sm_90a": _NV_FP8}


def prepare_fp8_weights(w: torch.Tensor, scale: torch.Tensor, *, target: str) -> PreparedWeights:
    """fp8 weights [E, N, K] (the target's flavour) with per-row f32 scales [E, N] -> the kernel's byte layout."""
    if target not in _FP8_LAYOUT_BY_TARGET:
        raise ValueError(f"unknown target {target!r}; expected one of {sorted(_FP8_LAYOUT_BY_TARGET)}")
    L = _FP8_LAYOUT_BY_TARGET[target]
    if w.dim() != 3 or w.element_size() != 1 or not w.dtype.is_floating_point:
        raise ValueError(f"w must be an fp8 tensor [E, N, K], got {w.dtype} {tuple(w.shape)}")
    E, N, K = w.shape
    if N % L["n_blk"] or K % L["k_blk"]:
        raise ValueError(f"N={N} and K={K} must be multiples of {L['n_blk']} and {L['k_blk']} for {L['name']}")
    if tuple(scale.shape) != (E, N):
        raise ValueError(f"scale shape {tuple(scale.shape)} != {(E, N)} (fp8 weights are scaled per row)")
    NB, KB = N // L["n_blk"], K // L["k_blk"]
    b = w.contiguous().view(torch.uint8).reshape(L["logical"](E, NB, KB)).permute(L["perm"])
    return PreparedWeights(w=b.reshape(L["packed"](E, NB, KB)).contiguous(), scale=scale.contiguous(),
                           layout=L["name"], n=N, k=K, experts=E, group_size=-1)
