"""W4A_FP8 group-32 kernels on an sm_90 GPU against the torch reference (SPEC section 6).

Fresh random data every run, int4 codes over all 16 values, NaN in padding weights, stage-1 output
poisoned with NaN (every element must be written), odd token counts, topk 9, and routing that is
uniform, all-on-one-expert and with empty experts.
"""
import math

import pytest
import torch

from moe_codegen.artifacts import SHAPES
from moe_codegen.host import (dequant_int4, make_topk, moe_sorting, prepare_weights, quantize_rows,
                              random_int4, ref_stage1, ref_stage2, rel_l2, worst_row_rel)

TARGET = "sm_90"
G = 32


def report(name, out, ref):
    err, worst = rel_l2(out.float(), ref), worst_row_rel(out.float(), ref)
    print(f"\n{name}: rel_l2 {err:.3e} worst_row {worst:.3e}")
    return err, worst


def check(name, out, ref):
    assert not torch.isnan(out).any(), f"{name}: NaN in output (unwritten or leaked padding)"
    assert not torch.isinf(out).any(), f"{name}: Inf in output"
    err, worst = report(name, out, ref)
    assert err <= 1e-2, f"{name}: relative L2 error {err:.3e} > 1e-2"
    assert worst <= 3e-2, f"{name}: worst row relative error {worst:.3e} > 3e-2"


def weights(E, N, K, gen):
    codes = random_int4(E, N, K, generator=gen)
    scale = (torch.rand(E, K // G, N, generator=gen, device=gen.device) * 0.02 + 0.002).to(torch.bfloat16)
    return codes, scale


def routing_for(shape, kernel, kind, gen_cpu, dev):
    T, md, inter, E, k = SHAPES[shape]
    ids, w = make_topk(T, E, k, kind=kind, generator=gen_cpu)
    r = moe_sorting(ids, w, E, kernel.tile_m, pad_weight=math.nan)
    return ids.to(dev), w.to(dev), r.to(dev)


def seeds():
    s = torch.randint(0, 2**31 - 1, (1,)).item()
    print(f"\nseed {s}")
    return torch.Generator().manual_seed(s), torch.Generator(device="cuda").manual_seed(s)


def stage1_case(artifacts, shape, kind="uniform", corrupt=False):
    T, md, inter, E, k = SHAPES[shape]
    kern = artifacts.find(shape=shape, stage=1, dtype="int4_fp8", group_size=G)
    gcpu, gdev = seeds()
    dev = torch.device("cuda")
    ids, tw, routing = routing_for(shape, kern, kind, gcpu, dev)
    x_q, sx = quantize_rows(torch.randn(T, md, generator=gdev, device=dev), "fp8", TARGET)
    codes, scale = weights(E, 2 * inter, md, gdev)
    prep = prepare_weights(codes, scale, target=TARGET, group_size=G)
    sw = prep.scale.clone()
    if corrupt:  # one group scale of one used expert, kernel side only
        e = int(ids[0, 0])
        sw[e, 0, 3] *= 4
    out = torch.full((T, k, inter), float("nan"), dtype=torch.bfloat16, device=dev)
    kern(x_q, prep.w, sx, sw, routing, out)
    torch.cuda.synchronize()
    ref = ref_stage1(x_q, sx, dequant_int4(codes, scale, G), ids, tw, doweight=False)
    return out, ref


def stage2_case(artifacts, shape, kind="uniform"):
    T, md, inter, E, k = SHAPES[shape]
    kern = artifacts.find(shape=shape, stage=2, dtype="int4_fp8", group_size=G)
    gcpu, gdev = seeds()
    dev = torch.device("cuda")
    ids, tw, routing = routing_for(shape, kern, kind, gcpu, dev)
    a2, sa2 = quantize_rows(torch.randn(T, k, inter, generator=gdev, device=dev), "fp8", TARGET)
    codes, scale = weights(E, md, inter, gdev)
    prep = prepare_weights(codes, scale, target=TARGET, group_size=G)
    out = torch.zeros(T, md, dtype=torch.bfloat16, device=dev)  # atomic mode accumulates into zero
    kern(a2, prep.w, sa2, prep.scale, routing, out)
    torch.cuda.synchronize()
    ref = ref_stage2(a2, sa2, dequant_int4(codes, scale, G), ids, tw, doweight=True)
    return out, ref


@pytest.mark.parametrize("shape", list(SHAPES))
def test_stage1(artifacts, shape):
    out, ref = stage1_case(artifacts, shape)
    check(f"stage1 {shape}", out, ref)


@pytest.mark.parametrize("shape", list(SHAPES))
def test_stage2_atomic_bf16(artifacts, shape):
    out, ref = stage2_case(artifacts, shape)
    check(f"stage2 {shape}", out, ref)


@pytest.mark.parametrize("kind", ["one_expert", "empty_experts"])
@pytest.mark.parametrize("stage", [1, 2])
def test_routing_edge_cases(artifacts, kind, stage):
    out, ref = (stage1_case if stage == 1 else stage2_case)(artifacts, "S", kind)
    check(f"stage{stage} S {kind}", out, ref)


def test_corrupted_scale_is_caught(artifacts):
    out, ref = stage1_case(artifacts, "S", corrupt=True)
    err, worst = report("stage1 S with one corrupted group scale", out, ref)
    assert worst > 3e-2, "a wrong group scale went unnoticed: the comparison is not sensitive enough"


@pytest.mark.parametrize("shape", list(SHAPES))
def test_whole_layer(artifacts, shape):
    from moe_codegen.runtime.layer import run_layer

    T, md, inter, E, k = SHAPES[shape]
    k1 = artifacts.find(shape=shape, stage=1, dtype="int4_fp8", group_size=G)
    k2 = artifacts.find(shape=shape, stage=2, dtype="int4_fp8", group_size=G)
    gcpu, gdev = seeds()
    dev = torch.device("cuda")
    ids, tw, routing = routing_for(shape, k1, "uniform", gcpu, dev)
    x_q, sx = quantize_rows(torch.randn(T, md, generator=gdev, device=dev), "fp8", TARGET)
    c1, s1 = weights(E, 2 * inter, md, gdev)
    c2, s2 = weights(E, md, inter, gdev)
    p1 = prepare_weights(c1, s1, target=TARGET, group_size=G)
    p2 = prepare_weights(c2, s2, target=TARGET, group_size=G)
    out1, a2, sa2, out2 = run_layer(k1, k2, x_q, sx, p1.w, p1.scale, p2.w, p2.scale, routing, target=TARGET)
    torch.cuda.synchronize()
    check(f"layer stage1 {shape}", out1, ref_stage1(x_q, sx, dequant_int4(c1, s1, G), ids, tw, doweight=False))
    # stage 2 against the reference on the kernel's own a2 (SPEC 6: end to end is not a valid test)
    check(f"layer stage2 {shape}", out2, ref_stage2(a2, sa2, dequant_int4(c2, s2, G), ids, tw, doweight=True))
