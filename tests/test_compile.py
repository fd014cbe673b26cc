"""Compile every supported variant for every target; resources, determinism, cache, dumps."""
import json
import re

import pytest

from moe_codegen import KernelSpec, MoeCodegenError, compile
from moe_codegen.spec import DTYPES, TARGETS
from moe_codegen.targets import get_target

SHAPES = {  # tokens, model_dim, inter_dim, experts, topk  (SPEC section 5)
    "S": (64, 256, 128, 4, 2),
    "M": (129, 1024, 256, 8, 2),
    "L": (333, 4096, 2048, 17, 9),
}
TILE_M = {"S": 16, "M": 32, "L": 64}


def spec_for(shape, stage, target, dtype="int4_fp8", group=32, **kw):
    t, md, inter, e, k = SHAPES[shape]
    return KernelSpec(stage=stage, dtype=dtype, group_size=group, target=target, model_dim=md,
                      inter_dim=inter, experts=e, topk=k, tokens_hint=t, **kw)


# the MMA instruction each dtype must use, per target (SPEC section 3)
MMA_TEXT = {
    "gfx942": {"fp8": "v_mfma_f32_16x16x32_fp8_fp8", "i8": "v_mfma_i32_16x16x32_i8",
               "bf16": "v_mfma_f32_16x16x16_bf16", "f16": "v_mfma_f32_16x16x16_f16"},
    "gfx950": {"fp8": "v_mfma_f32_16x16x32_fp8_fp8", "i8": "v_mfma_i32_16x16x32_i8",
               "bf16": "v_mfma_f32_16x16x32_bf16", "f16": "v_mfma_f32_16x16x32_f16"},
    # fp8 activations run on the f16 MMA on sm_90 (no native fp8 mma.sync there)
    "sm_90": {"fp8": "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32",
              "i8": "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32",
              "bf16": "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32",
              "f16": "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32"},
}
VARIANTS = [(d, g) for d, info in DTYPES.items() for g in info.group_sizes]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("stage", (1, 2))
@pytest.mark.parametrize("dtype,group", VARIANTS)
def test_every_variant_fits_the_chip(target, shape, stage, dtype, group):
    k = compile(spec_for(shape, stage, target, dtype, group))
    r = k.resources
    assert r["vgpr_spill"] == 0 and r["sgpr_spill"] == 0 and r["scratch_bytes"] == 0, r
    assert r["lds_bytes"] <= get_target(target).lds_limit
    assert r["occupancy_waves_per_simd"] >= 2, r
    # the token bucket's tile_m (SPEC 5), capped at 32 where the MMA takes 8 tokens (sm_90 int4 decode
    # layout) unless the prefill kernel (warpgroup MMA: L's 333 tokens, the sm_90 dtypes that have one)
    # takes it: 64 tokens for the int4 dtypes, 128 for weights used as stored
    atom_m = get_target(target).mma[dtype].m
    wg = (get_target(target).wgmma or {}).get(dtype)
    wgmma = bool(k.launch.get("wgmma"))
    assert wgmma == (shape == "L" and wg is not None)
    tile_m = 128 if wgmma and wg.smem_a else min(TILE_M[shape], 32) if atom_m == 8 and not wgmma else TILE_M[shape]
    assert k.launch["tile_m"] == tile_m
    if wgmma:
        elem = {"fp8": "e4m3"}.get(wg.elem, wg.elem)
        # the tokens as the MMA's M side (64 per warpgroup) by default where the tile allows: N = its weight rows
        rows = k.launch["tile_n"] * (2 if stage == 1 else 1)
        tokens_m = wg.smem_a and k.launch.get("tma") and tile_m == 16 * k.launch["waves"] and rows <= 256
        assert k.launch.get("tokens_m", 0) == int(bool(tokens_m))
        mma = f"wgmma.mma_async.sync.aligned.m64n{rows if tokens_m else tile_m}k{wg.k}.f32.{elem}.{elem}"
    else:
        mma = MMA_TEXT[target][DTYPES[dtype].act]
    assert mma in k.isa
    for field in ("vgpr", "agpr", "sgpr", "lds_bytes", "vgpr_spill", "sgpr_spill", "scratch_bytes",
                  "occupancy_waves_per_simd"):
        assert isinstance(r[field], int), field


# every (dtype, output dtype, stage-2 mode) the table allows; the K loop (what spills) is covered above
# at every shape, the epilogue differs here
OUTPUTS = [(d, info.group_sizes[0], o, m) for d, info in DTYPES.items() for o in info.out_dtypes for m in info.modes
           if not (m == "reduce" and o == "f32")]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype,group,out_dtype,mode", OUTPUTS)
def test_every_output_and_mode_fits(target, dtype, group, out_dtype, mode):
    stages = (1, 2) if out_dtype != "f32" and mode == "atomic" else (2,)
    for stage in stages:
        k = compile(spec_for("S", stage, target, dtype, group, out_dtype=out_dtype, mode=mode))
        r = k.resources
        assert r["vgpr_spill"] == 0 and r["scratch_bytes"] == 0 and r["occupancy_waves_per_simd"] >= 2, r
        atomic = {"amdgpu": "global_atomic", "nvptx": "red.global"}[get_target(target).family]
        assert (atomic in k.isa) == (stage == 2 and mode == "atomic")


@pytest.mark.parametrize("target", TARGETS)
def test_default_spec_compiles_both_stages(target):
    for stage in (1, 2):
        k = compile(KernelSpec(stage=stage, target=target))
        assert k.resources["vgpr_spill"] == 0 and k.resources["scratch_bytes"] == 0
        if get_target(target).family == "amdgpu":
            assert k.stats["mfma"] > 0 and k.stats["valu_per_mfma"] is not None
        else:
            assert k.binary[:4] == b"\x7fELF"  # a cubin


def test_same_spec_gives_identical_ir_and_assembly():
    spec = spec_for("M", 2, "gfx942")
    a = compile(spec, use_cache=False)
    b = compile(spec, use_cache=False)
    assert a is not b
    assert a.isa == b.isa
    assert a.ir == b.ir


def test_cache_returns_the_same_object():
    spec = spec_for("S", 1, "gfx950")
    assert compile(spec) is compile(spec)
    assert compile(spec) is not compile(spec_for("S", 1, "gfx942"))


def test_fp8_flavour_follows_target():
    assert "f8E4M3FNUZ" in compile(spec_for("S", 1, "gfx942")).ir_after("moe-verify")
    assert "f8E4M3FN>" in compile(spec_for("S", 1, "gfx950")).ir_after("moe-verify")


def test_dump_ir_writes_one_numbered_file_per_pass(tmp_path):
    k = compile(spec_for("S", 2, "gfx950"), dump_ir=tmp_path)
    files = sorted(p.name for p in tmp_path.glob("*.mlir"))
    assert files[0] == "01-moe-verify.mlir"
    assert [f[:2] for f in files] == [f"{i:02d}" for i in range(1, len(files) + 1)]
    names = [f[3:-5] for f in files]
    for p in ("moe-plan", "moe-to-kernel", "moe-unpack-int4", "moe-group-accumulate", "moe-epilogue",
              "moe-to-flydsl"):
        assert p in names
    assert (tmp_path / "kernel.s").read_text() == k.isa
    res = json.loads((tmp_path / "resources.json").read_text())
    assert res["vgpr_spill"] == 0


def test_dump_ir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MOE_CODEGEN_DUMP_IR", str(tmp_path))
    compile(spec_for("S", 1, "gfx942"), use_cache=False)
    assert (tmp_path / "01-moe-verify.mlir").exists()
    assert any(p.name.endswith("moe-to-flydsl.mlir") for p in tmp_path.iterdir())


def test_each_stage_is_reparsable_mlir():
    from moe_codegen.mlir import new_context, parse_module
    k = compile(spec_for("S", 2, "gfx942"))
    with new_context() as ctx:
        for label, text in k.ir.items():
            if "gpu-module-to-binary" in label:
                continue
            parse_module(text, ctx)


@pytest.mark.parametrize("bad,msg", [
    (dict(dtype="fp4"), "unsupported dtype 'fp4'"),
    (dict(group_size=48), "group size 48 not supported"),
    (dict(target="gfx90a"), "unsupported target 'gfx90a'"),
    (dict(target="sm_90", inter_dim=2052), "multiples of 8"),
    (dict(target="sm_90", model_dim=7104), "multiple of 128"),
    (dict(mode="scatter"), "mode 'scatter' not supported"),
    (dict(out_dtype="f8"), "out dtype 'f8' not supported"),
    (dict(stage=2, mode="reduce", out_dtype="f32"), "reduce mode writes 16-bit per-slot rows"),
    (dict(stage=1, mode="reduce", kernel="reduce"), "the reduce kernel belongs to stage 2 in reduce mode"),
    (dict(stage=2, masked=True), "valid_mask (masked) is read by the reduce kernel only"),
    (dict(out_dtype="f32"), "stage 1 output is f16 or bf16"),
    (dict(topk=500), "topk 500 exceeds experts"),
    (dict(stage=3), "stage must be 1 or 2"),
    (dict(inter_dim=2040), "multiples of 32"),
    (dict(tile_m=64, tile_n=256, stage=1), "accumulator registers per lane"),
    (dict(tile_k=96), "tile_k 96"),
    (dict(prefetch=4), "prefetch must be 0, 1 (every load a K tile ahead), 2 (the weights) or 3"),
])
def test_bad_specs_raise_one_clear_error(bad, msg):
    with pytest.raises(MoeCodegenError, match=re.escape(msg)):
        compile(KernelSpec(**bad), use_cache=False)


def test_valu_per_mfma_is_reported_for_the_k_loop():
    k = compile(spec_for("L", 1, "gfx950"))
    # group-32 int4 -> fp8 cost in the K loop; tracked, and must stay bounded
    assert 0 < k.stats["valu_per_mfma"] < 12, k.stats


def test_sm90_ptx_has_the_promised_instructions():
    k1 = compile(spec_for("S", 1, "sm_90"))
    k2 = compile(spec_for("S", 2, "sm_90"))
    assert "cvt.rn.f16x2.e4m3x2" in k1.isa and "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32" in k1.isa
    assert "red.global.add.noftz.bf16x2" in k2.isa
    for k in (k1, k2):
        assert "atom.global.cas" not in k.isa and "atom.cas" not in k.isa
    assert "red.global" not in k1.isa and "st.global.b32" in k1.isa


def _loads_before_the_loop(ptx: str) -> int:
    """Global loads of the PTX before the K loop's header (the first label a later branch jumps back to)."""
    lines = ptx.splitlines()
    defined = {}
    for i, line in enumerate(lines):
        if m := re.match(r"^(\$L__BB\w+):", line):
            defined[m.group(1)] = i
        elif (m := re.search(r"bra(?:\.uni)?\s+(\$L__BB\w+);", line)) and m.group(1) in defined:
            return sum("ld.global" in ln for ln in lines[:defined[m.group(1)]])
    raise AssertionError("no loop in the PTX")


@pytest.mark.parametrize("dtype,group", [("int4_fp8", 32), ("int4_bf16", 32), ("fp8", -1)])
@pytest.mark.parametrize("prefetch", [1, 2, 3])
def test_prefetched_loads_stay_a_tile_ahead(prefetch, dtype, group):
    """The loop carries the next K tile's loads; LLVM folds a phi of two loads (one before the loop, one
    in its body) into a single load at the use, which ends the pipeline, unless something after them may
    write memory (moe.issue_loads).  Every carried value must be loaded before the loop in the PTX."""
    spec = dict(tile_m=16, tile_n=64, tile_k=128)
    direct = _loads_before_the_loop(compile(spec_for("M", 1, "sm_90", dtype=dtype, group=group, prefetch=0,
                                                     **spec)).isa)
    k = compile(spec_for("M", 1, "sm_90", dtype=dtype, group=group, prefetch=prefetch, **spec))
    loop = re.search(r"scf\.for .*-> \((.*)\)\s*(?::\s*i32)?\s*\{", k.ir_after("moe-to-kernel")).group(1).split(", ")
    carried = sum(t != "vector<4xf32>" for t in loop)   # (the rest: accumulators)
    assert carried > 0
    assert _loads_before_the_loop(k.isa) >= direct + carried


def test_staged_weights_use_async_copies_and_fit():
    k = compile(spec_for("M", 1, "sm_90", stages=3))
    assert k.isa.count("cp.async.cg.shared.global") > 0 and re.search(r"cp.async.wait_group\s+2;", k.isa)
    assert "ld.shared.v4" in k.isa and "bar.sync" not in k.isa   # each lane reads back its own copies
    assert 0 < k.launch["shared_bytes"] == k.resources["lds_bytes"] <= get_target("sm_90").lds_limit
    assert k.resources["vgpr_spill"] == 0
    with pytest.raises(MoeCodegenError, match="no asynchronous global -> shared copies"):
        compile(spec_for("S", 1, "gfx942", stages=3))
    with pytest.raises(MoeCodegenError, match="shared memory, over the sm_90 limit"):
        compile(spec_for("L", 1, "sm_90", stages=8, tile_m=16, tile_n=64, tile_k=2048))


def test_artifacts_are_self_describing(tmp_path):
    from moe_codegen.artifacts import build_artifacts
    out = build_artifacts("sm_90", tmp_path, "runtime", log=lambda *_: None)
    index = json.loads((out / "index.json").read_text())
    assert {e["shape"] for e in index} == {"S", "M", "L", "DSV3_decode1"}
    for e in index:
        meta = json.loads((out / e["id"] / "meta.json").read_text())
        assert meta["resources"]["vgpr_spill"] == 0
        assert (out / e["id"] / "kernel.cubin").read_bytes()[:4] == b"\x7fELF"
        # the token count last, or before the weights' tensor map (TMA kernels, which say how to encode it)
        assert meta["args"][-1] == "tokens:i32" or (meta["args"][-2:] == ["tokens:i32", "w_map"] and meta["tma"] == 1
                                                    and set(meta["w_map"]) == {"dims", "strides", "box", "swizzle"})
        # GEMM: 1, 2 or 4 warps (times k_waves where warps split K too); the prefill (wgmma) kernel also 2
        # warpgroups, or 3 at 192-token tiles
        kw = meta.get("k_waves", 1)
        assert kw == (e.get("k_waves") or kw)   # the user's, or the plan's (tuned table)
        assert meta["block"] in ((256,) if e["kernel"] == "reduce" else (32, 64, 128, 256, 384) if e.get("wgmma")
                                 else (32 * kw, 64 * kw, 128 * kw))
        assert (meta["block"] == 384) == (meta.get("tile_m") == 192)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("masked", [False, True])
def test_reduce_mode_kernels_fit_and_use_no_atomics(target, masked):
    common = dict(stage=2, mode="reduce", target=target, model_dim=7168, inter_dim=2048, experts=384, topk=9)
    gemm = compile(KernelSpec(**common))
    red = compile(KernelSpec(**common, kernel="reduce", masked=masked))
    for k in (gemm, red):
        assert k.resources["vgpr_spill"] == 0 and k.resources["scratch_bytes"] == 0
        assert "atomic" not in k.isa.replace("moe_stage2_int4_fp8_g32_bf16_atomic", "")
        assert "red.global" not in k.isa
    assert red.launch["args"] == ["partial"] + (["valid_mask"] if masked else []) + ["out", "tokens:i32"]


@pytest.mark.parametrize("asked,want", [(dict(prefetch=1), (1, 0)), (dict(stages=3), (0, 3)), ({}, None)])
def test_a_k_loop_the_user_asks_for_replaces_the_tuned_one(asked, want):
    """The tuned table gives the int4 prefill tiles a ring (stages); a user's prefetch (or ring) replaces
    the table's K loop instead of joining it (both at once would be no kernel at all)."""
    from moe_codegen.passes.plan import choose, tuned

    spec = KernelSpec(stage=2, dtype="int4_fp8", group_size=32, target="sm_90", model_dim=7168, inter_dim=2048,
                      experts=64, topk=8, tokens_hint=4096, **asked)
    t = tuned(spec)
    assert t is not None and t["stages"] >= 2, "the table no longer gives this case a ring: pick another case"
    plan, _ = choose(spec)
    assert (plan["prefetch"], plan["stages"]) == (want or (0, t["stages"]))
    assert plan["tile_n"] == t["tile_n"] and plan["raster"] == get_target("sm_90").raster_rows // plan["tile_m"]


def test_a_final_search_times_only_the_finalists_of_earlier_ones():
    """build-artifacts --finalists: the tiles suite keeps, per case, the FINALISTS fastest correct variants
    of each earlier search (a slow or wrong row does not get in), nothing else."""
    from moe_codegen.artifacts import FINALISTS, finalist_variants, tiles_suite

    def row(tn, us, ok=True, tokens=8):
        return dict(shape="kimi_e64", dtype="int4_fp8_g32", tokens=tokens, stage=1, tile_m=8, tile_n=tn, tile_k=256,
                    waves=4, prefetch=1, stages=0, split_k=1, tma=0, us=us, ok=ok)
    first = {"rows": [row(32, 10.0, ok=False), row(64, 11.0), row(128, 12.0), row(256, 13.0)]
             + [dict(row(64, 20.0 + i), tile_k=128 * 2 ** (i % 3), waves=2 + 2 * (i % 2)) for i in range(6)]}
    second = {"rows": [row(256, 5.0), row(32, 6.0)]}
    keep = finalist_variants([first, second])
    assert len(keep) == FINALISTS + 2 - 1   # (256 is a finalist of both)
    specs = [s for _, s in tiles_suite("sm_90", dtypes=["int4_fp8"], tokens=[8], finalists=keep)]
    got = {(s.tile_n, s.tile_k, s.waves, s.prefetch) for s in specs}
    assert (32, 256, 4, 1) in got and (64, 256, 4, 1) in got and (256, 256, 4, 1) in got
    assert (64, 512, 2, 1) not in got   # the sixth-fastest of the first search
    assert all(s.stage == 1 and s.tile_m == 8 and s.model_dim == 7168 and s.inter_dim == 2048 for s in specs)
