"""The gfx942/gfx950 kernels, run by the CPU executor against the torch reference (SPEC section 6).

Same data policy as the GPU tests (moe_codegen/runtime/selfcheck.py): fresh random data, all 16 int4
codes, NaN padding weights, NaN-poisoned stage-1 output, odd token counts.  Plus sabotage: a lowering
broken on purpose must make these tests fail.
"""
import pytest

from moe_codegen import KernelSpec, compile
from moe_codegen.emulate.runner import EmulatedKernel
from moe_codegen.runtime.selfcheck import run_stage1, run_stage2, verdict

SHAPES = {"S": (64, 256, 128, 4, 2), "M": (129, 1024, 256, 8, 2)}


def kernel(shape, stage, target, use_cache=True, group=32, out_dtype="bf16", doweight_stage1=False,
           dtype="int4_fp8"):
    t, md, inter, e, k = SHAPES[shape]
    spec = KernelSpec(stage=stage, target=target, model_dim=md, inter_dim=inter, experts=e, topk=k,
                      tokens_hint=t, group_size=group, out_dtype=out_dtype, doweight_stage1=doweight_stage1,
                      dtype=dtype)
    return EmulatedKernel(compile(spec, use_cache=use_cache))


def run(shape, stage, target, **kw):
    k = kw.pop("kernel", None) or kernel(shape, stage, target)
    fn = run_stage1 if stage == 1 else run_stage2
    out, ref, seed = fn(k, SHAPES[shape][0], target=target, device="cpu", **kw)
    ok, msg = verdict(out, ref)
    print(f"\n{target} stage{stage} {shape} {kw}: {msg} (seed {seed})")
    return ok, msg


@pytest.mark.parametrize("target", ["gfx942", "gfx950"])
@pytest.mark.parametrize("stage", [1, 2])
@pytest.mark.parametrize("shape", ["S", "M"])
def test_kernel_matches_reference(shape, stage, target):
    ok, msg = run(shape, stage, target)
    assert ok, msg


@pytest.mark.parametrize("target", ["gfx942", "gfx950"])
@pytest.mark.parametrize("stage", [1, 2])
@pytest.mark.parametrize("kind", ["one_expert", "empty_experts"])
def test_routing_edge_cases(kind, stage, target):
    ok, msg = run("S", stage, target, kind=kind)
    assert ok, msg


@pytest.mark.parametrize("target", ["gfx942", "gfx950"])
@pytest.mark.parametrize("stage", [1, 2])
def test_per_row_scales(stage, target):
    ok, msg = run("S", stage, target, kernel=kernel("S", stage, target, group=-1))
    assert ok, msg


@pytest.mark.parametrize("target", ["gfx942", "gfx950"])
@pytest.mark.parametrize("stage,out_dtype", [(1, "f16"), (2, "f16"), (2, "f32")])
def test_other_output_dtypes(stage, out_dtype, target):
    ok, msg = run("S", stage, target, kernel=kernel("S", stage, target, out_dtype=out_dtype))
    assert ok, msg


@pytest.mark.parametrize("target", ["gfx942", "gfx950"])
@pytest.mark.parametrize("stage", [1, 2])
def test_routed_weight_in_stage1(stage, target):
    # doweight_stage1: stage 1 multiplies by the routed weight, stage 2 does not
    ok, msg = run("S", stage, target, kernel=kernel("S", stage, target, doweight_stage1=True))
    assert ok, msg


@pytest.mark.parametrize("target", ["gfx942", "gfx950"])
@pytest.mark.parametrize("stage", [1, 2])
@pytest.mark.parametrize("shape", ["S", "M"])
def test_fp8_weights(shape, stage, target):
    ok, msg = run(shape, stage, target, kernel=kernel(shape, stage, target, group=-1, dtype="fp8"))
    assert ok, msg


@pytest.mark.parametrize("group", [64, 128])
def test_larger_groups(group):
    ok, msg = run("S", 1, "gfx950", kernel=kernel("S", 1, "gfx950", group=group))
    assert ok, msg


def test_corrupted_scale_is_caught():
    ok, _ = run("S", 1, "gfx942", corrupt=True)
    assert not ok


@pytest.mark.parametrize("dtype", ["int4_fp8", "int4_bf16"])
def test_swapped_nibbles_in_the_unpack_are_caught(monkeypatch, dtype):
    from moe_codegen.passes import unpack_int4

    original = unpack_int4._nibbles_f32

    def swapped(e, word):
        vals = original(e, word)
        vals[0], vals[1] = vals[1], vals[0]
        return vals

    monkeypatch.setattr(unpack_int4, "_nibbles_f32", swapped)
    ok, msg = run("S", 1, "gfx950", kernel=kernel("S", 1, "gfx950", use_cache=False, dtype=dtype))
    assert not ok, f"a broken int4 unpack went unnoticed: {msg}"


def test_swapped_int8_words_in_the_unpack_are_caught(monkeypatch):
    from moe_codegen.passes import unpack_int4

    def swapped(e, args, out_type):   # high-nibble elements where the low ones belong, and back
        w, mask = args[0], e.c(0xF0F0F0F0 - (1 << 32))
        lo = e.op(f"arith.andi {e.op(f'arith.shli {w}, {e.c(4)} : i32')}, {mask} : i32")
        hi = e.op(f"arith.andi {w}, {mask} : i32")
        return [unpack_int4._words(e, [hi, lo], out_type)]

    monkeypatch.setitem(unpack_int4.SCHEMES, "i8x16", ("i8", swapped, ("i64", "vector<2xi32>")))
    ok, msg = run("S", 2, "gfx942", kernel=kernel("S", 2, "gfx942", use_cache=False, dtype="int4"))
    assert not ok, f"a broken int4 -> int8 unpack went unnoticed: {msg}"


@pytest.mark.parametrize("stage", [1, 2])
@pytest.mark.parametrize("dtype,group,prefetch", [("int4_fp8", 32, 1), ("int4", 32, 1), ("bf16", -1, 1),
                                                  ("int4_fp8", 32, 2), ("int4_fp8", 32, 3), ("bf16", -1, 3)])
def test_prefetching_k_loop(dtype, group, prefetch, stage):
    """prefetch: the K loop carries the next K tile's loads (1: weights, activations, scales; 2: the weights;
    3: the activations, the weights and scales loaded in their own iteration); M shape so that K spans
    several tiles."""
    t, md, inter, e, k = SHAPES["M"]
    spec = KernelSpec(stage=stage, target="gfx950", model_dim=md, inter_dim=inter, experts=e, topk=k, tokens_hint=t,
                      group_size=group, dtype=dtype, prefetch=prefetch, tile_k=64)
    ok, msg = run("M", stage, "gfx950", kernel=EmulatedKernel(compile(spec)))
    assert ok, msg


def test_wrong_group_scale_is_caught(monkeypatch):
    from moe_codegen import layouts

    original = layouts.MfmaLayout.scale_vec

    def other_column(self, e, pair, r, acc_t):
        return original(self, e, pair, 1 - r, acc_t)

    monkeypatch.setattr(layouts.MfmaLayout, "scale_vec", other_column)
    ok, msg = run("S", 2, "gfx942", kernel=kernel("S", 2, "gfx942", use_cache=False))
    assert not ok, f"a wrong group scale went unnoticed: {msg}"


@pytest.mark.parametrize("target", ["gfx942", "gfx950"])
def test_whole_layer(target):
    from moe_codegen.runtime.selfcheck import run_layer_check

    results, seed = run_layer_check(kernel("S", 1, target), kernel("S", 2, target), SHAPES["S"][0], target=target,
                                    device="cpu")
    for name, out, ref in results:
        ok, msg = verdict(out, ref)
        print(f"\n{target} layer {name}: {msg} (seed {seed})")
        assert ok, msg


@pytest.mark.parametrize("target", ["gfx942", "gfx950"])
@pytest.mark.parametrize("masked", [False, True])
def test_reduce_mode(masked, target):
    t, md, inter, e, k = SHAPES["S"]
    common = dict(stage=2, mode="reduce", target=target, model_dim=md, inter_dim=inter, experts=e, topk=k)
    gemm = EmulatedKernel(compile(KernelSpec(**common, tokens_hint=t)))
    red = EmulatedKernel(compile(KernelSpec(**common, kernel="reduce", masked=masked)))
    out, ref, seed = run_stage2(gemm, t, target=target, device="cpu", reduce=red)
    ok, msg = verdict(out, ref)
    print(f"\n{target} reduce mode masked={masked}: {msg} (seed {seed})")
    assert ok, msg


NEW_DTYPES = {"int4": 32, "int4_bf16": 32, "int8": -1, "int8smooth": -1, "bf16": -1, "f16": -1}


@pytest.mark.parametrize("target", ["gfx942", "gfx950"])
@pytest.mark.parametrize("stage", [1, 2])
@pytest.mark.parametrize("dtype", NEW_DTYPES)
def test_every_dtype(dtype, stage, target):
    """W4A8, W4A16, int8, int8smooth (slot-major x), bf16, f16: each MMA atom and unpack scheme."""
    ok, msg = run("S", stage, target, kernel=kernel("S", stage, target, group=NEW_DTYPES[dtype], dtype=dtype))
    assert ok, msg


@pytest.mark.parametrize("target", ["gfx942", "gfx950"])
@pytest.mark.parametrize("stage", [1, 2])
@pytest.mark.parametrize("dtype", ["int4", "int4_bf16"])
def test_int4_dtypes_at_m(dtype, stage, target):
    ok, msg = run("M", stage, target, kernel=kernel("M", stage, target, dtype=dtype))
    assert ok, msg


@pytest.mark.parametrize("dtype,group", [("int4", -1), ("int4_bf16", -1), ("int4", 128)])
def test_int4_dtypes_other_scales(dtype, group):
    ok, msg = run("S", 2, "gfx950", kernel=kernel("S", 2, "gfx950", group=group, dtype=dtype))
    assert ok, msg


@pytest.mark.parametrize("dtype", NEW_DTYPES)
def test_whole_layer_every_dtype(dtype):
    """Stage 1 -> re-quantize in the dtype's activation format -> stage 2 (SPEC 6: stage 2 checked on
    the kernel's own a2)."""
    from moe_codegen.runtime.selfcheck import run_layer_check

    target, G = "gfx942", NEW_DTYPES[dtype]
    k1 = kernel("S", 1, target, group=G, dtype=dtype)
    k2 = kernel("S", 2, target, group=G, dtype=dtype)
    results, seed = run_layer_check(k1, k2, SHAPES["S"][0], target=target, device="cpu")
    for name, out, ref in results:
        ok, msg = verdict(out, ref)
        print(f"\n{dtype} layer {name}: {msg} (seed {seed})")
        assert ok, msg


@pytest.mark.parametrize("stage", [1, 2])
@pytest.mark.parametrize("raster,kind", [(1, "uniform"), (3, "uniform"), (4, "empty_experts")])
def test_grouped_block_order(raster, kind, stage):
    """raster: blocks launched as (column tiles, token tiles) and walked in groups of token tiles; M
    with tile_m 16 gives ~20 token tiles, so groups of 3 end in a narrower one (blocks past it idle),
    and empty experts leave tiles past num_valid.  Every output element must be written once."""
    t, md, inter, e, k = SHAPES["M"]
    spec = KernelSpec(stage=stage, target="gfx942", model_dim=md, inter_dim=inter, experts=e, topk=k, tokens_hint=t,
                      group_size=32, dtype="int4_fp8", tile_m=16, tile_n=64, raster=raster)
    compiled = compile(spec, use_cache=False)
    assert compiled.launch["raster"] == raster and compiled.launch["grid_x"] == spec.out_n // 64
    ok, msg = run("M", stage, "gfx942", kernel=EmulatedKernel(compiled), kind=kind)
    assert ok, msg


@pytest.mark.parametrize("dtype,group,prefetch", [("int4_fp8", 32, 0), ("int4_fp8", 32, 1), ("fp8", -1, 1)])
def test_split_k_stage2(dtype, group, prefetch):
    """split_k 2: block z sums half of K (two K tiles of 64 each at M) and adds its partial sums into
    the output; with prefetch the last tile of each half must not reach into the other half."""
    t, md, inter, e, k = SHAPES["M"]
    spec = KernelSpec(stage=2, target="gfx942", model_dim=md, inter_dim=inter, experts=e, topk=k, tokens_hint=t,
                      group_size=group, dtype=dtype, tile_k=64, prefetch=prefetch, split_k=2)
    compiled = compile(spec, use_cache=False)
    assert compiled.launch["grid_z"] == 2
    ok, msg = run("M", 2, "gfx942", kernel=EmulatedKernel(compiled))
    assert ok, msg


@pytest.mark.parametrize("stage,prefetch,kind", [(1, 0, "uniform"), (2, 1, "uniform"), (1, 1, "one_expert"),
                                                 (2, 0, "empty_experts")])
def test_trim_m(stage, prefetch, kind):
    """trim_m: tile_m 32 is two MFMA token tiles of 16; a block whose rows 16 .. 31 are all padding runs the
    K loop of the first tile alone.  M's experts end in tiles of 1 .. 32 rows, so both loops run; a block
    that ran too few tiles leaves rows unwritten (poisoned) or sums missing."""
    t, md, inter, e, k = SHAPES["M"]
    spec = KernelSpec(stage=stage, target="gfx942", model_dim=md, inter_dim=inter, experts=e, topk=k, tokens_hint=t,
                      group_size=32, dtype="int4_fp8", tile_m=32, tile_k=64, prefetch=prefetch, trim_m=1)
    compiled = compile(spec, use_cache=False)
    assert compiled.launch["trim_m"] == 1
    ok, msg = run("M", stage, "gfx942", kernel=EmulatedKernel(compiled), kind=kind)
    assert ok, msg
