"""Geometry of the prepared weight layouts: where each weight element sits in the bytes a kernel loads.

Pure python (no MLIR, no torch): the kernel builder (moe-to-kernel) and the host packer
(moe_codegen/host/packing.py) both read it, so the two sides cannot drift apart.

A lane of an MMA tile holds, for every K32 step, 8 consecutive k of one weight column:
k = chunk * k_chunk + step * 32 + lane_k(lane) + p, p = 0..7 (the same 8 k its A operand holds).
Those 8 elements are the lane's "step data": 4 bytes of int4, 8 bytes of 8-bit or 16 bytes of
16-bit weights.  Step data is grouped into "pieces" of at most 16 bytes (one load each), and a
piece is stored for all lanes together, so every load of a wave reads one contiguous slab:

  bytes [E, N / block_cols, K / k_chunk, tiles_per_block, pieces, wave, piece_bytes]

with step s of a chunk in piece s // steps_per_piece at byte (s % steps_per_piece) * step_bytes.
Inside a step: 8-bit element p is byte p, 16-bit element p is bytes 2p, 2p + 1 (little endian),
int4 element p is nibble order[p] of the 32-bit little-endian word (nibble P = bits 4P .. 4P + 3).
The nibble order serves the unpack scheme the target uses for the dtype (moe-unpack-int4).  Schemes
that build 16-bit floats from the bits (magic-number pairs) want the code + 8 (offset binary, 0..15);
the others keep two's complement nibbles (sign-extending extracts): Geometry.offset_binary says which.
"""
from __future__ import annotations

from dataclasses import dataclass

MAX_PIECE = 16   # bytes of the widest per-lane load (dwordx4 / ld.global.v4)

# Per target family: lanes per wave, prepared columns per block, MMA tiles per block, K per chunk.
FAMILIES = {
    # MFMA 16x16: lane l holds column l % 16 of its tile, k 8 * (l // 16) ..; a block of 32
    # columns holds two tiles whose columns interleave (tile r, column c -> 2c + r)
    "amdgpu": dict(wave=64, block_cols=32, tiles_per_block=2, k_chunk=64),
    # mma.sync m16n8: lane l = 4g + t holds column g, k 8t ..
    "nvptx": dict(wave=32, block_cols=8, tiles_per_block=1, k_chunk=128),
    # mma.sync with the weights as the 16-row operand (16 columns x 8 tokens per MMA): lane l = 4g + t
    # holds columns 2g and 2g + 1 (MMA rows g and g + 8), k 8t ..; two columns per lane and step
    "nvptx_t": dict(wave=32, block_cols=16, tiles_per_block=1, k_chunk=128, cols_per_lane=2),
}
# layouts chosen by (family, dtype) instead of the family's default
FAMILY_BY_DTYPE = {("nvptx", "int4_fp8"): "nvptx_t", ("nvptx", "int4_bf16"): "nvptx_t"}
FAMILY_OF = {"gfx942": "amdgpu", "gfx950": "amdgpu", "sm_90": "nvptx", "sm_90a": "nvptx"}

# int4 element p of a step -> nibble of the word, per unpack scheme
NIBBLE_ORDERS = {
    "f32": tuple(range(8)),                                  # nibble p is element p
    "pairs": tuple(p // 2 + 4 * (p % 2) for p in range(8)),  # nibbles P, P + 4 are elements 2P, 2P + 1
    "bytes": tuple(2 * (p % 4) + p // 4 for p in range(8)),  # low nibbles: elements 0-3, high: 4-7
}

# int4 unpack scheme by (target family, dtype); its nibble order is fixed by the scheme.  sm_90
# int4_fp8 runs on the f16 MMA (see targets.py) and unpacks to f16 pairs: one masked OR and one
# f16x2 subtract or FMA per pair.
UNPACK_SCHEMES = {
    ("amdgpu", "int4_fp8"): "f32", ("nvptx", "int4_fp8"): "f16",
    ("amdgpu", "int4"): "i8x16", ("nvptx", "int4"): "i8x16",
    ("amdgpu", "int4_bf16"): "bf16_f32", ("nvptx", "int4_bf16"): "bf16x2",
}
# the scheme that gives another MMA element from the same prepared nibbles (sm_90 int4_fp8: f16 pairs
# for the decode kernels' f16 MMA, their e4m3 conversion for the prefill kernel's fp8 wgmma)
SCHEME_FOR_ELEM = {("f16", "fp8"): "f16x2"}


def unpack_scheme(scheme: str, elem: str) -> str:
    """The unpack scheme reading the nibble order of `scheme` that yields MMA element `elem`."""
    return SCHEME_FOR_ELEM.get((scheme, elem), scheme)


OFFSET_BINARY = ("f16x2", "f16", "bf16x2")   # schemes that read code + 8 (saves one XOR per word)
SCHEME_ORDER = {"f32": "f32", "f16x2": "pairs", "f16": "pairs", "i8x16": "bytes", "bf16_f32": "f32",
                "bf16x2": "pairs"}

WEIGHT_BITS = {"int4": 4, "fp8": 8, "i8": 8, "bf16": 16, "f16": 16}


@dataclass(frozen=True)
class Geometry:
    family: str
    wave: int
    block_cols: int
    tiles_per_block: int
    k_chunk: int
    bits: int            # bits per weight element
    scheme: str | None   # int4 unpack scheme, None for weights used as stored
    order: tuple         # int4: nibble of element p (identity otherwise)
    cols_per_lane: int = 1   # weight columns a lane holds per step (their 8 k each, column-major)

    @property
    def steps(self) -> int:
        return self.k_chunk // 32

    @property
    def step_bytes(self) -> int:
        return self.bits * self.cols_per_lane   # 8 elements of `bits` bits per column

    @property
    def steps_per_piece(self) -> int:
        return min(self.steps, MAX_PIECE // self.step_bytes)

    @property
    def pieces(self) -> int:
        return self.steps // self.steps_per_piece

    @property
    def piece_bytes(self) -> int:
        return self.steps_per_piece * self.step_bytes

    @property
    def name(self) -> str:
        return f"{self.family}_b{self.block_cols}_k{self.k_chunk}_w{self.bits}" + (
            f"_{self.scheme}" if self.scheme else "")

    def lane_col(self, lane: int, tile: int, c: int = 0) -> int:
        """Column inside the block held by `lane` in MMA tile `tile` of the block (its c-th column)."""
        if self.family == "amdgpu":
            return 2 * (lane % 16) + tile
        if self.family == "nvptx_t":
            return 2 * (lane // 4) + c
        return lane // 4

    def lane_k(self, lane: int) -> int:
        """First of the lane's 8 consecutive k inside a K32 step."""
        if self.family == "amdgpu":
            return 8 * (lane // 16)
        return 8 * (lane % 4)

    @property
    def offset_binary(self) -> bool:
        """int4 nibbles hold code + 8 (0..15) instead of the two's complement code."""
        return self.scheme in OFFSET_BINARY

    def warp_tile_bytes(self, wave_cols: int, gate_up: int, tile_k: int) -> int:
        """Prepared weight bytes one warp loads per K tile (its columns, gate and up for stage 1)."""
        return (wave_cols // self.block_cols) * self.tiles_per_block * gate_up * (tile_k // self.k_chunk) \
            * self.pieces * self.wave * self.piece_bytes

    def shape(self, experts: int, n: int, k: int) -> tuple:
        return (experts, n // self.block_cols, k // self.k_chunk, self.tiles_per_block, self.pieces, self.wave,
                self.piece_bytes)


def geometry(target: str, weight: str, dtype: str) -> Geometry:
    """Layout of a dtype's weights on a target (`weight` is the DtypeInfo.weight element)."""
    if target not in FAMILY_OF:
        raise ValueError(f"unknown target {target!r}; expected one of {sorted(FAMILY_OF)}")
    if weight not in WEIGHT_BITS:
        raise ValueError(f"unknown weight element {weight!r}; expected one of {sorted(WEIGHT_BITS)}")
    fam = FAMILY_OF[target]
    scheme = UNPACK_SCHEMES.get((fam, dtype)) if weight == "int4" else None
    if weight == "int4" and scheme is None:
        raise ValueError(f"no int4 unpack scheme for {dtype} on {target}")
    order = NIBBLE_ORDERS[SCHEME_ORDER[scheme]] if scheme else tuple(range(8))
    layout = FAMILY_BY_DTYPE.get((fam, dtype), fam)
    return Geometry(layout, bits=WEIGHT_BITS[weight], scheme=scheme, order=order, **FAMILIES[layout])
