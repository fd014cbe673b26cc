"""Every dtype of the matrix (SPEC section 2) on an sm_90 GPU against the torch reference (SPEC 6).

S and M for all of them; L and the DeepSeek-V3 decode shape for the three int4 dtypes (W4A8, W4A16,
W4A_FP8, group 32); the whole-layer helper (stage 1 -> re-quantize -> stage 2) for each dtype.
"""
import pytest

from moe_codegen.artifacts import BULK_CASES, K_WAVES_CASES, SHAPES, SPLIT_K_CASES, TRIM_CASES
from moe_codegen.runtime.selfcheck import run_layer_check, run_stage1, run_stage2, verdict
from moe_codegen.spec import DTYPES

INT4 = [d for d, i in DTYPES.items() if i.weight == "int4"]


def group(dtype):
    return 32 if DTYPES[dtype].weight == "int4" else -1


def kernel(artifacts, shape, stage, dtype):
    return artifacts.find(shape=shape, stage=stage, dtype=dtype, group_size=group(dtype), out_dtype="bf16",
                          mode="atomic", doweight_stage1=False)


def check(name, out, ref, seed):
    ok, msg = verdict(out, ref)
    print(f"\n{name}: {msg} (seed {seed})")
    assert ok, f"{name}: {msg}"


@pytest.mark.parametrize("stage", [1, 2])
@pytest.mark.parametrize("shape", ["S", "M"])
@pytest.mark.parametrize("dtype", list(DTYPES))
def test_every_dtype(artifacts, dtype, shape, stage):
    run = run_stage1 if stage == 1 else run_stage2
    out, ref, seed = run(kernel(artifacts, shape, stage, dtype), SHAPES[shape][0])
    check(f"{dtype} stage{stage} {shape}", out, ref, seed)


@pytest.mark.parametrize("stage", [1, 2])
@pytest.mark.parametrize("shape", ["L", "DSV3_decode1"])
@pytest.mark.parametrize("dtype", INT4)
def test_int4_dtypes_large_and_decode(artifacts, dtype, shape, stage):
    run = run_stage1 if stage == 1 else run_stage2
    out, ref, seed = run(kernel(artifacts, shape, stage, dtype), SHAPES[shape][0])
    check(f"{dtype} stage{stage} {shape}", out, ref, seed)


@pytest.mark.parametrize("dtype", list(DTYPES))
def test_whole_layer_every_dtype(artifacts, dtype):
    k1, k2 = kernel(artifacts, "M", 1, dtype), kernel(artifacts, "M", 2, dtype)
    results, seed = run_layer_check(k1, k2, SHAPES["M"][0])
    for name, out, ref in results:
        check(f"{dtype} layer {name} M", out, ref, seed)


@pytest.mark.parametrize("dtype", [d for d in DTYPES if d != "int4_fp8"])
def test_corrupted_weight_is_caught(artifacts, dtype):
    out, ref, seed = run_stage1(kernel(artifacts, "S", 1, dtype), SHAPES["S"][0], corrupt=True)
    ok, msg = verdict(out, ref)
    print(f"\n{dtype} stage1 S with one corrupted weight row / scale: {msg} (seed {seed})")
    assert not ok, "a corrupted weight went unnoticed"


@pytest.mark.parametrize("stage", [1, 2])
@pytest.mark.parametrize("dtype", ["int4_fp8", "int4_bf16", "fp8"])
@pytest.mark.parametrize("shape,prefetch,stages", [("S", 1, 0), ("M", 1, 0), ("L", 1, 0), ("S", 2, 0), ("L", 2, 0),
                                                   ("S", 3, 0), ("M", 3, 0),
                                                   ("S", 0, 2), ("S", 0, 3), ("M", 0, 4), ("L", 0, 3)])
def test_pipelined_k_loops(artifacts, shape, prefetch, stages, dtype, stage):
    """Loads one K tile ahead (prefetch 1: all; 2: the weights; 3: the activations), or a
    cp.async ring of K tiles in shared memory (each lane copies and reads back its own pieces); S has
    K = 1 or 2 tiles, fewer than the ring: the clamped prologue."""
    k = artifacts.find(shape=shape, stage=stage, dtype=dtype, prefetch=prefetch, stages=stages)
    out, ref, seed = (run_stage1 if stage == 1 else run_stage2)(k, SHAPES[shape][0])
    check(f"{dtype} stage{stage} {shape} prefetch {prefetch} stages {stages}", out, ref, seed)


@pytest.mark.parametrize("stage", [1, 2])
@pytest.mark.parametrize("dtype", ["int4_fp8", "int4_bf16"])
@pytest.mark.parametrize("shape,group,waves,prefetch,stages,raster", [
    ("S", 32, None, None, None, None), ("M", 128, None, None, None, None), ("M", -1, None, None, None, None),
    ("S", 32, 8, None, None, None), ("M", 32, None, 1, None, None), ("M", 32, None, 2, None, None),
    ("S", 32, None, None, 2, None),
    ("M", 32, None, None, 3, None), ("M", -1, None, None, 4, None), ("M", 32, None, None, None, 3)])
def test_prefill_warpgroup_mma(artifacts, shape, group, waves, prefetch, stages, raster, dtype, stage):
    """The sm_90a prefill kernel (wgmma, a 64-token tile staged in shared memory for every warp), forced
    on shapes with fewer tokens than a tile, group sizes 32 and 128 and per-row scales, two warpgroups,
    weights and scales (prefetch 1) or the weights (2) loaded a K tile ahead, a cp.async ring of weights and activations (S: K shorter than it),
    blocks in groups of 3 token tiles (the last group narrower; the default groups hold every tile here)."""
    k = artifacts.find(shape=shape, stage=stage, dtype=dtype, group_size=group, wgmma=1, waves=waves,
                       prefetch=prefetch, stages=stages, raster=raster)
    out, ref, seed = (run_stage1 if stage == 1 else run_stage2)(k, SHAPES[shape][0])
    check(f"{dtype} stage{stage} {shape} wgmma g{group} waves {waves} prefetch {prefetch} stages {stages} "
          f"raster {raster}", out, ref, seed)


@pytest.mark.parametrize("kind", ["one_expert", "empty_experts"])
@pytest.mark.parametrize("dtype", ["int4_fp8", "int4_bf16"])
def test_prefill_warpgroup_mma_routing(artifacts, dtype, kind):
    k = artifacts.find(shape="S", stage=1, dtype=dtype, group_size=32, wgmma=1, waves=None, prefetch=None,
                       stages=None)
    out, ref, seed = run_stage1(k, SHAPES["S"][0], kind=kind)
    check(f"{dtype} stage1 S wgmma {kind}", out, ref, seed)


DENSE_PREFILL = [(dtype, stage, shape, waves, stages, tile_k, raster, tma, tile_n, tokens_m)
                 for dtype in ("fp8", "bf16", "f16")
                 for stage in (1, 2)
                 for shape, waves, stages, tile_k, raster, tma, tile_n, tokens_m in (
                     ("S", None, None, None, None, None, 64, None), ("M", None, None, None, None, None, 64, None),
                     ("M", 8, None, 128, None, None, 128, None), ("S", None, 3, None, None, None, 64, None),
                     ("M", None, 4, 64, None, None, 64, None), ("M", 8, 4, 64, None, None, 128, None),
                     ("M", None, None, None, 3, None, 64, None), ("M", None, None, None, None, 0, 64, None),
                     ("S", None, 3, None, None, 0, 64, None), ("M", 8, 3, 256, None, None, 128, None),
                     ("M", None, None, None, None, None, 128, None), ("M", None, None, None, None, None, 64, 0),
                     ("S", None, 3, None, None, None, 64, 0), ("M", 4, None, None, None, None, 128, 1))
                 if not (waves == 8 and tile_k == 128 and stage == 1 and dtype != "fp8")   # over the shared memory
                 and not (tile_k == 64 and dtype == "fp8")   # (fp8: K tiles of whole 128-byte swizzled rows)
                 and not (tile_k == 256 and (stage == 1 or dtype != "fp8"))]


@pytest.mark.parametrize("dtype,stage,shape,waves,stages,tile_k,raster,tma,tile_n,tokens_m", DENSE_PREFILL)
def test_prefill_warpgroup_mma_dense(artifacts, shape, waves, stages, tile_k, raster, tma, tile_n, tokens_m, dtype,
                                     stage):
    """The sm_90a prefill kernel of weights used as stored: weights (by TMA, or by cp.async: tma 0) and a
    64-token tile (cp.async) through a ring, both wgmma operands in shared memory (fp8: the native e4m3
    wgmma), forced on small shapes, two warpgroups, a ring deeper than S's K, K tiles of half a prepared
    chunk (tile_k 64; with two warpgroups each thread's copies then span two warps' columns) or of two
    (tile_k 256, TMA only), two 16-column blocks per warp (tile_n 128, 4 warps), blocks in groups of 3
    token tiles.  With weights by TMA and one warpgroup of 64 tokens (4 warps) the tokens are the MMA's M
    side by default (tokens_m); tokens_m 0 keeps them its N side; tokens_m 1 asks for M where N is the
    default (tile_n 128 on 4 warps: one m64n256 chain over stage 1's gate and up rows)."""
    k = artifacts.find(shape=shape, stage=stage, dtype=dtype, group_size=-1, wgmma=1, waves=waves, stages=stages,
                       tile_k=tile_k, raster=raster, tma=tma, tile_n=tile_n, tokens_m=tokens_m)
    assert k.meta.get("tma", 0) == (0 if tma == 0 else 1)
    # (the plan's default where each warpgroup takes 64 tokens; tile_n 128 of 16-column warps is 8 warps)
    assert k.meta.get("tokens_m", 0) == (1 if tokens_m == 1 or tokens_m is None and tma != 0
                                         and k.tile_m == 16 * k.meta["waves"] else 0)
    out, ref, seed = (run_stage1 if stage == 1 else run_stage2)(k, SHAPES[shape][0])
    check(f"{dtype} stage{stage} {shape} wgmma waves {waves} stages {stages} tile_k {tile_k} raster {raster} "
          f"tma {tma} tile_n {tile_n} tokens_m {tokens_m}", out, ref, seed)


@pytest.mark.parametrize("tokens_m,tile_n", [(None, 128), (0, 128), (1, 64)])
@pytest.mark.parametrize("stage", [1, 2])
@pytest.mark.parametrize("dtype", ["fp8", "bf16", "f16"])
def test_prefill_tokens_m_two_warpgroups(artifacts, tokens_m, tile_n, dtype, stage):
    """A 128-token tile of two warpgroups (L: 3 token tiles per expert, a partial last one): each group's
    64 tokens as the MMA's M side over the tile's 256 (stage 1: gate and up) or 128 weight rows (the
    default), or the tokens as its N side (tokens_m 0); as M over tile_n 64 too (8 warps over 4 column
    blocks: only the tokens-as-M kernel takes it)."""
    k = artifacts.find(shape="L", stage=stage, dtype=dtype, group_size=-1, wgmma=1, tile_m=128, waves=8,
                       tile_n=tile_n, tokens_m=tokens_m)
    assert k.meta.get("tokens_m", 0) == (0 if tokens_m == 0 else 1)
    out, ref, seed = (run_stage1 if stage == 1 else run_stage2)(k, SHAPES["L"][0])
    check(f"{dtype} stage{stage} L 128-token tile tile_n {tile_n} tokens_m {tokens_m}", out, ref, seed)


@pytest.mark.parametrize("multicast", [None, 2])
@pytest.mark.parametrize("kind", ["uniform", "one_expert", "empty_experts"])
@pytest.mark.parametrize("stage", [1, 2])
@pytest.mark.parametrize("dtype", ["fp8", "bf16", "f16"])
def test_prefill_three_warpgroups(artifacts, multicast, kind, dtype, stage):
    """192-token tiles: three warpgroups (384 threads), each its 64 tokens as the MMA's M side over every
    weight row of the tile (stage 1: 128 gate + 128 up rows; stage 2: 256 columns, added by bulk reductions);
    L's experts hold 1-2 such tiles, most of them partial; routed onto one expert or half of them; pairs of
    blocks sharing their weight boxes (multicast; stage 2 then adds per lane)."""
    k = artifacts.find(shape="L", stage=stage, dtype=dtype, group_size=-1, wgmma=1, tile_m=192, multicast=multicast)
    assert k.meta["block"] == 384 and k.meta["tokens_m"] == 1 and k.meta.get("cluster_y", 0) == (multicast or 0)
    out, ref, seed = (run_stage1 if stage == 1 else run_stage2)(k, SHAPES["L"][0], kind=kind)
    check(f"{dtype} stage{stage} L 192-token tile multicast {multicast} {kind}", out, ref, seed)


@pytest.mark.parametrize("stage", [1, 2])
@pytest.mark.parametrize("dtype", ["fp8", "bf16", "f16"])
@pytest.mark.parametrize("shape,waves,raster,kind", [("L", None, None, "uniform"), ("L", 8, None, "uniform"),
                                                     ("M", None, 2, "one_expert"), ("M", None, 2, "empty_experts")])
def test_prefill_multicast(artifacts, shape, waves, raster, kind, dtype, stage):
    """The dense prefill kernel in clusters of two blocks (two token tiles of one column tile): where both
    tiles are one expert's, each block copies half of every weight K tile into both blocks' shared
    memory (TMA multicast) behind cluster barriers; elsewhere each copies its own.  L's experts hold 3
    token tiles each (pairs inside one expert and across two), M routed onto one expert (pairs of it,
    then one across) or onto half the experts; grids of an odd number of token tiles get a spare block."""
    k = artifacts.find(shape=shape, stage=stage, dtype=dtype, group_size=-1, wgmma=1, multicast=2, waves=waves,
                       raster=raster)
    assert k.meta["cluster_y"] == 2 and k.meta["tma"] == 1
    out, ref, seed = (run_stage1 if stage == 1 else run_stage2)(k, SHAPES[shape][0], kind=kind)
    check(f"{dtype} stage{stage} {shape} multicast waves {waves} raster {raster} {kind}", out, ref, seed)


@pytest.mark.parametrize("shape,dtype,split,prefetch", SPLIT_K_CASES)
def test_stage2_split_k(artifacts, shape, dtype, split, prefetch):
    """Stage 2 with K split over blocks (grid z), each adding its partial sums with the atomics: every
    split must cover its own K range once (prefetch: the last tile of a split stays inside it)."""
    k = artifacts.find(shape=shape, stage=2, dtype=dtype, split_k=split, prefetch=prefetch)
    assert k.meta["grid_z"] == split
    out, ref, seed = run_stage2(k, SHAPES[shape][0])
    check(f"{dtype} stage2 {shape} split_k {split} prefetch {prefetch}", out, ref, seed)


@pytest.mark.parametrize("shape,dtype,stage,kw,split,prefetch", K_WAVES_CASES)
def test_k_waves(artifacts, shape, dtype, stage, kw, split, prefetch):
    """K split over groups of the block's warps (k_waves), their partial sums added in shared memory
    before the first group writes the tile: every K slice counted once, with and without K splits over
    blocks (grid z) and loads a K tile ahead."""
    k = artifacts.find(shape=shape, stage=stage, dtype=dtype, k_waves=kw, split_k=split or None, prefetch=prefetch)
    assert k.meta["k_waves"] == kw and k.meta["block"] == 32 * 2 * kw
    out, ref, seed = (run_stage1 if stage == 1 else run_stage2)(k, SHAPES[shape][0])
    check(f"{dtype} stage{stage} {shape} k_waves {kw} split_k {split} prefetch {prefetch}", out, ref, seed)


@pytest.mark.parametrize("kind", ["uniform", "empty_experts"])
@pytest.mark.parametrize("shape,dtype,stage,tm,prefetch,stages,split,kw", TRIM_CASES)
def test_trim_m(artifacts, shape, dtype, stage, tm, prefetch, stages, split, kw, kind):
    """A block runs the K loop of its live MMA token tiles only (trim_m): the tiles up to its last real
    row, so a tile whose later rows are all padding skips them; rows of a tile it ran must all be written
    (a count too low leaves poisoned or missing rows), with K splits over blocks and warps and a weight
    ring too."""
    k = artifacts.find(shape=shape, stage=stage, dtype=dtype, tile_m=tm, trim_m=1, prefetch=prefetch,
                       stages=stages or None, split_k=split or None, k_waves=kw or None)
    assert k.meta["trim_m"] == 1 and k.tile_m == tm
    out, ref, seed = (run_stage1 if stage == 1 else run_stage2)(k, SHAPES[shape][0], kind=kind)
    check(f"{dtype} stage{stage} {shape} tile_m {tm} trim_m prefetch {prefetch} stages {stages} split_k {split} "
          f"k_waves {kw} {kind}", out, ref, seed)


@pytest.mark.parametrize("kind", ["uniform", "one_expert"])
@pytest.mark.parametrize("shape,dtype,out_dtype,bulk", BULK_CASES)
def test_stage2_prefill_output_path(artifacts, shape, dtype, out_dtype, bulk, kind):
    """Stage 2 of the prefill kernels adds its tile into the output either by bulk reductions of whole
    rows from shared memory (bulk_out 1: sentinel rows must add nothing, every real row all its columns)
    or by per-lane reductions (0), whichever the plan would not pick for the dtype, every output dtype."""
    k = artifacts.find(shape=shape, stage=2, dtype=dtype, out_dtype=out_dtype, bulk_out=bulk, wgmma=1)
    assert k.meta.get("bulk_out", 0) == bulk
    out, ref, seed = run_stage2(k, SHAPES[shape][0], kind=kind)
    check(f"{dtype} stage2 {shape} out {out_dtype} bulk_out {bulk} {kind}", out, ref, seed)
