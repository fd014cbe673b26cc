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
    elem: str = "fp8"  # operand element: fp8, i8, bf16, f16 (activations of another element are converted)
    # warpgroup MMA (sm_90a wgmma): four warps issue one MMA whose token operand is read from shared
    # memory through a descriptor (the mid-level a operand is that i64 descriptor); its accumulator
    # covers every token of the tile, tile_m / 8 times the per-lane layout's 4 elements
    warpgroup: bool = False
    smem_a: bool = False   # warpgroup MMA whose weight operand is read from shared memory too (a descriptor)


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
    async_copy: bool = False  # per-lane global -> shared copies (cp.async): weights can be staged
    chip: str = ""            # the binary's chip where it is not `name` (sm_90a: wgmma is arch-specific)
    # plan: prefill tiles (tile_m >= 64) walk their blocks in groups of this many sorted rows (moe-plan's
    # raster; 0: launch order), as measured on the target (H100: 256)
    raster_rows: int = 0
    # bulk tensor copies global -> shared completing on an mbarrier (sm_90 TMA): the prefill kernel's
    # weight tiles (moe_codegen/tma.py)
    tma: bool = False
    # blocks launched as clusters that share shared memory and barriers (sm_90 thread block clusters):
    # the prefill kernel's weight boxes multicast to a pair of blocks
    clusters: bool = False
    wgmma: dict = None        # dtype name -> warpgroup MmaAtom of the prefill kernel (tokens staged in shared memory)
    # the per-warp kernel may split K over groups of its warps (k_waves), their sums added in shared memory
    # (built and run on sm_90; AMD not yet: the emulator of its IR has no shared memory)
    warp_k_split: bool = False


def _mfma(name, k, operand, elem, c_type="vector<4xf32>"):
    return MmaAtom(name, 16, 16, k, operand, operand, c_type, 4, "mfma", elem)


def _mma_sync(name, k, elem, c_type="vector<4xf32>"):
    return MmaAtom(name, 16, 8, k, "vector<4xi32>", "vector<2xi32>", c_type, 4, "mma_sync", elem)


# Operand types are containers of the lane's bytes (i64: 8 bytes, vector<4xi32>: 16 bytes);
# the target lowering bitcasts them to what the instruction takes.
MFMA_FP8 = _mfma("mfma_f32_16x16x32_fp8", 32, "i64", "fp8")
MFMA_I8 = _mfma("mfma_i32_16x16x32_i8", 32, "i64", "i8", "vector<4xi32>")
MFMA_BF16_K16 = _mfma("mfma_f32_16x16x16_bf16", 16, "i64", "bf16")      # gfx942: two per K32 step
MFMA_F16_K16 = _mfma("mfma_f32_16x16x16_f16", 16, "i64", "f16")
MFMA_BF16_K32 = _mfma("mfma_f32_16x16x32_bf16", 32, "vector<4xi32>", "bf16")  # gfx950
MFMA_F16_K32 = _mfma("mfma_f32_16x16x32_f16", 32, "vector<4xi32>", "f16")
MMA_E4M3 = _mma_sync("mma_m16n8k32_e4m3", 32, "fp8")
MMA_S8 = _mma_sync("mma_m16n8k32_s8", 32, "i8", "vector<4xi32>")
MMA_BF16 = _mma_sync("mma_m16n8k16_bf16", 16, "bf16")                     # two per K32 step
MMA_F16 = _mma_sync("mma_m16n8k16_f16", 16, "f16")
# the weights as the 16-row operand: 8 tokens x 16 weight columns per MMA (decode)
MMA_F16_T = MmaAtom("mma_m16n8k16_f16_t", 8, 16, 16, "vector<2xi32>", "vector<4xi32>", "vector<4xf32>", 4,
                    "mma_sync_t", "f16")
MMA_BF16_T = MmaAtom("mma_m16n8k16_bf16_t", 8, 16, 16, "vector<2xi32>", "vector<4xi32>", "vector<4xf32>", 4,
                     "mma_sync_t", "bf16")

# the same weights as the A operand of a warpgroup MMA (wgmma m64nNk16, A from registers: each warp's
# fragment is the mma.sync one above), tokens (N = tile_m) from shared memory (prefill)
WGMMA_BF16_T = MmaAtom("wgmma_m64k16_bf16_t", 8, 16, 16, "i64", "vector<4xi32>", "vector<4xf32>", 4,
                       "mma_sync_t", "bf16", warpgroup=True)
# W4A_FP8 on the native fp8 warpgroup MMA (m64nNk32, A from registers): a warp's fragment is the
# m16n8k32 one, a lane's 8 k of each of its two weight columns in one K32 step (one MMA per step)
WGMMA_E4M3_T = MmaAtom("wgmma_m64k32_e4m3_t", 8, 16, 32, "i64", "vector<4xi32>", "vector<4xf32>", 4,
                       "mma_sync_t", "fp8", warpgroup=True)

# weights used as stored (fp8, bf16, f16): both operands from shared memory, the native fp8 wgmma k32
def _wgmma_ss(name, k, elem):
    return MmaAtom(name, 8, 16, k, "i64", "i64", "vector<4xf32>", 4, "mma_sync_t", elem, warpgroup=True, smem_a=True)


WGMMA_E4M3_SS = _wgmma_ss("wgmma_m64k32_e4m3_ss", 32, "fp8")
WGMMA_BF16_SS = _wgmma_ss("wgmma_m64k16_bf16_ss", 16, "bf16")
WGMMA_F16_SS = _wgmma_ss("wgmma_m64k16_f16_ss", 16, "f16")

ATOMS = {a.name: a for a in (MFMA_FP8, MFMA_I8, MFMA_BF16_K16, MFMA_F16_K16, MFMA_BF16_K32, MFMA_F16_K32,
                             MMA_E4M3, MMA_S8, MMA_BF16, MMA_F16, MMA_F16_T, MMA_BF16_T, WGMMA_BF16_T, WGMMA_E4M3_T,
                             WGMMA_E4M3_SS, WGMMA_BF16_SS, WGMMA_F16_SS)}


def _by_act(fp8_atom, i8, bf16, f16, **override):
    """dtype -> atom: the MMA is chosen by the activation element (int4 weights are unpacked to it)."""
    from .spec import DTYPES
    atoms = {name: {"fp8": fp8_atom, "i8": i8, "bf16": bf16, "f16": f16}[d.act] for name, d in DTYPES.items()}
    atoms.update(override)
    return atoms


TARGETS = {
    "gfx942": Target("gfx942", "amdgpu", 64, "f8E4M3FNUZ", 64 * 1024, 512, "mfma16x16x32_k64", 32, 64,
                     _by_act(MFMA_FP8, MFMA_I8, MFMA_BF16_K16, MFMA_F16_K16), "moe-to-flydsl", ".s"),
    "gfx950": Target("gfx950", "amdgpu", 64, "f8E4M3FN", 160 * 1024, 512, "mfma16x16x32_k64", 32, 64,
                     _by_act(MFMA_FP8, MFMA_I8, MFMA_BF16_K32, MFMA_F16_K32), "moe-to-flydsl", ".s"),
    # mma.sync with e4m3 operands on plain sm_90 needs PTX ISA 8.4
    "sm_90": Target("sm_90", "nvptx", 32, "f8E4M3FN", 227 * 1024, 255, "mma16x8x32_k128", 8, 128,
                    # W4A_FP8 on the f16 MMA: sm_90 has no native fp8 mma.sync (SASS of the e4m3 form is
                    # f16 HMMA plus e4m3 -> f16 conversions of both operands at every MMA); int4 codes
                    # and e4m3 activations are exact in f16, so converting A once per K step and
                    # unpacking B straight to f16 gives the same sums with half the instructions.  The
                    # warpgroup MMA has a native e4m3 form (twice the f16 rate), so the prefill kernel
                    # unpacks int4 to fp8 and reads the fp8 tokens as stored
                    _by_act(MMA_E4M3, MMA_S8, MMA_BF16, MMA_F16, int4_fp8=MMA_F16_T, fp8=MMA_F16,
                            int4_bf16=MMA_BF16_T), "moe-to-nvvm", ".ptx",
                    # a warp has half the lanes of a wave: operands of a K tile need twice the
                    # registers per lane; measured spills above this at the M and L shapes
                    acc_budget=96, async_copy=True, chip="sm_90a", raster_rows=256, tma=True, clusters=True,
                    warp_k_split=True,
                    wgmma={"int4_fp8": WGMMA_E4M3_T, "int4_bf16": WGMMA_BF16_T, "fp8": WGMMA_E4M3_SS,
                           "bf16": WGMMA_BF16_SS, "f16": WGMMA_F16_SS}),
}


def geometry_of(target: Target, dtype: str):
    """The prepared weight layout of a dtype on a target (moe_codegen/weight_layout.py)."""
    from .spec import DTYPES
    from .weight_layout import geometry
    return geometry(target.name, DTYPES[dtype].weight, dtype)


def layout_of(target: Target, dtype: str):
    from .layouts import LAYOUTS
    atom = target.mma[dtype]
    return LAYOUTS[atom.layout](atom)


def get_target(name: str) -> Target:
    try:
        return TARGETS[name]
    except KeyError:
        raise MoeCodegenError(f"unknown target '{name}'; known: {', '.join(TARGETS)}") from None
