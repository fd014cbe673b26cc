"""Weight preparation: logical [E, N, K] weights -> the bytes each target's kernel loads.

Every layout comes from one description, moe_codegen/weight_layout.py (`geometry(target, weight, dtype)`),
which the kernel builder reads too.  The packer is one gather driven by that geometry:

- The permutation repeats for every (expert, column block, K chunk) tile of block_cols x k_chunk
  elements, so it is computed once per geometry (`_tile_perm`, plain python over the geometry's
  lane_col / lane_k / steps_per_piece / order) as a list: destination slot -> source element of
  the tile.
- A destination slot is (tile, piece, lane, step in piece, position j of the step).  Position j is
  element p = j of the step for 8- and 16-bit weights (byte p, or bytes 2p, 2p + 1 little endian),
  and nibble j of the step's 32-bit word for int4 (element p sits at nibble order[p]).
- Packing gathers "units" (int4: the 4-bit code in a uint8; 8-bit: the byte; 16-bit: the int16)
  into that order and turns them into bytes; unpacking is the inverse gather.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch

from ..spec import DTYPES
from ..weight_layout import Geometry, geometry
from .quant import weight_torch_dtype


@dataclass(frozen=True)
class PreparedWeights:
    w: torch.Tensor              # uint8, shaped Geometry.shape(E, N, K), contiguous
    scale: torch.Tensor | None   # [E, N] (per row) or [E, K/G, N] (per group), contiguous; None if unscaled
    layout: str                  # Geometry.name
    n: int
    k: int
    experts: int
    group_size: int = -1
    dtype: str = "int4_fp8"      # the DTYPES name the bytes were prepared for
    target: str | None = None

    @property
    def geometry(self) -> Geometry:
        return geometry(self.target, DTYPES[self.dtype].weight, self.dtype)


@lru_cache(maxsize=None)
def _tile_perm_list(g: Geometry) -> tuple:
    """Source element (c * k_chunk + kk) of every destination slot of one (column block, K chunk) tile.

    Destination slots in storage order: tile, piece, lane, step in piece, column of the lane, position j.
    """
    inv_order = [0] * 8
    for p, nib in enumerate(g.order):
        inv_order[nib] = p
    out = []
    for tile in range(g.tiles_per_block):
        for piece in range(g.pieces):
            for lane in range(g.wave):
                for sp in range(g.steps_per_piece):
                    step = piece * g.steps_per_piece + sp
                    for cl in range(g.cols_per_lane):
                        c = g.lane_col(lane, tile, cl)
                        for j in range(8):
                            p = inv_order[j] if g.bits == 4 else j
                            out.append(c * g.k_chunk + step * 32 + g.lane_k(lane) + p)
    if sorted(out) != list(range(g.block_cols * g.k_chunk)):
        raise ValueError(f"geometry {g.name} does not place every element of a tile exactly once")
    return tuple(out)


def _tile_perm(g: Geometry, device, inverse: bool = False) -> torch.Tensor:
    perm = torch.tensor(_tile_perm_list(g), dtype=torch.int64)
    if inverse:
        perm = torch.argsort(perm)
    return perm.to(device)


def _check_dims(g: Geometry, N: int, K: int) -> None:
    if N % g.block_cols:
        raise ValueError(f"N={N} must be a multiple of {g.block_cols} for layout {g.name}")
    if K % g.k_chunk:
        raise ValueError(f"K={K} must be a multiple of {g.k_chunk} for layout {g.name}")


def _pack_units(units: torch.Tensor, g: Geometry) -> torch.Tensor:
    """units [E, N, K] (uint8 nibbles / uint8 bytes / int16) -> uint8 tensor of shape g.shape(E, N, K)."""
    E, N, K = units.shape
    NB, KB = N // g.block_cols, K // g.k_chunk
    tiles = units.reshape(E, NB, g.block_cols, KB, g.k_chunk).permute(0, 1, 3, 2, 4)
    tiles = tiles.reshape(E, NB, KB, g.block_cols * g.k_chunk)
    dst = tiles[..., _tile_perm(g, units.device)]                      # storage order, 8 units per step
    if g.bits == 4:
        pairs = dst.reshape(*dst.shape[:-1], -1, 2)                     # nibbles 2b, 2b + 1 -> byte b
        dst = pairs[..., 0] | (pairs[..., 1] << 4)
    elif g.bits == 16:
        dst = dst.contiguous().view(torch.uint8)                        # element p -> bytes 2p, 2p + 1
    return dst.reshape(g.shape(E, N, K)).contiguous()


def _unpack_units(w: torch.Tensor, g: Geometry, E: int, N: int, K: int) -> torch.Tensor:
    """Inverse of _pack_units: uint8 bytes -> units [E, N, K]."""
    NB, KB = N // g.block_cols, K // g.k_chunk
    b = w.reshape(E, NB, KB, -1)
    if g.bits == 4:
        b = torch.stack((b & 0xF, b >> 4), dim=-1).reshape(E, NB, KB, -1)
    elif g.bits == 16:
        b = b.contiguous().view(torch.int16)
    tiles = b[..., _tile_perm(g, w.device, inverse=True)]
    return tiles.reshape(E, NB, KB, g.block_cols, g.k_chunk).permute(0, 1, 3, 2, 4).reshape(E, N, K)


def _dtype_info(dtype: str):
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; expected one of {sorted(DTYPES)}")
    return DTYPES[dtype]


def prepare_weights(q: torch.Tensor, scale: torch.Tensor, *, target: str, group_size: int,
                    dtype: str = "int4_fp8") -> PreparedWeights:
    """Pack int4 codes (int8 [E, N, K], values -8..7) two per byte in the target's kernel layout.

    `dtype` is one of the int4 dtypes (int4_fp8, int4, int4_bf16): it picks the nibble order of the
    target's unpack scheme.  scale: f32 or bf16, [E, N] (group_size -1) or [E, K/G, N].
    """
    info = _dtype_info(dtype)
    if info.weight != "int4":
        raise ValueError(f"prepare_weights packs int4 weights; dtype {dtype!r} has {info.weight} weights "
                         f"(use prepare_dense_weights)")
    g = geometry(target, "int4", dtype)
    if q.dim() != 3 or q.dtype.is_floating_point or q.dtype == torch.bool:
        raise ValueError(f"q must be an integer tensor [E, N, K], got {q.dtype} {tuple(q.shape)}")
    E, N, K = q.shape
    _check_dims(g, N, K)
    if q.numel() and (q.min() < -8 or q.max() > 7):
        raise ValueError("int4 codes must lie in [-8, 7]")
    if group_size == -1:
        want = (E, N)
    elif group_size > 0 and K % group_size == 0:
        want = (E, K // group_size, N)
    else:
        raise ValueError(f"group_size {group_size} must be -1 or a positive divisor of K={K}")
    if not isinstance(scale, torch.Tensor) or tuple(scale.shape) != want:
        got = tuple(scale.shape) if isinstance(scale, torch.Tensor) else scale
        raise ValueError(f"scale shape {got} != {want} for group_size {group_size}")
    if scale.dtype not in (torch.float32, torch.bfloat16):
        raise ValueError(f"int4 scales must be float32 or bfloat16, got {scale.dtype}")
    nib = q.to(torch.int8).view(torch.uint8) & 0xF      # two's complement low nibble
    if g.offset_binary:                                   # code + 8: the scheme builds floats from the bits
        nib = nib ^ 8
    return PreparedWeights(w=_pack_units(nib, g), scale=scale.contiguous(), layout=g.name, n=N, k=K, experts=E,
                           group_size=group_size, dtype=dtype, target=target)


def prepare_dense_weights(w: torch.Tensor, scale: torch.Tensor | None, *, target: str, dtype: str) -> PreparedWeights:
    """8- and 16-bit weights [E, N, K] -> the kernel's byte layout.

    fp8 dtype: w in the target's fp8 flavour, scale f32 [E, N]; int8 / int8smooth: torch.int8, scale
    f32 [E, N]; bf16 / f16: torch.bfloat16 / torch.float16, scale None.
    """
    info = _dtype_info(dtype)
    if info.weight == "int4":
        raise ValueError(f"dtype {dtype!r} has int4 weights: use prepare_weights")
    g = geometry(target, info.weight, dtype)
    want_dt = weight_torch_dtype(info.weight, target)
    if not isinstance(w, torch.Tensor) or w.dim() != 3 or w.dtype != want_dt:
        got = f"{w.dtype} {tuple(w.shape)}" if isinstance(w, torch.Tensor) else type(w).__name__
        raise ValueError(f"w must be a {want_dt} tensor [E, N, K] for dtype {dtype} on {target}, got {got}")
    E, N, K = w.shape
    _check_dims(g, N, K)
    if info.weight_scaled:
        if not isinstance(scale, torch.Tensor) or tuple(scale.shape) != (E, N):
            got = tuple(scale.shape) if isinstance(scale, torch.Tensor) else scale
            raise ValueError(f"scale shape {got} != {(E, N)} ({dtype} weights are scaled per row)")
        if scale.dtype != torch.float32:
            raise ValueError(f"{dtype} weight scales must be float32, got {scale.dtype}")
        scale = scale.contiguous()
    elif scale is not None:
        raise ValueError(f"{dtype} weights have no scale; pass scale=None")
    units = w.contiguous().view(torch.int16 if g.bits == 16 else torch.uint8)
    return PreparedWeights(w=_pack_units(units, g), scale=scale, layout=g.name, n=N, k=K, experts=E,
                           group_size=-1, dtype=dtype, target=target)


def prepare_fp8_weights(w: torch.Tensor, scale: torch.Tensor, *, target: str) -> PreparedWeights:
    """fp8 weights [E, N, K] (the target's flavour) with per-row f32 scales [E, N] -> the kernel's byte layout."""
    return prepare_dense_weights(w, scale, target=target, dtype="fp8")


def prepare_dtype_weights(w: torch.Tensor, scale: torch.Tensor | None, *, target: str, dtype: str,
                          group_size: int = -1) -> PreparedWeights:
    """Either packer, by the dtype's weight element (int4: w are the int8 codes)."""
    if _dtype_info(dtype).weight == "int4":
        return prepare_weights(w, scale, target=target, group_size=group_size, dtype=dtype)
    if group_size != -1:
        raise ValueError(f"{dtype} weights have no groups (group_size -1), got {group_size}")
    return prepare_dense_weights(w, scale, target=target, dtype=dtype)


def unpack_prepared(p: PreparedWeights) -> torch.Tensor:
    """Inverse of the packers: int4 -> int8 [E, N, K] codes in -8..7; others -> the original dtype."""
    g = p.geometry
    if p.layout != g.name:
        raise ValueError(f"prepared layout {p.layout} does not match {g.name} of {p.dtype} on {p.target}")
    units = _unpack_units(p.w, g, p.experts, p.n, p.k)
    weight = DTYPES[p.dtype].weight
    if weight == "int4":
        u = units.to(torch.int16)
        return ((u if g.offset_binary else u ^ 8) - 8).to(torch.int8)   # offset binary / sign-extend
    return units.contiguous().view(weight_torch_dtype(weight, p.target))
