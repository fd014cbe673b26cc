"""runtime/selfcheck.py and runtime/layer.py on CPU, every dtype and target, with fake kernels.

A fake kernel computes the stage in torch from what a real kernel receives: the prepared weight
bytes (decoded with unpack_prepared), the scales and the sorted routing (sentinels skipped, the
routed weight taken from sorted_weights).  So these tests check the data generation, the shapes and
dtypes of every argument, and the reference; a fake that is wrong in one row must fail the verdict.
"""
import dataclasses

import pytest
import torch

from moe_codegen import KernelSpec
from moe_codegen.host import PreparedWeights, dequant_int4, fp8_dtype, unpack_prepared
from moe_codegen.host import ref_stage1, ref_stage2
from moe_codegen.runtime.layer import requantize, run_layer
from moe_codegen.runtime.selfcheck import (activations, generators, routing, run_stage1, run_stage2, stage_weights,
                                           verdict)
from moe_codegen.spec import DTYPES
from moe_codegen.weight_layout import geometry

TARGETS = ("gfx942", "gfx950", "sm_90")
T, MD, INTER, E, TOPK = 37, 256, 128, 4, 2
ACT = {"fp8": None, "i8": torch.int8, "bf16": torch.bfloat16, "f16": torch.float16}


def spec_of(dtype, stage, target, **kw):
    G = kw.pop("group_size", 32 if DTYPES[dtype].weight == "int4" else -1)
    s = KernelSpec(stage=stage, dtype=dtype, target=target, model_dim=MD, inter_dim=INTER, experts=E, topk=TOPK,
                   group_size=G, tokens_hint=T, **kw).validate()
    return dataclasses.asdict(s)


class FakeKernel:
    """Same call as the real kernels: (x, w, sx, sw, routing, out)."""

    def __init__(self, spec, tile_m=16, bad_token=None):
        self.spec, self.tile_m, self.bad_token = spec, tile_m, bad_token
        self.calls = []

    def weights(self, w, sw):
        s = self.spec
        info = DTYPES[s["dtype"]]
        N, K = (2 * s["inter_dim"], s["model_dim"]) if s["stage"] == 1 else (s["model_dim"], s["inter_dim"])
        g = geometry(s["target"], info.weight, s["dtype"])
        assert w.dtype == torch.uint8 and w.shape == g.shape(s["experts"], N, K)
        G = s["group_size"] if info.weight == "int4" else -1
        p = PreparedWeights(w=w, scale=sw, layout=g.name, n=N, k=K, experts=s["experts"], group_size=G,
                            dtype=s["dtype"], target=s["target"])
        v = unpack_prepared(p)
        if info.weight == "int4":
            return dequant_int4(v, sw, G)
        assert (sw is None) == (not info.weight_scaled)
        return v.float() if sw is None else v.float() * sw[..., None]

    def __call__(self, x, w, sx, sw, r, out):
        s = self.spec
        info = DTYPES[s["dtype"]]
        self.calls.append(dict(x=x, sx=sx, sw=sw))
        want_x = ACT[info.act] or fp8_dtype(s["target"])
        assert x.dtype == want_x and (sx is None) == (not info.act_scaled)
        wd = self.weights(w, sw)
        xd = x.float() if sx is None else x.float() * sx[..., None]
        tokens, topk = r.tokens, r.topk
        ids, ws, experts = r.sorted_token_ids.tolist(), r.sorted_weights.tolist(), r.sorted_expert_ids.tolist()
        nvalid = int(r.num_valid_ids[0])
        acc = torch.zeros(out.shape, dtype=torch.float32)
        written = torch.zeros(out.shape[:2] if s["stage"] == 1 or s["mode"] == "reduce" else out.shape[:1],
                              dtype=torch.bool)
        for b, e in enumerate(experts):
            if e < 0 or b * self.tile_m >= nvalid:
                continue
            for i in range(b * self.tile_m, (b + 1) * self.tile_m):
                t, slot = ids[i] & 0xFFFFFF, ids[i] >> 24
                if slot >= topk or t >= tokens:
                    continue
                if s["stage"] == 1:
                    assert x.shape == ((topk * tokens if info.slot_major else tokens), s["model_dim"])
                    row = xd[slot * tokens + t] if info.slot_major else xd[t]
                    h = wd[e] @ row
                    v = torch.nn.functional.silu(h[:s["inter_dim"]]) * h[s["inter_dim"]:]
                    acc[t, slot] = v * ws[i] if s["doweight_stage1"] else v
                    written[t, slot] = True
                else:
                    assert x.shape == (tokens, topk, s["inter_dim"])
                    v = wd[e] @ xd[t, slot]
                    v = v if s["doweight_stage1"] else v * ws[i]
                    if s["mode"] == "reduce":
                        acc[t, slot] = v
                        written[t, slot] = True
                    else:
                        acc[t] += v
                        written[t] = True
        if self.bad_token is not None:
            acc[self.bad_token] *= 1.1
        if s["stage"] == 2 and s["mode"] == "atomic":
            out += acc.to(out.dtype)
        else:
            out[written] = acc[written].to(out.dtype)
        return out


class FakeReduce:
    def __init__(self, spec):
        self.spec = spec

    def __call__(self, partial, out, valid_mask=None):
        p = partial.float()
        if valid_mask is not None:
            p = torch.where(valid_mask.bool()[..., None], p, 0)
        out.copy_(p.sum(1).to(out.dtype))
        return out


CASES = [(d, t) for d in DTYPES for t in TARGETS]


@pytest.mark.parametrize("dtype,target", CASES)
@pytest.mark.parametrize("stage", [1, 2])
def test_fake_kernel_passes_every_dtype(dtype, target, stage):
    k = FakeKernel(spec_of(dtype, stage, target))
    out, ref, seed = (run_stage1 if stage == 1 else run_stage2)(k, T, target=target, device="cpu", seed=123)
    ok, msg = verdict(out, ref)
    assert ok, f"{dtype} {target} stage {stage}: {msg}"
    c = k.calls[0]
    info = DTYPES[dtype]
    if stage == 1:
        rows = TOPK * T if info.slot_major else T
        assert c["x"].shape == (rows, MD)
        assert (c["sx"] is None) if not info.act_scaled else c["sx"].shape == (rows,)
    else:
        assert c["x"].shape == (T, TOPK, INTER)
        assert (c["sx"] is None) if not info.act_scaled else c["sx"].shape == (T, TOPK)
    if info.act_scaled:
        assert c["sx"].dtype == torch.float32
    assert (c["sw"] is None) == (not info.weight_scaled)


@pytest.mark.parametrize("dtype", ["int8smooth", "int4", "bf16"])
@pytest.mark.parametrize("stage", [1, 2])
def test_fake_kernel_wrong_in_one_row_fails(dtype, stage):
    k = FakeKernel(spec_of(dtype, stage, "sm_90"), bad_token=5)
    out, ref, _ = (run_stage1 if stage == 1 else run_stage2)(k, T, device="cpu")
    ok, msg = verdict(out, ref)
    assert not ok and "worst_row" in msg


@pytest.mark.parametrize("dtype", sorted(DTYPES))
def test_corrupt_is_caught(dtype):
    k = FakeKernel(spec_of(dtype, 1, "gfx942"))
    out, ref, _ = run_stage1(k, T, target="gfx942", device="cpu", corrupt=True)
    ok, msg = verdict(out, ref)
    assert not ok, msg


@pytest.mark.parametrize("dtype", ["int4_bf16", "int8smooth", "f16"])
@pytest.mark.parametrize("masked", [False, True])
def test_reduce_mode(dtype, masked):
    gemm = FakeKernel(spec_of(dtype, 2, "gfx950", mode="reduce"))
    red = FakeReduce(spec_of(dtype, 2, "gfx950", mode="reduce", kernel="reduce", masked=masked))
    out, ref, _ = run_stage2(gemm, T, target="gfx950", device="cpu", reduce=red)
    ok, msg = verdict(out, ref)
    assert ok, msg


@pytest.mark.parametrize("kind", ["one_expert", "empty_experts"])
def test_routing_kinds(kind):
    for stage in (1, 2):
        k = FakeKernel(spec_of("int8smooth", stage, "sm_90", doweight_stage1=True))
        out, ref, _ = (run_stage1 if stage == 1 else run_stage2)(k, T, kind=kind, device="cpu")
        assert verdict(out, ref)[0]


def test_int4_group_and_row_scales():
    for G in (-1, 32, 64, 128):
        k = FakeKernel(spec_of("int4", 2, "gfx942", group_size=G))
        out, ref, _ = run_stage2(k, T, target="gfx942", device="cpu")
        assert verdict(out, ref)[0]
        sw = k.calls[0]["sw"]
        assert sw.dtype == (torch.bfloat16 if G > 0 else torch.float32)
        assert sw.shape == ((E, INTER // G, MD) if G > 0 else (E, MD))


@pytest.mark.parametrize("dtype", sorted(DTYPES))
def test_stage_weights_and_activations(dtype):
    info = DTYPES[dtype]
    s = spec_of(dtype, 1, "gfx942")
    g = torch.Generator().manual_seed(1)
    p, deq = stage_weights(s, 2 * INTER, MD, g, "gfx942")
    assert p.dtype == dtype and deq.dtype == torch.float32 and deq.shape == (E, 2 * INTER, MD)
    assert torch.isfinite(deq).all() and deq.abs().amax() > 0
    x, sx = activations(s, 1, T, g, "gfx942", "cpu")
    assert x.dtype == (ACT[info.act] or torch.float8_e4m3fnuz)
    if info.weight == "int4":   # all 16 codes drawn
        assert set(unpack_prepared(p).unique().tolist()) == set(range(-8, 8))


@pytest.mark.parametrize("dtype,target", CASES)
def test_run_layer_every_dtype(dtype, target):
    info = DTYPES[dtype]
    k1, k2 = FakeKernel(spec_of(dtype, 1, target)), FakeKernel(spec_of(dtype, 2, target))
    seed, gcpu, gdev = generators(device="cpu")
    ids, tw, r = routing(k1, T, "uniform", gcpu, "cpu")
    x, sx = activations(k1.spec, 1, T, gdev, target, "cpu")
    p1, d1 = stage_weights(k1.spec, 2 * INTER, MD, gdev, target)
    p2, d2 = stage_weights(k2.spec, MD, INTER, gdev, target)
    out1, a2, sa2, out2 = run_layer(k1, k2, x, sx, p1.w, p1.scale, p2.w, p2.scale, r, target=target)
    assert a2.shape == (T, TOPK, INTER) and a2.dtype == (ACT[info.act] or fp8_dtype(target))
    assert (sa2 is None) if not info.act_scaled else (sa2.shape == (T, TOPK) and sa2.dtype == torch.float32)
    assert k2.calls[0]["x"] is a2
    for name, out, ref in (("stage1", out1, ref_stage1(x, sx, d1, ids, tw, doweight=False)),
                           ("stage2", out2, ref_stage2(a2, sa2, d2, ids, tw, doweight=True))):
        ok, msg = verdict(out, ref)
        assert ok, f"{dtype} {target} {name}: {msg} (seed {seed})"


def test_requantize():
    g = torch.Generator().manual_seed(2)
    out1 = (torch.randn(T, TOPK, INTER, generator=g) * 3).to(torch.bfloat16)
    a2, sa2 = requantize(out1, "int8smooth", "sm_90")
    assert a2.dtype == torch.int8 and sa2.shape == (T, TOPK)
    assert torch.equal(sa2, out1.float().abs().amax(-1) / 127)
    a2, sa2 = requantize(out1, "fp8", "gfx942")
    assert a2.dtype == torch.float8_e4m3fnuz and torch.equal(sa2, out1.float().abs().amax(-1) / 240)
    a2, sa2 = requantize(out1, "f16", "gfx950")
    assert sa2 is None and a2.dtype == torch.float16 and torch.equal(a2.float(), out1.float())
    a2, sa2 = requantize(out1, "int4_bf16", "gfx950")
    assert sa2 is None and a2.dtype == torch.bfloat16 and torch.equal(a2, out1)


def test_run_layer_rejects_mixed_dtypes():
    from moe_codegen.errors import MoeCodegenError
    k1, k2 = FakeKernel(spec_of("fp8", 1, "sm_90")), FakeKernel(spec_of("int8", 2, "sm_90"))
    with pytest.raises(MoeCodegenError, match="one layer has one dtype"):
        run_layer(k1, k2, None, None, None, None, None, None, None, target="sm_90")
