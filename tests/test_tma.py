"""The weights' tensor map (moe_codegen/tma.py) against the prefill kernel's shared-memory layout.

A bulk tensor copy is modelled as the hardware does it: the box's elements in dense order (innermost
dimension first), each 16-byte chunk moved by the 64-byte swizzle (address bits 4-5 XOR bits 7-8).
What lands must be what the wgmma descriptors read (smem_operands.py, layout 2): row r of the box is
weight column r of the tile (natural order), and chunk c of its 64-byte row of plane a holds the k of
the shared K order at chunk 4a + c.
"""
import itertools
import math

import pytest
import torch

from moe_codegen.host.packing import prepare_dense_weights
from moe_codegen.spec import KernelSpec
from moe_codegen.tma import weight_map


def _tma_copy(src: bytes, geo, coords) -> bytearray:
    """One box of `geo` at `coords`, as the tensor memory accelerator writes it (1024-byte aligned)."""
    dims, strides, box = geo["dims"], [1] + geo["strides"], geo["box"]
    smem = bytearray(math.prod(box))
    lin = 0
    for idx in itertools.product(*(range(b) for b in reversed(box))):   # outermost first: dense order
        pos = [c + i for c, i in zip(coords, reversed(idx))]
        assert all(p < d for p, d in zip(pos, dims)), "box outside the tensor"
        addr = lin ^ (((lin >> 7) & 3) << 4)   # 64-byte swizzle of the shared address
        g_off = sum(p * s for p, s in zip(pos, strides))
        smem[addr:addr + 1] = src[g_off:g_off + 1]
        lin += 1
    return smem


def _shared_k(esize: int, chunk: int):
    """The 8 k of each half of 16-byte chunk `chunk` in a 128-byte K atom (smem_operands.shared_k):
    16-bit weights in natural order; fp8 pieces hold two K32 steps side by side."""
    if esize == 2:
        return [8 * chunk + j for j in range(8)]
    p, t = divmod(chunk, 4)
    return [64 * p + 8 * t + j for j in range(8)] + [64 * p + 32 + 8 * t + j for j in range(8)]


@pytest.mark.parametrize("dtype", ["bf16", "fp8"])
def test_weight_map_box_is_the_swizzled_block(dtype):
    E, N, K = 3, 64, 384
    spec = KernelSpec(stage=2, dtype=dtype, group_size=-1, target="sm_90", model_dim=N, inter_dim=K, experts=E,
                      topk=2)
    gen = torch.Generator().manual_seed(7)
    raw = torch.randint(0, 256, (E, N, K * (2 if dtype == "bf16" else 1)), generator=gen, dtype=torch.uint8)
    if dtype == "fp8":
        raw[raw == 0x7F] = 1    # no NaN codes
        raw[raw == 0xFF] = 1
        w = raw.view(torch.float8_e4m3fn)
        scale = torch.ones(E, N)
    else:
        w, scale = raw.view(torch.int16).view(torch.bfloat16), None
    prepared = prepare_dense_weights(w, scale, target="sm_90", dtype=dtype)
    src = prepared.w.contiguous().view(torch.uint8).numpy().tobytes()
    tile_n = 32
    geo = weight_map(spec, tile_n)
    esize = 2 if dtype == "bf16" else 1
    assert len(src) == geo["dims"][3] * geo["strides"][2]
    checked = 0
    for e, cb0, k0 in ((0, 0, 0), (1, 2, 128 // esize), (2, 4, K - 128 // esize)):   # 32 columns, 128 bytes of K
        h0 = k0 * esize // 64
        for a in range(2):   # one box per 64-byte plane
            smem = _tma_copy(src, geo, (0, h0 + a, 0, e * N // 8 + cb0))
            for r in range(tile_n):
                col = cb0 * 8 + r
                for c in range(4):
                    got = smem[r * 64 + ((c ^ (r // 2) % 4) * 16):][:16]
                    ks = [k0 + k for k in _shared_k(esize, 4 * a + c)]
                    want = b"".join(raw[e, col, k * esize:(k + 1) * esize].numpy().tobytes() for k in ks)
                    assert got == want, (e, cb0, k0, a, r, c)
                    checked += 1
    assert checked == 3 * 2 * tile_n * 4


def test_tma_kernel_plan_and_refusals():
    from moe_codegen.compiler import compile as compile_kernel
    from moe_codegen.errors import MoeCodegenError

    base = dict(stage=1, group_size=-1, target="sm_90", model_dim=256, inter_dim=128, experts=4, topk=2,
                tokens_hint=512)
    k = compile_kernel(KernelSpec(dtype="fp8", **base))
    assert k.launch["tma"] == 1 and k.launch["args"][-1] == "w_map"
    assert k.launch["w_map"] == weight_map(KernelSpec(dtype="fp8", **base), k.launch["tile_n"])
    assert "cp.async.bulk.tensor.4d" in k.isa and "mbarrier.try_wait.parity" in k.isa
    off = compile_kernel(KernelSpec(dtype="fp8", tma=0, **base))
    assert "tma" not in off.launch or off.launch["tma"] == 0
    assert "w_map" not in off.launch["args"] and "cp.async.bulk" not in off.isa
    with pytest.raises(MoeCodegenError, match="tma: only the prefill kernel of weights used as stored"):
        compile_kernel(KernelSpec(dtype="int4_fp8", **{**base, "group_size": 32}, tma=1))
    with pytest.raises(MoeCodegenError, match="tma: gfx950 has no tensor memory accelerator"):
        compile_kernel(KernelSpec(dtype="fp8", **{**base, "target": "gfx950"}, tma=1))
    with pytest.raises(MoeCodegenError, match="tma must be 0 or 1"):
        KernelSpec(dtype="fp8", tma=2, **base).validate()


@pytest.mark.parametrize("dtype,stage", [("fp8", 1), ("fp8", 2), ("bf16", 1), ("bf16", 2)])
def test_plan_follows_the_tables_weight_path_and_block_order(dtype, stage):
    """The Kimi prefill entries of the tuned table say which weight path (tma), block order (raster), weight
    sharing (multicast) and MMA operand roles (tokens_m) the searches measured fastest; the plan takes them, and a user's choice wins over the
    table's."""
    import dataclasses

    from moe_codegen.passes.plan import choose, tuned

    spec = KernelSpec(stage=stage, dtype=dtype, group_size=-1, target="sm_90", model_dim=7168, inter_dim=2048,
                      experts=64, topk=8, tokens_hint=4096)
    entry = tuned(spec)
    assert entry is not None and entry["raster"] is not None
    plan, notes = choose(spec)
    assert (plan["tma"], plan["raster"], plan["tile_n"], plan["multicast"], plan["tokens_m"]) == (
        entry["tma"], entry["raster"], entry["tile_n"], entry["multicast"], entry["tokens_m"])
    assert "from the tuned table" in notes[-1]
    # (the weights by cp.async at the 128-token tiles: the table's 192-token ones take them by TMA only)
    mine, _ = choose(dataclasses.replace(spec, raster=3, tma=1 - entry["tma"], tile_m=128))
    assert (mine["raster"], mine["tma"]) == (3, 1 - entry["tma"])
    with pytest.raises(ValueError, match=r"tile_m 192 \(three warpgroups\) takes its weight tiles by TMA"):
        choose(dataclasses.replace(spec, tma=0))


def test_tensor_map_refuses_a_tensor_smaller_than_the_map():
    """The launcher checks the weights' bytes against the map before asking the driver to encode it."""
    from moe_codegen.errors import MoeCodegenError
    from moe_codegen.runtime.cuda import encode_tensor_map

    spec = KernelSpec(stage=2, dtype="fp8", group_size=-1, target="sm_90", model_dim=64, inter_dim=256, experts=2,
                      topk=2)
    geo = weight_map(spec, 64)
    short = torch.zeros(2 * 64 * 256 - 16, dtype=torch.uint8)   # one expert's last 16 bytes missing
    with pytest.raises(MoeCodegenError, match=r"do not hold the 32768 bytes of dims \[64, 4, 8, 16\]"):
        encode_tensor_map(short, geo)


def test_multicast_plan_grid_and_refusals():
    """multicast 2: clusters of two blocks (launch metadata cluster_y, PTX .reqnctapercluster), the
    token-tile grid rounded up to whole clusters, a free barrier per ring slot in the shared memory;
    refused without the weights' bulk copies, on a target without clusters, with a block order of odd
    groups, and for values other than 0 / 2."""
    from moe_codegen.compiler import compile as compile_kernel
    from moe_codegen.errors import MoeCodegenError
    from moe_codegen.host.routing import gemm_grid

    base = dict(stage=1, group_size=-1, target="sm_90", model_dim=1024, inter_dim=128, experts=4, topk=2,
                tokens_hint=512, dtype="fp8")
    alone = compile_kernel(KernelSpec(**base))
    k = compile_kernel(KernelSpec(multicast=2, **base))
    assert k.launch["cluster_y"] == 2 and "cluster_y" not in alone.launch
    assert k.launch["shared_bytes"] == alone.launch["shared_bytes"] + 8 * k.launch["stages"]
    assert ".reqnctapercluster 1, 2, 1" in k.isa and ".multicast::cluster" in k.isa
    assert "reqnctapercluster" not in alone.isa and "barrier.cluster" not in alone.isa
    tm = k.launch["tile_m"]
    assert gemm_grid(k.launch, 5 * tm - 3, tm) == (k.launch["grid_x"], 6, 1)   # 5 token tiles: 3 clusters
    assert gemm_grid(alone.launch, 5 * tm - 3, tm) == (alone.launch["grid_x"], 5, 1)
    for bad, msg in (({"tma": 0}, r"multicast 2: only the weights' bulk copies \(tma 1\)"),
                     ({"raster": 3}, "raster must be a multiple of 2, got 3"),
                     ({"raster": 0}, "raster must be a multiple of 2, got 0"),
                     ({"target": "gfx950", "tma": 0}, "of a target with clusters of blocks")):
        with pytest.raises(MoeCodegenError, match=msg):
            compile_kernel(KernelSpec(multicast=2, **{**base, **bad}))
    with pytest.raises(MoeCodegenError, match="multicast must be 0 .off. or 2"):
        KernelSpec(multicast=4, **base).validate()


def test_tokens_m_plan_isa_and_refusals():
    """tokens_m: each warpgroup's 64 tokens as the MMA's M side over every weight row of the tile (one m64nN
    chain, N = gate + up rows in stage 1), the default where the tile allows it; tokens_m 0 keeps the weight
    rows as M (m64 chains over the tile's tokens as N) with its token swap between lanes. Asked for, it also
    takes tiles whose columns do not split into one 16-column block per warp (tile_n 64 on 8 warps)."""
    from moe_codegen.compiler import compile as compile_kernel
    from moe_codegen.errors import MoeCodegenError

    base = dict(stage=1, group_size=-1, target="sm_90", model_dim=256, inter_dim=128, experts=4, topk=2,
                tokens_hint=512, dtype="fp8")
    k = compile_kernel(KernelSpec(**base))
    assert (k.launch["tile_m"], k.launch["tile_n"], k.launch["waves"], k.launch["tokens_m"]) == (128, 128, 8, 1)
    assert "m64n256k32.f32.e4m3.e4m3" in k.isa and "shfl.sync" not in k.isa
    assert "wgmma.wait_group.sync.aligned 1;" in k.isa
    off = compile_kernel(KernelSpec(tokens_m=0, **base))
    assert "tokens_m" not in off.launch
    assert "m64n128k32.f32.e4m3.e4m3" in off.isa and "m64n256" not in off.isa and "shfl.sync.bfly" in off.isa
    narrow = compile_kernel(KernelSpec(tokens_m=1, tile_m=128, tile_n=64, waves=8, **base))
    assert narrow.launch["tokens_m"] == 1 and "m64n128k32.f32.e4m3.e4m3" in narrow.isa
    with pytest.raises(MoeCodegenError, match="waves 8 must divide the 4 column blocks of tile_n 64"):
        compile_kernel(KernelSpec(tokens_m=0, tile_m=128, tile_n=64, waves=8, **base))
    for bad, msg in (({"tma": 0}, r"tokens_m 1: only the prefill kernel of weights used as stored with its weight "
                                  r"tiles by TMA \(tma 1\)"),
                     ({"tile_m": 64, "waves": 8, "tile_n": 128},
                      r"tokens_m 1: each warpgroup takes 64 tokens: tile_m must be 16 x waves \(128\), got 64"),
                     ({"dtype": "int4_fp8", "group_size": 32}, "tokens_m 1: only the prefill kernel")):
        with pytest.raises(MoeCodegenError, match=msg):
            compile_kernel(KernelSpec(**{**base, "tokens_m": 1, **bad}))
    assert compile_kernel(KernelSpec(**{**base, "tile_m": 64, "waves": 8, "tile_n": 128})).launch.get("tokens_m") is None
    with pytest.raises(MoeCodegenError, match="tokens_m must be 0 or 1"):
        KernelSpec(tokens_m=2, **base).validate()


def test_three_warpgroup_tiles():
    """192-token tiles: three warpgroups (384 threads, at most 168 registers a thread), each its 64 tokens as
    the MMA's M side; the layer's tile_m where an expert averages 384 rows or more (two such tiles), else
    128. The fp8 kernel's per-row weight scales go through shared memory and its epilogue takes the tile's
    columns in chunks, so it fits without spills too. Refused with the tokens as N, and waves 12 anywhere
    else."""
    from moe_codegen.compiler import compile as compile_kernel
    from moe_codegen.errors import MoeCodegenError
    from moe_codegen.spec import layer_tile_m

    base = dict(stage=2, group_size=-1, target="sm_90", model_dim=256, inter_dim=128, experts=4, topk=2,
                tokens_hint=1024, dtype="bf16")
    assert layer_tile_m(KernelSpec(**base)) == 192
    assert layer_tile_m(KernelSpec(**{**base, "tokens_hint": 512})) == 128     # 256 rows an expert
    for dtype, stage, mma in (("bf16", 2, "m64n256k16.f32.bf16.bf16"), ("fp8", 1, "m64n256k32.f32.e4m3.e4m3"),
                              ("fp8", 2, "m64n256k32.f32.e4m3.e4m3")):
        k = compile_kernel(KernelSpec(**{**base, "dtype": dtype, "stage": stage}))
        l = k.launch
        assert (l["tile_m"], l["waves"], l["block"], l["tokens_m"], l.get("bulk_out", 0)) == (192, 12, 384, 1, stage - 1)
        assert mma in k.isa and ".maxntid 384, 1, 1" in k.isa
        assert k.resources["spill_store_bytes"] == 0 and k.resources["registers"] <= 168
    for bad, msg in (({"tile_m": 192, "tokens_m": 0}, "tile_m 192 .* tokens_m 0 refused"),
                     ({"tile_m": 128, "waves": 12}, r"waves 12 \(three warpgroups\): only the prefill kernel"),
                     ({"dtype": "int4_bf16", "group_size": 32, "tile_m": 128, "waves": 12}, "waves 12")):
        with pytest.raises(MoeCodegenError, match=msg):
            compile_kernel(KernelSpec(**{**base, **bad}))


def test_raster_suite_searches_weight_sharing():
    """The block-order search also tries pairs of blocks sharing their weight boxes (by TMA) for the
    dense prefill kernels, never for the int4 ones (their weights go through registers)."""
    from moe_codegen.artifacts import raster_suite

    specs = [s for _, s in raster_suite("sm_90")]
    shared = [s for s in specs if s.multicast]
    assert shared and all(s.tma == 1 and s.raster % 2 == 0 and s.dtype in ("fp8", "bf16") for s in shared)
    assert {s.dtype for s in specs} >= {"int4_fp8", "int4_bf16", "fp8", "bf16"}
