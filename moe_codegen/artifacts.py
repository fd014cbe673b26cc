"""Ahead-of-time artifacts: compile a suite of specs here, run them on a GPU machine without MLIR.

Layout of an artifact folder:
  DIR/index.json                    list of entries: spec fields + the kernel folder
  DIR/<kernel-id>/kernel.cubin      (sm_90) the loadable binary
  DIR/<kernel-id>/meta.json         kernel name, argument order, block size, grid rule, tiles, spec
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from dataclasses import asdict
from pathlib import Path

from .errors import MoeCodegenError
from .smem_operands import SWIZZLE_ATOM
from .spec import ACT_BYTES, DTYPES, KernelSpec, layer_tile_m
from .targets import get_target

# tokens, model_dim, inter_dim, experts, topk (SPEC section 5)
SHAPES = {
    "S": (64, 256, 128, 4, 2),
    "M": (129, 1024, 256, 8, 2),
    "L": (333, 4096, 2048, 17, 9),
    "DSV3_decode1": (1, 7168, 256, 256, 8),
}


# (shape, dtype, split_k, prefetch) of the runtime tests' stage-2 K splits over blocks
SPLIT_K_CASES = (("M", "int4_fp8", 2, 0), ("M", "int4_bf16", 2, 0), ("L", "int4_fp8", 4, 1), ("M", "fp8", 2, 1),
                 ("M", "bf16", 2, 0), ("L", "int4_bf16", 4, 2))
# (shape, dtype, stage, k_waves, split_k (0: none), prefetch) of the runtime tests' K splits over warps
K_WAVES_CASES = (("M", "int4_fp8", 1, 2, 0, 1), ("L", "int4_fp8", 2, 4, 2, 1), ("L", "int4_bf16", 1, 2, 0, 2),
                 ("L", "int4_bf16", 2, 4, 0, 1), ("M", "fp8", 1, 4, 0, 1), ("L", "bf16", 2, 2, 2, 2),
                 ("M", "int4_fp8", 2, 2, 0, 2), ("DSV3_decode1", "int4_fp8", 1, 4, 0, 1),
                 ("DSV3_decode1", "int4_bf16", 2, 2, 0, 1))

# (shape, dtype, stage, tile_m, prefetch, stages, split_k (0: none), k_waves (0: none)) of the runtime tests'
# trimmed token tiles (trim_m): M's experts end in tiles of 1 .. tile_m rows (live MMA token tiles 1 .. 2 or 4)
TRIM_CASES = (("M", "int4_fp8", 1, 16, 1, 0, 0, 0), ("M", "int4_fp8", 2, 16, 0, 0, 2, 0),
              ("L", "int4_bf16", 1, 16, 2, 0, 0, 0), ("M", "int4_bf16", 2, 32, 1, 0, 0, 0),
              ("DSV3_decode1", "int4_fp8", 2, 16, 1, 0, 0, 0), ("M", "int4", 1, 32, 0, 0, 0, 0),
              ("M", "fp8", 2, 32, 1, 0, 0, 0), ("M", "int4_bf16", 1, 16, 1, 0, 0, 2),
              ("M", "int4_bf16", 2, 16, 0, 2, 0, 0))

# (shape, dtype, out dtype, bulk_out) of the runtime tests' stage-2 prefill outputs added by bulk reductions
# from shared memory (1) or by per-lane reductions (0), against the plan's choice for the dtype
BULK_CASES = (("M", "fp8", "bf16", 0), ("M", "bf16", "bf16", 0), ("M", "fp8", "f32", 1), ("S", "bf16", "f16", 1),
              ("M", "int4_fp8", "bf16", 1), ("M", "int4_bf16", "bf16", 1))


def runtime_suite(target: str):
    specs = []
    for name, (tokens, md, inter, e, k) in SHAPES.items():
        for stage in (1, 2):
            specs.append((name, KernelSpec(stage=stage, dtype="int4_fp8", group_size=32, out_dtype="bf16",
                                           mode="atomic", target=target, model_dim=md, inter_dim=inter,
                                           experts=e, topk=k, tokens_hint=tokens)))
    t, md, inter, e, k = SHAPES["S"]
    for stage, out in ((1, "f16"), (2, "f16"), (2, "f32")):
        specs.append(("S", KernelSpec(stage=stage, dtype="int4_fp8", group_size=32, out_dtype=out, mode="atomic",
                                      target=target, model_dim=md, inter_dim=inter, experts=e, topk=k,
                                      tokens_hint=t)))
    reduce_mode = dict(stage=2, dtype="int4_fp8", group_size=32, out_dtype="bf16", mode="reduce", target=target,
                       model_dim=md, inter_dim=inter, experts=e, topk=k, tokens_hint=t)
    specs.append(("S", KernelSpec(**reduce_mode)))
    for stage in (1, 2):
        specs.append(("S", KernelSpec(stage=stage, dtype="int4_fp8", group_size=32, out_dtype="bf16", mode="atomic",
                                      target=target, model_dim=md, inter_dim=inter, experts=e, topk=k,
                                      tokens_hint=t, doweight_stage1=True)))
    for masked in (False, True):
        specs.append(("S", KernelSpec(**reduce_mode, kernel="reduce", masked=masked)))
    for dtype, info in DTYPES.items():   # every dtype on S and M; the int4 ones also on L and decode
        if dtype == "int4_fp8":
            continue
        group = 32 if info.weight == "int4" else -1
        shapes = list(SHAPES) if info.weight == "int4" else ["S", "M"]
        for name in shapes:
            tokens, md2, inter2, e2, k2 = SHAPES[name]
            for stage in (1, 2):
                specs.append((name, KernelSpec(stage=stage, dtype=dtype, group_size=group, out_dtype="bf16",
                                               mode="atomic", target=target, model_dim=md2, inter_dim=inter2,
                                               experts=e2, topk=k2, tokens_hint=tokens)))
    # software-pipelined K loops: every load one K tile ahead (prefetch 1), only the weights (2) or only
    # the activations (3), or weights staged through a shared-memory ring (stages; targets with async
    # copies)
    # (prefetch carries a tile's loads in registers: the decode tile_m, K spanning several tiles)
    pipelined = [("S", 1, 0), ("M", 1, 0), ("L", 1, 0), ("S", 2, 0), ("L", 2, 0), ("S", 3, 0), ("M", 3, 0)]
    if get_target(target).async_copy:
        pipelined += [("S", 0, 2), ("S", 0, 3), ("M", 0, 4), ("L", 0, 3)]
    for name, prefetch, stages in pipelined:
        tokens, md2, inter2, e2, k2 = SHAPES[name]
        for dtype in ("int4_fp8", "int4_bf16", "fp8"):
            for stage in (1, 2):
                specs.append((name, KernelSpec(stage=stage, dtype=dtype, group_size=32 if dtype != "fp8" else -1,
                                               out_dtype="bf16", mode="atomic", target=target, model_dim=md2,
                                               inter_dim=inter2, experts=e2, topk=k2, tokens_hint=tokens,
                                               prefetch=prefetch, stages=stages,
                                               # (a staged ring is the mma.sync kernel's: L's
                                               # tokens would pick the prefill kernel's 64)
                                               tile_m=16 if prefetch else 32 if name == "L" else None)))
    def case(name, dtype, stage, **tiles):
        """A bf16-output atomic-mode kernel of shape `name` (group 32 for int4 weights, else per row)."""
        tokens, md2, inter2, e2, k2 = SHAPES[name]
        return (name, KernelSpec(stage=stage, dtype=dtype, group_size=32 if DTYPES[dtype].weight == "int4" else -1,
                                 out_dtype="bf16", mode="atomic", target=target, model_dim=md2, inter_dim=inter2,
                                 experts=e2, topk=k2, tokens_hint=tokens, tile_k=128, **tiles))
    # stage 2 with K split over 2 / 4 blocks (partial sums added by the atomics), direct and prefetched loads
    for name, dtype, split, prefetch in SPLIT_K_CASES:
        specs.append(case(name, dtype, 2, tile_m=16, prefetch=prefetch, split_k=split))
    # K split over groups of the block's warps too (k_waves; their sums added in shared memory), either
    # stage, with K splits over blocks, direct and prefetched loads
    for name, dtype, stage, kw, split, prefetch in K_WAVES_CASES:
        specs.append(case(name, dtype, stage, tile_m=16, tile_n=32, waves=2, prefetch=prefetch,
                          split_k=split or None, k_waves=kw))
    # a block runs only the MMA token tiles up to its last real row (trim_m), every kind of K loop
    for name, dtype, stage, tm, prefetch, stages, split, kw in TRIM_CASES:
        specs.append(case(name, dtype, stage, tile_m=tm, prefetch=prefetch, stages=stages or None,
                          split_k=split or None, k_waves=kw or None, trim_m=1,
                          **({"tile_n": 32, "waves": 2} if kw else {})))
    if get_target(target).tma:   # stage 2 of the prefill kernels, output by bulk reductions or per lane
        for name, dtype, out, bulk in BULK_CASES:
            shape, spec = case(name, dtype, 2, tile_m=64, wgmma=1, bulk_out=bulk)
            specs.append((shape, dataclasses.replace(spec, out_dtype=out, tile_k=None)))
    # the prefill kernel (warpgroup MMA, tokens staged in shared memory; L picks it by itself): forced on
    # the small shapes too, with other group sizes, per-row scales, two warpgroups, prefetched weights
    # and a cp.async ring of weights and activations (S: K shorter than the ring)
    for dtype in [d for d in get_target(target).wgmma or {} if DTYPES[d].weight == "int4"]:
        for name, group, extra in (("S", 32, {}), ("M", 128, {}), ("M", -1, {}), ("S", 32, {"waves": 8}),
                                   ("M", 32, {"prefetch": 1}), ("M", 32, {"prefetch": 2}),
                                   ("S", 32, {"stages": 2}), ("M", 32, {"stages": 3}),
                                   ("M", -1, {"stages": 4}), ("M", 32, {"raster": 3})):
            tokens, md2, inter2, e2, k2 = SHAPES[name]
            for stage in (1, 2):
                specs.append((name, KernelSpec(stage=stage, dtype=dtype, group_size=group, out_dtype="bf16",
                                               mode="atomic", target=target, model_dim=md2, inter_dim=inter2,
                                               experts=e2, topk=k2, tokens_hint=tokens, tile_m=64, wgmma=1,
                                               # (wider tiles spill where K is one tile: S stage 2)
                                               tile_n=64 * extra.get("waves", 4) // 4, **extra)))
    # the prefill kernel of weights used as stored: both MMA operands in shared memory, a ring of K
    # tiles (weights by TMA where the target has it, tokens by cp.async; tma 0: weights by cp.async too;
    # S: K shorter than the ring)
    for dtype in [d for d in get_target(target).wgmma or {} if DTYPES[d].weight != "int4"]:
        for name, extra in (("S", {}), ("M", {}), ("M", {"waves": 8, "tile_k": 128}), ("S", {"stages": 3}),
                            ("M", {"tile_k": 64, "stages": 4}), ("M", {"waves": 8, "tile_k": 64, "stages": 4}),
                            ("M", {"raster": 3}), ("M", {"tma": 0}), ("S", {"tma": 0, "stages": 3}),
                            ("M", {"waves": 8, "tile_k": 256, "stages": 3}), ("M", {"tile_n": 128}),
                            # the tokens as the MMA's N side where M is the default (tokens_m), and as M over
                            # a tile whose default is N (tile_n 128 on one warpgroup: 256 gate / up rows)
                            ("M", {"tokens_m": 0}), ("S", {"tokens_m": 0, "stages": 3}),
                            ("M", {"tile_n": 128, "waves": 4, "tokens_m": 1})):
            tokens, md2, inter2, e2, k2 = SHAPES[name]
            if "tile_k" in extra and extra["tile_k"] * ACT_BYTES[DTYPES[dtype].act] < SWIZZLE_ATOM:
                continue   # (8-bit weights: K tiles of whole 128-byte swizzled rows)
            # (two warpgroups of 16-bit gate + up tiles of K 128 would need more than the shared memory;
            # K tiles of 256: fp8 stage 2 only, a tile whose weight pieces map onto no thread split: TMA)
            if extra.get("tile_k") == 256 and DTYPES[dtype].act != "fp8":
                continue
            big = "waves" in extra and extra.get("tile_k", 0) * ACT_BYTES[DTYPES[dtype].act] >= 256
            for stage in (2,) if big else (1, 2):
                specs.append((name, KernelSpec(stage=stage, dtype=dtype, group_size=-1, out_dtype="bf16",
                                               mode="atomic", target=target, model_dim=md2, inter_dim=inter2,
                                               experts=e2, topk=k2, tokens_hint=tokens, tile_m=64, wgmma=1,
                                               **{"tile_n": 64 * extra.get("waves", 4) // 4, **extra})))
        # 128-token tiles of two warpgroups, each its 64 tokens as the MMA's M side, and as its N side; as M
        # with tile_n 64 too (columns that do not split into a 16-column block per warp)
        for tokens_m, tn in ((None, 128), (0, 128), (1, 64)):
            tokens, md2, inter2, e2, k2 = SHAPES["L"]
            for stage in (1, 2):
                specs.append(("L", KernelSpec(stage=stage, dtype=dtype, group_size=-1, out_dtype="bf16",
                                              mode="atomic", target=target, model_dim=md2, inter_dim=inter2,
                                              experts=e2, topk=k2, tokens_hint=tokens, tile_m=128, wgmma=1, waves=8,
                                              tile_n=tn, tile_k=128 // ACT_BYTES[DTYPES[dtype].act],
                                              tokens_m=tokens_m)))
        # 192-token tiles of three warpgroups, each its 64 tokens as M; L's experts hold 1-2 such tiles; pairs
        # of blocks sharing their weight boxes too
        for extra in ({}, {"multicast": 2, "raster": 2}):
            tokens, md2, inter2, e2, k2 = SHAPES["L"]
            for stage in (1, 2):
                specs.append(("L", KernelSpec(stage=stage, dtype=dtype, group_size=-1, out_dtype="bf16",
                                              mode="atomic", target=target, model_dim=md2, inter_dim=inter2,
                                              experts=e2, topk=k2, tokens_hint=tokens, tile_m=192, wgmma=1, **extra)))
        if get_target(target).clusters:   # weight boxes multicast to pairs of blocks: L's experts hold 2-4
            # token tiles (pairs inside one expert and across two), M routed onto one expert by the test
            for name, extra in (("L", {}), ("L", {"waves": 8}), ("M", {"raster": 2})):
                tokens, md2, inter2, e2, k2 = SHAPES[name]
                for stage in (1, 2):
                    specs.append((name, KernelSpec(stage=stage, dtype=dtype, group_size=-1, out_dtype="bf16",
                                                   mode="atomic", target=target, model_dim=md2, inter_dim=inter2,
                                                   experts=e2, topk=k2, tokens_hint=tokens, tile_m=64, wgmma=1,
                                                   tma=1, multicast=2,
                                                   **{"tile_n": 64 * extra.get("waves", 4) // 4, **extra})))
    return specs


# benchmark cases (issue: decode and prefill at the Kimi-K2-like shape on one GPU, DeepSeek-V3 TP8 decode)
BENCH_SHAPES = {
    "kimi_e64": ((1, 8, 64, 4096), 7168, 2048, 64, 8),
    "dsv3_tp8": ((1, 8), 7168, 256, 256, 8),
}


BENCH_DTYPES = {"int4_fp8": 32, "int4_bf16": 32, "fp8": -1, "bf16": -1}   # dtype -> group size (-1: per row)


def bench_tile_m(target: str, name: str, dtype: str, tokens: int) -> int:
    """The layer's token tile (spec.layer_tile_m) of benchmark case `name` at `tokens` tokens."""
    _, md, inter, e, k = BENCH_SHAPES[name]
    return layer_tile_m(KernelSpec(dtype=dtype, target=target, tokens_hint=tokens, model_dim=md, inter_dim=inter,
                                   experts=e, topk=k))


def bench_suite(target: str):
    """One kernel per case, dtype and token count, tiles as the plan picks them (tuned table included)."""
    specs = []
    for name, (token_list, md, inter, e, k) in BENCH_SHAPES.items():
        for dtype, group in BENCH_DTYPES.items():
            for tokens in token_list:
                for stage in (1, 2):
                    specs.append((name, KernelSpec(stage=stage, dtype=dtype, group_size=group, out_dtype="bf16",
                                                   mode="atomic", target=target, model_dim=md, inter_dim=inter,
                                                   experts=e, topk=k, tokens_hint=tokens)))
    return specs


TILE_DTYPES = {"int4_fp8": 32, "int4_bf16": 32, "fp8": -1, "bf16": -1}
DECODE_TILE_DTYPES = ("int4_fp8", "int4_bf16", "fp8", "bf16")


def _tile_variants(target, dtype, tm):
    """(tile_n, tile_k, waves, prefetch, stages, tma) to try for one dtype and tile_m."""
    t = get_target(target)
    wg = (t.wgmma or {}).get(dtype) if tm >= 64 else None
    if wg is None:   # per-warp kernels (1 wave per block never won on the H100)
        return [(tn, tk, w, pf, 0, None) for tn in (16, 32, 64, 128, 256) for tk in (128, 256, 512) for w in (2, 4)
                for pf in (0, 1, 2, 3)]
    if wg.smem_a:    # both operands through the ring: its depth, K tiles of half a prepared chunk too, the
        # weights by cp.async or (where the target has it) TMA; 192-token tiles: three warpgroups
        return [(tn, tk, w, 0, st, tma) for tn in (64, 128, 256) for tk in (64, 128, 256)
                for w in ((12,) if tm == 192 else (4, 8)) for st in (3, 4, 6) for tma in ((0, 1) if t.tma else (0,))]
    # weights in registers: loaded directly, a K tile ahead, or through the ring with the tokens
    return [(tn, tk, w, pf, st, None) for tn in (64, 128, 256) for tk in (128, 256) for w in (4, 8)
            for pf, st in ((0, 0), (1, 0), (2, 0), (0, 2), (0, 3), (0, 4))]


FINALISTS = 4   # per case and earlier search: the variants a final search (finalists=) times again


def finalist_variants(results) -> set:
    """(shape, dtype, stage, tile_m, tile_n, tile_k, waves, prefetch, stages, split_k, tma, k_waves, trim_m, tokens_m) of
    the FINALISTS fastest correct variants of each case in any of these search results (bench.json rows)."""
    keep, cases = set(), {}
    for i, res in enumerate(results):
        for r in res["rows"]:
            if r["ok"]:
                cases.setdefault((i, r["shape"], r["dtype"], r["tokens"], r["stage"]), []).append(r)
    for rows in cases.values():
        for r in sorted(rows, key=lambda r: r["us"])[:FINALISTS]:
            keep.add((r["shape"], r["dtype"].rsplit("_", 1)[0], r["stage"], r["tile_m"], r["tile_n"], r["tile_k"],
                      r["waves"], r["prefetch"], r["stages"], r.get("split_k", 1), r.get("tma", 0), r.get("k_waves", 1),
                      r.get("trim_m", 0), r.get("tokens_m", 0)))
    return keep


def best_tiles(rows):
    """The fastest correct row per case; where a case's fastest were re-timed (refine), only those compete."""
    retimed = {(r["shape"], r["dtype"], r["tokens"], r["stage"]) for r in rows if "runs_us" in r}
    best = {}
    for r in rows:
        key = (r["shape"], r["dtype"], r["tokens"], r["stage"])
        if key in retimed and "runs_us" not in r:
            continue
        if r["ok"] and (key not in best or r["us"] < best[key]["us"]):
            best[key] = r
    return [dict(shape=k[0], dtype=k[1], tokens=k[2], stage=k[3], tile_m=v["tile_m"], tile_n=v["tile_n"],
                 tile_k=v["tile_k"], waves=v["waves"], prefetch=v["prefetch"], stages=v["stages"], wgmma=v["wgmma"],
                 split_k=v.get("split_k", 1), k_waves=v.get("k_waves", 1), trim_m=v.get("trim_m", 0),
                 tma=v.get("tma", 0),
                 raster=v.get("raster", 0),
                 multicast=v.get("multicast", 0), tokens_m=v.get("tokens_m", 0),
                 us=v["us"], bw_frac=v["bw_frac"], mma_frac=v["mma_frac"])
            for k, v in sorted(best.items())]


def tiles_suite(target: str, dtypes=None, tokens=None, finalists=None):
    """Legal tile variants of the decode cases (and of the prefill case where the target has a wgmma
    kernel for the dtype) for the tile search (benchmarks/bench_sm90.py --sweep): tile_n, tile_k, waves
    per block, and how the K loop gets its tiles (directly, one K tile ahead in registers, or a ring of
    shared memory).  (The per-warp kernels' weight ring lost to both others on every decode case of an
    earlier search on the H100: it is left out of their variants.)  Illegal variants are skipped when
    built.  With `finalists` (finalist_variants of earlier searches) only those: one device call times
    them again side by side (bench_sm90.py --sweep --refine)."""
    specs = []
    for name, (token_list, md, inter, e, k) in BENCH_SHAPES.items():
        for dtype, group in TILE_DTYPES.items():
            if dtypes and dtype not in dtypes:
                continue
            prefill = dtype in (get_target(target).wgmma or {})   # tokens beyond decode: the wgmma kernel
            tms = {bench_tile_m(target, name, dtype, t) for t in token_list
                   if ((t <= 64 and dtype in DECODE_TILE_DTYPES) or (t > 256 and prefill))
                   and (not tokens or t in tokens)}
            for tm in sorted(tms):
                for stage in (1, 2):
                    for tn, tk, waves, pf, st, tma in _tile_variants(target, dtype, tm):
                        # decode stage 2: K split over 2 or 4 blocks too (few blocks per expert)
                        splits = (None, 2, 4) if stage == 2 and tm < 64 and tn >= 64 and tk <= 256 else (None,)
                        # decode, narrow tiles: K split over 2 or 4 groups of the block's warps too
                        kws = (None, 2, 4) if tm < 64 and tn <= 64 and pf in (1, 2) and get_target(target).warp_k_split \
                            else (None,)
                        # decode, several MMA token tiles: blocks run only those up to their last real row too
                        trims = (None, 1) if tm < 64 and tm >= 2 * get_target(target).mma[dtype].m else (None,)
                        # the prefill kernel of weights by TMA: the tokens as the MMA's M side, and as its N side
                        tms_ = (0, 1) if tma else (None,)
                        for sk, kw, tr, tm_ in itertools.product(splits, kws, trims, tms_):
                            if finalists is not None and (name, dtype, stage, tm, tn, tk, waves, pf, st, sk or 1,
                                                          tma or 0, kw or 1, tr or 0, tm_ or 0) not in finalists:
                                continue
                            spec = KernelSpec(stage=stage, dtype=dtype, group_size=group, out_dtype="bf16",
                                              mode="atomic", target=target, model_dim=md, inter_dim=inter, experts=e,
                                              topk=k, tile_m=tm, tile_n=tn, tile_k=tk, waves=waves, prefetch=pf,
                                              stages=st, split_k=sk, tma=tma, k_waves=kw, trim_m=tr, tokens_m=tm_)
                            specs.append((name, spec))
    return specs


def raster_suite(target: str):
    """The planned prefill kernels (more than 256 tokens) of the bench cases, in each block order:
    launch order (0) and groups of 2 .. 32 token tiles, the groups also with pairs of blocks sharing
    their weight boxes (multicast 2, weights by TMA) where the target has clusters and the kernel bulk
    copies (benchmarks/bench_sm90.py --sweep)."""
    t = get_target(target)
    out = []
    for name, spec in bench_suite(target):
        if spec.tokens_hint <= 256:
            continue
        spec = dataclasses.replace(spec, tile_m=layer_tile_m(spec))
        shared = t.clusters and t.tma and (t.wgmma or {}).get(spec.dtype) is not None and t.wgmma[spec.dtype].smem_a
        out += [(name, dataclasses.replace(spec, raster=g)) for g in (0, 2, 4, 8, 16, 32)]
        if shared:
            out += [(name, dataclasses.replace(spec, raster=g, multicast=2, tma=1)) for g in (2, 4, 8, 16, 32)]
    return out


SUITES = {"runtime": runtime_suite, "bench": bench_suite, "tiles": tiles_suite, "raster": raster_suite}


def kernel_id(spec: KernelSpec) -> str:
    h = hashlib.sha1(spec.key().encode()).hexdigest()[:10]
    what = "reduce" if spec.kernel == "reduce" else f"stage{spec.stage}_{spec.dtype}"
    return f"{what}_{spec.model_dim}x{spec.inter_dim}_e{spec.experts}_k{spec.topk}_{h}"


def write_kernel(k, folder, shape=None) -> Path:
    """kernel.cubin + meta.json: all the CUDA launcher (runtime/cuda.py) needs, no MLIR."""
    d = Path(folder)
    d.mkdir(parents=True, exist_ok=True)
    (d / "kernel.cubin").write_bytes(k.binary)
    meta = {"shared_bytes": 0, **k.launch, "spec": asdict(k.spec), "shape": shape, "resources": k.resources}
    (d / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return d


def build_artifacts(target: str, out_dir, suite: str = "runtime", log=print, dtypes=None, tokens=None,
                    finalists=None) -> Path:
    from .compiler import compile as compile_kernel

    if suite not in SUITES:
        raise MoeCodegenError(f"unknown suite '{suite}'; known: {', '.join(SUITES)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    index = []
    for shape, spec in (SUITES[suite](target, dtypes, tokens, finalists) if suite == "tiles" else SUITES[suite](target)):
        try:
            k = compile_kernel(spec)
        except MoeCodegenError as e:
            if suite != "tiles":
                raise
            log(f"skip {spec.tile_m}x{spec.tile_n}x{spec.tile_k} stage {spec.stage} {shape}: {str(e).splitlines()[0]}")
            continue
        # (SPEC: registers without spills, so a tile that spills is no candidate however fast it runs)
        if suite == "tiles" and k.resources.get("vgpr_spill"):
            log(f"skip {spec.tile_m}x{spec.tile_n}x{spec.tile_k} stage {spec.stage} {shape}: "
                f"spills {k.resources['vgpr_spill']} bytes")
            continue
        if not k.binary:
            raise MoeCodegenError(f"target {target} produced no loadable binary; artifacts need one")
        kid = kernel_id(spec)
        write_kernel(k, out / kid, shape)
        index.append({"id": kid, "shape": shape, **asdict(spec)})
        shape_txt = (f"tile {k.launch['tile_m']}x{k.launch['tile_n']}" if spec.kernel == "gemm"
                     else f"{k.launch['cols_per_thread']} columns per thread")
        log(f"{kid}: {k.name} {shape_txt} regs {k.resources['vgpr']} spills {k.resources['vgpr_spill']}")
    (out / "index.json").write_text(json.dumps(index, indent=2) + "\n")
    return out
