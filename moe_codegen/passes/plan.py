"""moe-plan: choose tile_m / tile_n / tile_k and the wave split; refuse what cannot fit.

The chosen values are written back onto the op as integer attributes, so the
plan is visible in the IR and a later pass reads nothing but the op.
"""
from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

from ..mlir import attr, walk_ops
from ..ops import reduce_spec_from_op, spec_from_op
from ..spec import ACT_BYTES, DTYPES, OUT_BYTES, layer_tile_m
from ..layouts import LAYOUTS
from ..smem_operands import SWIZZLE_ATOM, weight_split
from ..tma import TmaWeightTiles
from ..targets import geometry_of, get_target
from .registry import DiagnosedError, register

MAX_WAVES = 4
MAX_WAVE_COLS = 64
WGMMA_ACC_BUDGET = 96
WGMMA_SS_ACC_BUDGET = 128   # no operand registers at all: the running sums may take half the file
# Target.acc_budget: accumulator registers per lane allowed, so that a kernel
# keeps >= 2 waves per SIMD (gfx9: 512 unified VGPR+AGPR / 2) with room left
# for operands and addresses, and sm_90 stays under 255 registers unspilled.


def live_accumulators(stage, tile_m, tile_n, waves, atom):
    """Running-sum elements a lane holds for its part of the tile."""
    subs = (tile_n // waves) // atom.n * (2 if stage == 1 else 1)
    return tile_m // atom.m * subs * atom.c_elems


def partial_sum_bytes(k_waves, waves, wave_size, live):
    """Shared memory of a block whose warps split K (k_waves): every K slice but the first stores each
    lane's `live` running sums (4 bytes an element) for the first slice to add."""
    return (k_waves - 1) * waves * wave_size * live * 4


def acc_registers(stage, tile_m, tile_n, waves, atom, grouped):
    m_reps = tile_m // atom.m
    live = live_accumulators(stage, tile_m, tile_n, waves, atom)
    if atom.warpgroup:   # one fresh chain at a time (its MMA waits before the scale-add), operands are few
        return live + (0 if atom.smem_a else m_reps * atom.c_elems)
    # A group-wise kernel holds a fresh accumulator per MMA beside the running
    # sum; a per-row kernel holds as many registers of unpacked operands in
    # flight (measured: 272 VGPRs for 128 live accumulators at L, stage 1).
    del grouped
    return 2 * live


# what a tuned-table entry sets, and its value where an older entry does not have the field
# (tma: entries measured before the weights' bulk copies existed used cp.async; raster: set by a block-order
# search of the planned tile, else Target.raster_rows; multicast: off where the search did not choose it;
# tokens_m: the rule's choice where the entry predates it)
TUNED_FIELDS = {"tile_n": None, "tile_k": None, "prefetch": 0, "stages": 0, "waves": None, "wgmma": None,
                "split_k": 1, "k_waves": 1, "trim_m": 0, "tma": 0, "raster": None, "multicast": 0, "tokens_m": None}


def tuned(spec):
    """The tile search's choice for this spec's shape and token bucket ({field: value} of TUNED_FIELDS),
    or None where the table has none."""
    if spec.tokens_hint is None:
        return None
    keys = ("target", "dtype", "group_size", "stage", "model_dim", "inter_dim", "experts", "topk")
    tm = spec.tile_m or layer_tile_m(spec)
    best = None
    for e in _tuned_table():
        if all(e[k] == getattr(spec, k) for k in keys) and e["tile_m"] == tm and e["tokens_max"] >= spec.tokens_hint:
            if best is None or e["tokens_max"] < best["tokens_max"]:
                best = e
    return {k: best.get(k, d) for k, d in TUNED_FIELDS.items()} if best else None


@functools.lru_cache(maxsize=1)
def _tuned_table():
    path = Path(__file__).resolve().parents[1] / "tuned_tiles.json"
    return tuple(json.loads(path.read_text())["entries"]) if path.exists() else ()


def choose(spec):
    if spec.tile_n is None and spec.tile_k is None and (t := tuned(spec)) is not None:
        # the user's fields win over the table's; a K loop the user asked for (prefetch or a ring)
        # replaces the table's rather than joining it
        fields = {k: v if getattr(spec, k) is None else getattr(spec, k) for k, v in t.items()}
        if spec.prefetch and spec.stages is None:
            fields["stages"] = 0
        if spec.stages and spec.prefetch is None:
            fields["prefetch"] = 0
        try:
            plan, notes = choose(dataclasses.replace(spec, **fields))
            return plan, notes + [", ".join(f"{k} {v}" for k, v in t.items()) + " from the tuned table"]
        except ValueError:
            pass  # the table's tile no longer fits (compiler changed): fall back to the rules below
    target = get_target(spec.target)
    atom = target.mma[spec.dtype]
    K, out_n = spec.k_dim, spec.out_n
    esize = ACT_BYTES[DTYPES[spec.dtype].act]

    notes = []

    wg_atom = (target.wgmma or {}).get(spec.dtype)
    tile_m = spec.tile_m or layer_tile_m(spec)
    # a warpgroup MMA takes up to 256 tokens (N); the per-warp kernels hold 128 rows at most
    max_m = 256 if wg_atom is not None and spec.wgmma != 0 and tile_m >= 64 else 128
    if tile_m % atom.m or tile_m > max_m:
        raise ValueError(f"tile_m {tile_m} must be a multiple of {atom.m} and at most {max_m}")
    # prefill: a tile of >= 64 tokens is staged once in shared memory and read by one warpgroup MMA per
    # 64 weight columns, instead of every warp loading every token row itself
    wgmma = spec.wgmma if spec.wgmma is not None else int(wg_atom is not None and tile_m >= 64)
    if wgmma:
        if wg_atom is None:
            raise ValueError(f"wgmma: {target.name} has no warpgroup MMA for {spec.dtype}")
        atom = wg_atom
        if spec.waves is not None and spec.waves % 4:
            raise ValueError(f"wgmma: waves {spec.waves} must be a multiple of 4 (one warpgroup is 4 warps)")
        if atom.smem_a and spec.prefetch:
            raise ValueError("wgmma with both operands in shared memory loads through its ring: prefetch must be 0")
        if spec.prefetch == 3:
            raise ValueError("wgmma stages the tile's activations in shared memory: prefetch 3 (the activations a "
                             "K tile ahead) has nothing to carry; use 1 or 2")
        if atom.smem_a and spec.stages is not None and spec.stages < 3:
            raise ValueError(f"wgmma with both operands in shared memory ({spec.dtype}) fills a ring of K tiles "
                             f"ahead of the MMAs in flight: stages must be 3 or more, got {spec.stages}")

    # columns of one weight block of the MMA layout (16 for the warpgroup kernels: one warp's rows)
    pair = LAYOUTS[atom.layout](atom).block_cols
    step = max(target.k_align, spec.group_size if spec.group_size > 0 else 0)  # one weight load
    if wgmma and atom.smem_a:   # copied 8 k at a time into 128-byte swizzled rows: a K tile may hold
        step = SWIZZLE_ATOM // esize   # part of a chunk of the layout, whole rows of the swizzle
    if spec.tile_k is not None:
        tile_k = spec.tile_k
        if tile_k % step or K % tile_k:
            raise ValueError(f"tile_k {tile_k} must be a multiple of {step} and divide K = {K}")
    else:
        # both operands in shared memory: 128 bytes of K per row and stage (a deep ring fits)
        first = (128 // esize,) if wgmma and atom.smem_a else ()
        tile_k = next((t for t in first + (128, 256, 64) if t % step == 0 and K % t == 0), None)
        if tile_k is None:
            raise ValueError(f"no tile_k in (64, 128, 256) is a multiple of {step} and divides K = {K}")

    # 192-token tiles: three warpgroups of 64 tokens, each the M side of its MMA (a block of 384 threads:
    # at most 168 registers a thread)
    three = bool(wgmma and atom.smem_a and tile_m == 192)
    # the tokens as the MMA's M side (asked for, or 192 tokens): a warpgroup per 64 tokens, every warp over all
    # the columns, which need not split into one 16-column block per warp; N = the tile's weight rows <= 256
    tokens_as_m = bool(spec.tokens_m == 1 and wgmma and atom.smem_a) or three
    if three and spec.tokens_m == 0:
        raise ValueError("tile_m 192 (three warpgroups of 64 tokens) takes the tokens as the MMA's M side only: "
                         "tokens_m 0 refused")
    if spec.waves == 12 and not three:
        raise ValueError("waves 12 (three warpgroups): only the prefill kernel of weights used as stored with "
                         "192-token tiles (tile_m 192)")

    def waves_for(tn):
        if spec.waves is not None:
            return spec.waves
        if tokens_as_m and tile_m in (64, 128, 192):
            return tile_m // 16
        if wgmma and atom.smem_a:   # one 16-column block per warp: one or two warpgroups
            waves = {4 * pair: 4, 8 * pair: 8}.get(tn, 0)
            return waves if waves and weight_split(geometry_of(target, spec.dtype), tn, tile_k, 32 * waves) else 0
        return next((w for w in ((MAX_WAVES,) if wgmma else (MAX_WAVES, 2, 1)) if (tn // pair) % w == 0), 0)

    if spec.waves is not None and spec.tile_n is not None and (spec.tile_n // pair) % spec.waves and not tokens_as_m:
        raise ValueError(f"waves {spec.waves} must divide the {spec.tile_n // pair} column blocks of tile_n "
                         f"{spec.tile_n}")

    grouped = spec.group_size > 0
    # a warpgroup MMA kernel keeps no activations in registers: its accumulators may take more of them
    acc_budget = (WGMMA_SS_ACC_BUDGET if atom.smem_a else WGMMA_ACC_BUDGET) if wgmma else target.acc_budget
    if spec.tile_n is not None:
        tile_n = spec.tile_n
        if tile_n % pair or out_n % tile_n:
            raise ValueError(f"tile_n {tile_n} must be a multiple of {pair} and divide N = {out_n}")
        if not waves_for(tile_n):
            raise ValueError(f"wgmma: tile_n {tile_n} has no split into warpgroups of 16-column warps "
                             f"(4 blocks of {pair} per warpgroup) whose copies this kernel can map")
        regs = acc_registers(spec.stage, tile_m, tile_n, waves_for(tile_n), atom, grouped)
        if regs > acc_budget:
            raise ValueError(
                f"tile {tile_m}x{tile_n} needs {regs} accumulator registers per lane, over the "
                f"budget of {acc_budget} that keeps 2 waves per SIMD on {target.name}; "
                f"use a smaller tile_m or tile_n")
    else:
        tile_n = None
        # a K loop that carries the next tile's loads holds them beside the accumulators: leave room
        budget = acc_budget // 2 if spec.prefetch and not wgmma else acc_budget
        for tn in (256, 128, 64, 32, 16, 8):
            if tn % pair or out_n % tn or (spec.waves and (tn // pair) % spec.waves and not tokens_as_m) or \
                    not waves_for(tn) or (tokens_as_m and tn * (2 if spec.stage == 1 else 1) > 256):
                continue
            regs = acc_registers(spec.stage, tile_m, tn, waves_for(tn), atom, grouped)
            if regs <= budget and tn // waves_for(tn) <= MAX_WAVE_COLS:
                tile_n = tn
                break
            notes.append(f"tile_n {tn} refused ({regs} accumulator registers per lane)")
        if tile_n is None:
            raise ValueError(f"no tile_n (a multiple of {pair} dividing N = {out_n}) fits with tile_m {tile_m}"
                             + (": " + "; ".join(notes) if notes else ""))
    waves = waves_for(tile_n)
    stages = spec.stages or 0
    ss = wgmma and atom.smem_a
    # the weight tiles of the prefill kernel by TMA (moe_codegen/tma.py): one bulk copy per gate / up half
    # and 64 bytes of K, completing on one mbarrier per ring slot (8 bytes each, after the ring)
    tma = spec.tma if spec.tma is not None else int(bool(ss and target.tma))
    if tma:
        if not target.tma:
            raise ValueError(f"tma: {target.name} has no tensor memory accelerator (bulk tensor copies)")
        if not ss:
            raise ValueError("tma: only the prefill kernel of weights used as stored (fp8, bf16, f16 with wgmma: "
                             "both MMA operands in shared memory) loads its weight tiles by TMA")
    if three and not tma:   # (384 threads: the weight copies by cp.async keep no static offsets)
        raise ValueError(f"tile_m 192 (three warpgroups) takes its weight tiles by TMA (tma 1), got tma {tma}; "
                         "tile_m 128 takes either")
    if ss:   # weights and tokens of `stages` K tiles in shared memory; the deepest ring that fits
        gate_up = 2 if spec.stage == 1 else 1
        ring = (tile_n * gate_up + tile_m) * tile_k * esize
        stages = stages or next((st for st in (4, 3) if st * ring <= target.lds_limit), 3)
        t_units, threads = tile_m * tile_k // 8, 32 * waves   # token copies: 8 k each
        # (the weights' bulk copies (TMA) take any tile; every thread's cp.async needs static offsets)
        if not tma and weight_split(geometry_of(target, spec.dtype), tile_n, tile_k, threads) is None:
            raise ValueError(f"wgmma: the weight copies of a {tile_n}x{tile_k} tile do not map onto {threads} threads "
                             "with static offsets (each thread's columns inside one 16-column block)")
        if t_units % threads or threads % (tile_k // 8) or threads // (tile_k // 8) % 8:
            raise ValueError(f"wgmma: the {t_units} token copies of a K tile must divide evenly over {threads} threads, "
                             "each pass covering whole groups of 8 rows")
    # the warpgroup kernel's token slot: 64-byte rows (a K32 step of 16-bit activations, two of 8-bit
    # ones; K tiles are whole rows: tile_k is a multiple of the target's k_align), each row staged as 4
    # units of 16 bytes
    units = 4
    if wgmma and not ss and (tile_m * units) % (32 * waves):
        raise ValueError(f"wgmma: the {tile_m * units} activation pieces of a row step (tile_m {tile_m}) must "
                         f"divide evenly over {32 * waves} threads")
    if stages and not target.async_copy:
        raise ValueError(f"stages {stages}: {target.name} has no asynchronous global -> shared copies; use 0")
    # operands go global -> registers; only staged weights live in shared memory
    lds = stages * waves * geometry_of(target, spec.dtype).warp_tile_bytes(
        tile_n // waves, 2 if spec.stage == 1 else 1, tile_k)
    if ss:
        lds = stages * ring
    elif wgmma:   # two K tiles of activations: one read by the MMAs while the next is written, and the
        # ring's K tiles
        lds += (2 + stages) * tile_m * tile_k * esize
    multicast = spec.multicast or 0
    lds += TmaWeightTiles.barrier_bytes(stages, bool(multicast)) if tma else 0
    if ss and tma and DTYPES[spec.dtype].weight_scaled:   # (the tokens-as-M kernel's weight-row scales)
        lds += tile_n * (2 if spec.stage == 1 else 1) * 4
    if lds > target.lds_limit:
        raise ValueError(f"{stages} stages of tile {tile_m}x{tile_n}x{tile_k} need {lds} bytes of shared memory, "
                         f"over the {target.name} limit of {target.lds_limit}; use fewer stages or a smaller tile")
    split_k = spec.split_k or 1
    if split_k > 1:
        if spec.stage != 2 or spec.mode != "atomic":
            raise ValueError(f"split_k {split_k}: only stage 2 in atomic mode adds partial sums into its output "
                             f"(stage {spec.stage}, mode {spec.mode})")
        if wgmma or stages:
            raise ValueError(f"split_k {split_k}: the per-warp kernel with direct or prefetched loads splits K "
                             "(not the warpgroup-MMA kernel, not a shared-memory ring)")
        if K % (split_k * tile_k):
            raise ValueError(f"split_k {split_k}: K = {K} does not split into whole K tiles of {tile_k}")
    k_waves = spec.k_waves or 1
    if k_waves > 1:
        if wgmma or stages:
            raise ValueError(f"k_waves {k_waves}: the per-warp kernel with direct or prefetched loads splits K over "
                             "its warps (not the warpgroup-MMA kernel, not a shared-memory ring)")
        if not target.warp_k_split:
            raise ValueError(f"k_waves {k_waves}: the shared-memory sum of the K slices is built for sm_90 only "
                             f"(not yet for {target.name})")
        if K % (split_k * k_waves * tile_k):
            raise ValueError(f"k_waves {k_waves}: K = {K} does not split into whole K tiles of {tile_k} "
                             f"over {split_k * k_waves} slices")
        if waves * k_waves > 32:
            raise ValueError(f"k_waves {k_waves}: {waves * k_waves} warps per block, over 32 (1024 threads)")
        lds += partial_sum_bytes(k_waves, waves, target.wave_size,
                                 live_accumulators(spec.stage, tile_m, tile_n, waves, atom))
        if lds > target.lds_limit:
            raise ValueError(f"k_waves {k_waves}: the partial sums need {lds} bytes of shared memory, over the "
                             f"{target.name} limit of {target.lds_limit}")
    trim_m = spec.trim_m or 0
    if trim_m:
        if wgmma:
            raise ValueError("trim_m: the warpgroup-MMA kernel's token tile is the N of one MMA; only the per-warp "
                             "kernels hold several MMA token tiles to trim")
        if tile_m < 2 * atom.m:
            raise ValueError(f"trim_m: tile_m {tile_m} is one MMA token tile of {atom.m} rows ({atom.name}); "
                             f"trimming needs two or more")
    # prefill: groups of Target.raster_rows sorted rows (a few token tiles) walk every column tile before
    # the next group, so the resident blocks share their tokens and weight tiles in L2 (H100 search:
    # docs/perf/raster_h100.md); decode tiles and targets without a measured group keep launch order
    rows = target.raster_rows if tile_m >= 64 else 0
    raster = spec.raster if spec.raster is not None else max(1, rows // tile_m) if rows else 0
    # pairs of blocks (a cluster) share each weight box by TMA multicast: the pair is two token tiles of one
    # column tile, so the grouped order walks pairs (whole ones: an even group)
    if multicast:
        if not (tma and target.clusters):
            raise ValueError(f"multicast {multicast}: only the weights' bulk copies (tma 1) of a target with "
                             f"clusters of blocks multicast (got tma {tma} on {target.name})")
        if raster < 2 or raster % multicast:
            raise ValueError(f"multicast {multicast}: the grouped block order must walk whole pairs of token "
                             f"tiles: raster must be a multiple of {multicast}, got {raster}")
    # stage 2 of the prefill (warpgroup) kernels may add its tile into the output through shared memory,
    # one bulk reduction per row (sm_90: the bulk copy engine), instead of a reduction per lane and column
    # pair; the kernel's shared memory holds the tile once the K loop is done.  H100: the kernel of weights
    # used as stored +10-13% (fp8 / bf16); the int4 ones 4-6% slower (their atomics overlap the other
    # block's loop): on by default for the former only
    bulk_out = spec.bulk_out
    why = bulk_refusal(spec, target, wgmma, multicast, tile_m, tile_n, stages * ring if ss else lds)
    if bulk_out is None:
        bulk_out = int(ss and why is None)
    elif bulk_out and why:
        raise ValueError(f"bulk_out 1: {why}")
    # the tokens as the M side of the warpgroup MMA: one m64nN chain per warpgroup over every weight row of
    # the tile, N = tile_n (x2 gate / up) <= 256, against two or more m64 chains of weight rows over all the
    # tile's tokens; H100, 128-token tiles: bf16 stage 1 9% and stage 2 3% faster, fp8 stage 2 7%, fp8
    # stage 1 4% slower at its old block order and 2% faster at raster 8 with multicast (the tuned table's)
    why = tokens_m_refusal(ss, tma, tile_m, tile_n * (2 if spec.stage == 1 else 1), waves)
    tokens_m = spec.tokens_m
    if tokens_m is None:
        tokens_m = int(why is None)
    elif tokens_m and why:
        raise ValueError(f"tokens_m 1: {why}")
    if three and not tokens_m:
        raise ValueError(f"tile_m 192 (three warpgroups) needs the tokens as the MMA's M side: {why}")
    return dict(tile_m=tile_m, tile_n=tile_n, tile_k=tile_k, waves=waves, prefetch=spec.prefetch or 0,
                stages=stages, wgmma=wgmma, raster=raster, split_k=split_k, k_waves=k_waves, trim_m=trim_m,
                tma=tma, multicast=multicast, bulk_out=bulk_out, tokens_m=tokens_m, smem=lds), notes


def tokens_m_refusal(ss, tma, tile_m, n_rows, waves):
    """Why the tile's tokens cannot be the M side of its warpgroup MMAs (None: they can)."""
    if not (ss and tma):
        return "only the prefill kernel of weights used as stored with its weight tiles by TMA (tma 1)"
    if tile_m != 16 * waves:
        return f"each warpgroup takes 64 tokens: tile_m must be 16 x waves ({16 * waves}), got {tile_m}"
    if n_rows > 256:
        return f"one MMA spans the tile's {n_rows} weight rows (tile_n, x2 gate / up in stage 1): at most 256"
    return None


def bulk_refusal(spec, target, wgmma, multicast, tile_m, tile_n, smem):
    """Why stage 2's tile cannot be added into the output by bulk reductions from shared memory (None: it
    can)."""
    obytes = OUT_BYTES[spec.out_dtype]
    if not (wgmma and target.tma):
        return f"only the warpgroup-MMA kernels of a target with a bulk copy engine ({target.name}: " \
               f"{'none' if not target.tma else 'not the per-warp kernel'})"
    if spec.stage != 2 or spec.mode != "atomic":   # (stage 1's rows by bulk copies: 6% slower, fp8 on the H100)
        return f"only stage 2 in atomic mode adds into its output (stage {spec.stage}, mode {spec.mode})"
    if multicast:
        return "a block sharing its weight boxes (multicast) may still receive its partner's copies"
    if spec.model_dim % 8:
        return f"model_dim {spec.model_dim}: output rows must be 16-byte aligned (a multiple of 8)"
    if tile_m * tile_n * obytes > smem:
        return f"the {tile_m}x{tile_n} tile ({tile_m * tile_n * obytes} bytes) exceeds the kernel's {smem} bytes of " \
               "shared memory"
    return None


REDUCE_BLOCK = 256


@register("moe-plan", "Choose tiles and the wave split for each moe.gemm; refuse tiles that do not fit.")
def run(module) -> None:
    for op in walk_ops(module, "moe.reduce"):
        n = reduce_spec_from_op(op).model_dim
        cols = next(c for c in (8, 4, 2) if n % c == 0) if n % 2 == 0 else None
        if cols is None:
            raise DiagnosedError(f"'moe.reduce' model_dim {n} must be even (rows are read in column pairs)", op)
        op.attributes["cols_per_thread"] = attr(f"{cols} : i64")
        op.attributes["block"] = attr(f"{REDUCE_BLOCK} : i64")
    for op in walk_ops(module, "moe.gemm"):
        spec = spec_from_op(op)
        try:
            plan, _ = choose(spec)
        except ValueError as e:
            raise DiagnosedError(f"'moe.gemm' {e}", op) from None
        for k, v in plan.items():
            op.attributes[k] = attr(f"{v} : i64")
