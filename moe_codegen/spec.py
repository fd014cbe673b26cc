"""Kernel spec and the one table of legal dtype combinations.

Everything that decides whether a combination is supported reads DTYPES and
TARGETS here: spec validation, the verifier pass, the CLI help and the tests.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional

from .errors import MoeCodegenError


@dataclass(frozen=True)
class DtypeInfo:
    name: str
    act: str            # activation element: fp8, i8, bf16, f16
    weight: str         # weight element: int4, fp8, i8, bf16, f16
    group_sizes: tuple  # legal group sizes (-1 = per row; the only value for unscaled weights)
    out_dtypes: tuple
    modes: tuple
    slot_major: bool = False   # stage-1 x is [topk*tokens, K], row slot*tokens + token (int8smooth)

    @property
    def act_scaled(self) -> bool:
        """8-bit activations carry an f32 scale per token (per (token, slot) row in stage 2)."""
        return self.act in ("fp8", "i8")

    @property
    def weight_scaled(self) -> bool:
        return self.weight in ("int4", "fp8", "i8")

    @property
    def int_mma(self) -> bool:
        """i8 x i8 MMA with i32 accumulators, converted to f32 before any scale."""
        return self.act == "i8"


_ALL = (("bf16", "f16", "f32"), ("atomic", "reduce"))
_INT4_GROUPS = (32, 64, 128, -1)

# The supported dtype matrix (SPEC section 2). Only rows listed here compile; the message of a
# refusal lists them.
DTYPES = {d.name: d for d in (
    DtypeInfo("int4_fp8", "fp8", "int4", _INT4_GROUPS, *_ALL),    # W4A_FP8
    DtypeInfo("int4", "i8", "int4", _INT4_GROUPS, *_ALL),         # W4A8
    DtypeInfo("int4_bf16", "bf16", "int4", _INT4_GROUPS, *_ALL),  # W4A16
    DtypeInfo("fp8", "fp8", "fp8", (-1,), *_ALL),
    DtypeInfo("int8", "i8", "i8", (-1,), *_ALL),
    DtypeInfo("int8smooth", "i8", "i8", (-1,), *_ALL, slot_major=True),
    DtypeInfo("bf16", "bf16", "bf16", (-1,), *_ALL),
    DtypeInfo("f16", "f16", "f16", (-1,), *_ALL),
)}

TARGETS = ("gfx942", "gfx950", "sm_90")
STAGES = (1, 2)
OUT_DTYPES = ("f16", "bf16", "f32")
MODES = ("atomic", "reduce")


def supported_summary() -> str:
    rows = []
    for d in DTYPES.values():
        gs = ",".join("row" if g == -1 else str(g) for g in d.group_sizes)
        rows.append(f"{d.name} (group {gs}; out {'/'.join(d.out_dtypes)}; mode {'/'.join(d.modes)})")
    return "; ".join(rows) + f"; targets {', '.join(TARGETS)}"


ACT_BYTES = {"fp8": 1, "i8": 1, "bf16": 2, "f16": 2}   # bytes of one activation element
OUT_BYTES = {"bf16": 2, "f16": 2, "f32": 4}             # bytes of one output element


def default_tile_m(tokens_hint, atom_m: int = 16):
    """tile_m of a layer call by its token count (one tile_m serves both stages: routing is built once).
    Where the MMA takes 8 tokens at a time (weights as the 16-row operand): 8 at <= 8 tokens, at most 32."""
    if tokens_hint is None:
        return 32
    if atom_m == 8 and tokens_hint <= 8:
        return 8
    if atom_m == 8 and tokens_hint > 256:
        return 64   # prefill: the warpgroup MMA kernel stages 64 tokens once for all its warps
    if atom_m == 8 and tokens_hint > 64:
        return 32   # its warps are at least 16 columns wide: 32 rows keep the accumulators in budget
    if tokens_hint <= 64:
        return 16
    if tokens_hint <= 256:
        return 32
    return 64


def layer_tile_m(spec) -> int:
    """tile_m of a layer call by its token count (spec.default_tile_m), except that prefill of weights
    used as stored on a target with a shared-memory warpgroup MMA takes 128 tokens: each weight byte
    read then serves twice the MMA work (the weights, re-read per token tile, bound it at 64); 192 (three
    warpgroups) where an expert averages two such tiles of rows or more (each K tile's bytes from L2 then
    serve 1.3x the MMA work of 128; H100, Kimi shape at 4096 tokens: bf16 +8% / +11%, fp8 +14% / +6%,
    stage 1 / 2)."""
    from .targets import get_target
    target = get_target(spec.target)
    wg = (target.wgmma or {}).get(spec.dtype)
    tm = default_tile_m(spec.tokens_hint, target.mma[spec.dtype].m)
    if wg is not None and wg.smem_a and spec.wgmma != 0 and (spec.tokens_hint or 0) > 256:
        rows_per_expert = spec.tokens_hint * spec.topk / spec.experts
        if rows_per_expert >= 2 * 192:
            return 192
        return 128
    return tm


@dataclass(frozen=True)
class KernelSpec:
    """What to compile: one stage of the fused MoE GEMM."""

    stage: int = 1
    dtype: str = "int4_fp8"
    group_size: int = 32
    out_dtype: str = "bf16"
    mode: str = "atomic"
    target: str = "gfx950"
    model_dim: int = 7168
    inter_dim: int = 2048
    experts: int = 384
    topk: int = 8
    doweight_stage1: bool = False
    tile_m: Optional[int] = None
    tile_n: Optional[int] = None
    tile_k: Optional[int] = None
    # 1: the K loop loads the next K tile's weights, activations and scales while it computes this one
    # (software pipeline); 2: only the weights (the DRAM stream) a tile ahead; 3: only the activations
    # (L1 / L2 hits) a tile ahead, the weights and scales at the top of their own iteration; 0: every load
    # in its tile's iteration; None: the plan decides (tuned table, else off)
    prefetch: Optional[int] = None
    waves: Optional[int] = None   # waves (warps) per block; None: the plan decides (as many as tile_n allows, <= 4)
    # >= 2: weights are staged through a ring of that many K tiles of shared memory with asynchronous
    # copies (bytes in flight independent of registers; targets with async copies); 0: direct loads;
    # None: the plan decides
    stages: Optional[int] = None
    # 1: warpgroup MMA (sm_90a wgmma), the tile's tokens staged once in shared memory for all its warps
    # (prefill); 0: per-warp MMAs with operands in registers; None: the plan decides
    wgmma: Optional[int] = None
    # block order: >= 1 walks groups of this many token tiles, every column tile of a group before the
    # next group, so a group's tokens and its experts' weight tiles are read while they are in L2;
    # 0: launch order (token tiles fastest); None: the plan decides (grouped for prefill tiles)
    raster: Optional[int] = None
    # > 1: stage 2 (atomic mode) splits K over this many blocks per tile, each adding its partial sums
    # into the output (more blocks in flight where a decode layer has few); None: the plan decides
    split_k: Optional[int] = None
    # > 1: the block's warps also split K: k_waves groups of `waves` warps each sum 1/k_waves of the K range
    # of the same columns, the partial sums meet in shared memory before the epilogue (more bytes in flight
    # per block where a decode layer has few blocks; any stage); None: the plan decides
    k_waves: Optional[int] = None
    # 1: decode kernels of several MMA token tiles (tile_m a multiple of the MMA's rows) hold a K loop per
    # count of live token tiles and each block runs the one up to its last real row (an expert with fewer
    # rows than tile_m skips the empty tiles' MMAs and activation loads); 0: every block runs all of
    # them; None: the plan decides (the tuned table's choice, else 0)
    trim_m: Optional[int] = None
    # 1: stage 2 of a prefill (warpgroup-MMA) kernel in atomic mode stages its tile's scaled output in
    # shared memory and adds each row into the output with one bulk reduction (sm_90 bulk copy engine)
    # instead of a reduction per lane and column pair; 0: per-lane reductions; None: the plan decides
    # (on for the kernel of weights used as stored, where it measured faster)
    bulk_out: Optional[int] = None
    # 1: the prefill kernel's weight tiles (both MMA operands in shared memory) arrive by the tensor
    # memory accelerator (sm_90 TMA: one thread's bulk copies per K tile, an mbarrier per ring slot)
    # instead of every thread's cp.async; 0: cp.async; None: the plan decides (TMA where the target has it)
    tma: Optional[int] = None
    # 2: two blocks of one column tile and consecutive token tiles run as a cluster (sm_90); where both
    # tiles belong to one expert, each block's TMA copies half of every weight K tile into the shared
    # memory of both (multicast), halving the weights' L2 reads; 0: each block copies its own; None:
    # the plan decides (the tuned table's choice, else 0)
    multicast: Optional[int] = None
    # 1: the prefill kernel of weights by TMA (both MMA operands in shared memory) gives each warpgroup's MMA
    # its 64 tokens as the M side and every weight row of the tile (gate and up) as N, one m64nN chain per
    # warpgroup; 0: the weight rows as M (64 per chain), the tile's tokens as N; None: the plan decides (the
    # tuned table's choice, else 1 where the tile allows: 64 tokens per warpgroup, N <= 256)
    tokens_m: Optional[int] = None
    tokens_hint: Optional[int] = field(default=None, compare=True)
    # "gemm": the stage's GEMM; "reduce": the small kernel that sums stage 2's per-slot rows over topk
    # (reduce mode), reading `valid_mask` when `masked`
    kernel: str = "gemm"
    masked: bool = False

    def validate(self) -> "KernelSpec":
        if self.stage not in STAGES:
            raise MoeCodegenError(f"stage must be 1 or 2, got {self.stage}")
        if self.dtype not in DTYPES:
            raise MoeCodegenError(f"unsupported dtype '{self.dtype}'; supported: {supported_summary()}")
        info = DTYPES[self.dtype]
        if self.target not in TARGETS:
            raise MoeCodegenError(f"unsupported target '{self.target}'; supported: {', '.join(TARGETS)}")
        if self.group_size not in info.group_sizes:
            raise MoeCodegenError(
                f"group size {self.group_size} not supported for {self.dtype}; supported: {supported_summary()}")
        if self.out_dtype not in info.out_dtypes:
            raise MoeCodegenError(
                f"out dtype '{self.out_dtype}' not supported for {self.dtype}; supported: {supported_summary()}")
        if self.stage == 1 and self.out_dtype == "f32":
            raise MoeCodegenError("stage 1 output is f16 or bf16 (f32 is for stage 2 only)")
        if self.mode not in info.modes:
            raise MoeCodegenError(f"mode '{self.mode}' not supported for {self.dtype}; supported: {supported_summary()}")
        if self.mode == "reduce" and self.out_dtype == "f32":
            raise MoeCodegenError("reduce mode writes 16-bit per-slot rows: out dtype f16 or bf16, not f32")
        if self.kernel not in ("gemm", "reduce"):
            raise MoeCodegenError(f"kernel must be 'gemm' or 'reduce', got '{self.kernel}'")
        if self.kernel == "reduce" and (self.stage != 2 or self.mode != "reduce"):
            raise MoeCodegenError("the reduce kernel belongs to stage 2 in reduce mode")
        if self.masked and self.kernel != "reduce":
            raise MoeCodegenError("valid_mask (masked) is read by the reduce kernel only")
        for name in ("model_dim", "inter_dim", "experts", "topk"):
            if getattr(self, name) <= 0:
                raise MoeCodegenError(f"{name} must be positive, got {getattr(self, name)}")
        if self.topk > self.experts:
            raise MoeCodegenError(f"topk {self.topk} exceeds experts {self.experts}")
        if self.prefetch not in (None, 0, 1, 2, 3):
            raise MoeCodegenError(f"prefetch must be 0, 1 (every load a K tile ahead), 2 (the weights) or 3 "
                                  f"(the activations), got {self.prefetch}")
        if self.stages is not None and (self.stages < 0 or self.stages == 1 or self.stages > 8):
            raise MoeCodegenError(f"stages must be 0 (direct loads) or 2..8, got {self.stages}")
        if self.stages and self.prefetch:
            raise MoeCodegenError("prefetch (registers) and stages (shared memory) are alternatives; pick one")
        if self.wgmma not in (None, 0, 1):
            raise MoeCodegenError(f"wgmma must be 0 or 1, got {self.wgmma}")
        if self.raster is not None and not 0 <= self.raster <= 64:
            raise MoeCodegenError(f"raster must be 0 (launch order) or 1..64 token tiles per group, got {self.raster}")
        if self.split_k is not None and not 1 <= self.split_k <= 16:
            raise MoeCodegenError(f"split_k must be 1 (no split) .. 16, got {self.split_k}")
        if self.k_waves not in (None, 1, 2, 4, 8):
            raise MoeCodegenError(f"k_waves must be 1, 2, 4 or 8, got {self.k_waves}")
        if self.trim_m not in (None, 0, 1):
            raise MoeCodegenError(f"trim_m must be 0 or 1, got {self.trim_m}")
        if self.bulk_out not in (None, 0, 1):
            raise MoeCodegenError(f"bulk_out must be 0 or 1, got {self.bulk_out}")
        if self.tma not in (None, 0, 1):
            raise MoeCodegenError(f"tma must be 0 or 1, got {self.tma}")
        if self.tokens_m not in (None, 0, 1):
            raise MoeCodegenError(f"tokens_m must be 0 or 1, got {self.tokens_m}")
        if self.multicast not in (None, 0, 2):
            raise MoeCodegenError(f"multicast must be 0 (off) or 2 (pairs of blocks), got {self.multicast}")
        if self.waves is not None and self.waves not in (1, 2, 4, 8, 12):
            raise MoeCodegenError(f"waves must be 1, 2, 4, 8 or 12 (three warpgroups), got {self.waves}")
        for name in ("tile_m", "tile_n", "tile_k", "tokens_hint"):
            v = getattr(self, name)
            if v is not None and v <= 0:
                raise MoeCodegenError(f"{name} must be positive, got {v}")
        return self

    @property
    def n_dim(self) -> int:
        """Rows of the stage's weight matrix (gate and up together for stage 1)."""
        return 2 * self.inter_dim if self.stage == 1 else self.model_dim

    @property
    def k_dim(self) -> int:
        return self.model_dim if self.stage == 1 else self.inter_dim

    @property
    def out_n(self) -> int:
        return self.inter_dim if self.stage == 1 else self.model_dim

    def key(self) -> str:
        return ",".join(f"{k}={v}" for k, v in sorted(asdict(self).items()))
