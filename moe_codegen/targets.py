"""Targets are data: MMA atom, wave size, fp8 flavour, LDS limit, final pipeline.

The target-neutral passes read these fields; only the target lowering pass and
the final pipeline differ in code.
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import MoeCodegenError


@dataclass(frozen=True)
class MmaAtom:
    """One wave-level MMA instruction and the per-lane layout of its operands."""

    name: str          # stable name used in `moe.mma {atom = ...}`
    m: int
    n: int
    k: int
    a_type: str        # MLIR type of the per-lane A operand
    b_type: str
    c_type: str        # per-lane accumulator
    c_elems: int
    layout: str        # key of moe_codegen.layouts.LAYOUTS: the per-lane operand layout


@dataclass(frozen=True)
class Target:
    name: str
    family: str               # "amdgpu" or "nvptx"
    wave_size: int
    fp8_type: str             # MLIR element type of fp8 activations
    lds_limit: int            # bytes per workgroup
    vgpr_limit: int           # registers a lane may use before the target spills
    weight_layout: str        # name of the prepared-weight layout the kernels read
    n_align: int              # weight rows (N) must divide by this (the layout's N block)
    k_align: int              # reduction dim (K) must divide by this (the layout's K block)
    mma: dict                 # dtype name -> MmaAtom
    lowering_pass: str        # the one target-specific pass
    isa_suffix: str           # file suffix of the assembly
    acc_budget: int = 160     # plan: estimated accumulator registers per lane allowed (see moe-plan)
    fp8_unpack: str = "f32"   # int4 -> fp8 scheme of moe-unpack-int4: via f32 pairs, or via f16 pairs


MFMA_F32_16x16x32_FP8 = MmaAtom("mfma_f32_16x16x32_fp8", 16, 16, 32, "i64", "i64", "vector<4xf32>", 4, "mfma")
MMA_M16N8K32_E4M3 = MmaAtom("mma_m16n8k32_e4m3", 16, 8, 32, "vector<4xi32>", "vector<2xi32>", "vector<4xf32>", 4,
                            "mma_sync")

TARGETS = {
    "gfx942": Target("gfx942", "amdgpu", 64, "f8E4M3FNUZ", 64 * 1024, 512, "mfma16x16x32_k64", 32, 64,
                     {"int4_fp8": MFMA_F32_16x16x32_FP8, "fp8": MFMA_F32_16x16x32_FP8}, "moe-to-flydsl", ".s"),
    "gfx950": Target("gfx950", "amdgpu", 64, "f8E4M3FN", 160 * 1024, 512, "mfma16x16x32_k64", 32, 64,
                     {"int4_fp8": MFMA_F32_16x16x32_FP8, "fp8": MFMA_F32_16x16x32_FP8}, "moe-to-flydsl", ".s"),
    # mma.sync with e4m3 operands on plain sm_90 needs PTX ISA 8.4
    "sm_90": Target("sm_90", "nvptx", 32, "f8E4M3FN", 227 * 1024, 255, "mma16x8x32_k128", 8, 128,
                    {"int4_fp8": MMA_M16N8K32_E4M3, "fp8": MMA_M16N8K32_E4M3}, "moe-to-nvvm", ".ptx",
                    # a warp has half the lanes of a wave: operands of a K tile need twice the
                    # registers per lane; measured spills above this at the M and L shapes
                    acc_budget=96,
                    # one masked OR per f16 pair and a paired f16 -> e4m3 convert: about half the
                    # instructions of the f32 route, which bounded decode (ncu: SM 74% busy at 37% DRAM)
                    fp8_unpack="f16x2"),
}


def layout_of(target: Target, dtype: str):
    from .layouts import LAYOUTS
    atom = target.mma[dtype]
    return LAYOUTS[atom.layout](atom)


def get_target(name: str) -> Target:
    try:
        return TARGETS[name]
    except KeyError:
        raise MoeCodegenError(f"unknown target '{name}'; known: {', '.join(TARGETS)}") from None
