import pytest
import torch

from moe_codegen.host import FP8_MAX, dequant_int4, fp8_dtype, quantize_int4, quantize_rows, random_int4


def test_fp8_dtype_by_target():
    assert fp8_dtype("gfx942") == torch.float8_e4m3fnuz
    assert fp8_dtype("gfx950") == torch.float8_e4m3fn == fp8_dtype("sm_90")
    assert FP8_MAX[torch.float8_e4m3fn] == 448 and FP8_MAX[torch.float8_e4m3fnuz] == 240
    with pytest.raises(ValueError):
        fp8_dtype("gfx90a")


def test_int8_rows_scale_rne_and_zero_row():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 64, generator=g) * 3
    x[1, 2] = 0
    q, s = quantize_rows(x, "int8")
    assert q.dtype == torch.int8 and q.shape == x.shape and s.dtype == torch.float32 and s.shape == (2, 3)
    amax = x.abs().amax(-1)
    assert torch.equal(s[amax > 0], (amax / 127)[amax > 0]) and s[1, 2] == 1 and (q[1, 2] == 0).all()
    assert torch.equal(q.abs().amax(-1)[amax > 0], torch.full((5,), 127, dtype=torch.int8))
    assert torch.equal(q, torch.round(x / s[..., None]).clamp(-127, 127).to(torch.int8))
    # amax 127 -> scale 1, so ties show the rounding rule: half to even.
    q, s = quantize_rows(torch.tensor([[0.5, 1.5, 2.5, -2.5, -3.5, 127.0]]), "int8")
    assert s.item() == 1 and q.tolist() == [[0, 2, 2, -2, -4, 127]]


@pytest.mark.parametrize("target", ["gfx942", "gfx950", "sm_90"])
def test_fp8_rows(target):
    dt = fp8_dtype(target)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(33, 128, generator=g) * torch.logspace(-3, 3, 33)[:, None]
    x[5] = 0
    q, s = quantize_rows(x, "fp8", target)
    assert q.dtype == dt and s.shape == (33,) and s[5] == 1
    nz = x.abs().amax(-1) > 0
    assert torch.equal(s[nz], x.abs().amax(-1)[nz] / FP8_MAX[dt])
    deq = q.float() * s[:, None]
    assert not torch.isnan(deq).any()
    assert ((deq - x).abs() <= x.abs().amax(-1, keepdim=True) * 2 ** -3 / 2 + 1e-30).all()
    with pytest.raises(ValueError):
        quantize_rows(x, "fp8")


def test_clamp_before_cast():
    # A subnormal amax makes the scale inexact, so x / scale lands well above the format max:
    # without the clamp, e4m3fnuz turns 250 into NaN and int8 would see 128.
    amax = torch.tensor(3.5733110840282835e-43)
    x = torch.stack([amax, -amax, amax / 3]).view(1, 3)
    assert (amax / (amax / 240)).item() >= 248 and torch.round(amax / (amax / 127)).item() >= 128
    q, s = quantize_rows(x, "fp8", "gfx942")
    assert not torch.isnan(q.float()).any() and q.float().abs().max() == 240
    q, _ = quantize_rows(x, "int8")
    assert q.tolist()[0][:2] == [127, -127]


@pytest.mark.parametrize("group_size", [-1, 32, 64, 128])
def test_quantize_int4(group_size):
    g = torch.Generator().manual_seed(2)
    E, N, K = 3, 16, 256
    w = torch.randn(E, N, K, generator=g)
    w[0, 3] = 0  # a zero row / zero groups -> scale 1
    q, s = quantize_int4(w, group_size)
    assert q.dtype == torch.int8 and q.shape == w.shape and q.min() >= -7 and q.max() <= 7
    if group_size == -1:
        assert s.dtype == torch.float32 and s.shape == (E, N) and s[0, 3] == 1
        assert torch.equal(s[1:], w[1:].abs().amax(-1) / 7)
        s_full = s[..., None]
    else:
        G = group_size
        assert s.dtype == torch.bfloat16 and s.shape == (E, K // G, N) and (s[0, :, 3] == 1).all()
        amax = w.view(E, N, K // G, G).abs().amax(-1).transpose(1, 2)
        assert torch.equal(s[1:], (amax / 7).to(torch.bfloat16)[1:])
        s_full = s.float().transpose(1, 2).repeat_interleave(G, 2)
    # q must come from the stored (rounded) scale.
    assert torch.equal(q, torch.round(w / s_full).clamp(-7, 7).to(torch.int8))
    deq = dequant_int4(q, s, group_size)
    assert torch.equal(deq, q.float() * s_full)
    assert ((deq - w).abs() <= 0.51 * s_full).all()


def test_int4_f32_group_scale():
    w = torch.randn(2, 8, 64, generator=torch.Generator().manual_seed(3))
    q, s = quantize_int4(w, 32, scale_dtype=torch.float32)
    assert s.dtype == torch.float32 and s.shape == (2, 2, 8)
    assert torch.equal(s, (w.view(2, 8, 2, 32).abs().amax(-1) / 7).transpose(1, 2))
    with pytest.raises(ValueError):
        quantize_int4(w, 48)


@pytest.mark.parametrize("group_size", [-1, 32])
def test_random_int4_all_codes_dequant(group_size):
    g = torch.Generator().manual_seed(4)
    E, N, K = 2, 4, 64
    q = random_int4(E, N, K, g)
    assert q.dtype == torch.int8 and set(torch.unique(q).tolist()) == set(range(-8, 8))
    if group_size == -1:
        s = torch.rand(E, N, generator=g) + 0.5
    else:
        s = (torch.rand(E, K // group_size, N, generator=g) + 0.5).to(torch.bfloat16)
    deq = dequant_int4(q, s, group_size)
    for e in range(E):
        for n in range(N):
            for k in range(K):
                sc = s[e, n] if group_size == -1 else s[e, k // group_size, n]
                assert deq[e, n, k] == q[e, n, k].float() * sc.float()


# ---- every dtype of SPEC 2 ----------------------------------------------------------------------

from moe_codegen.host import (act_torch_dtype, dequant_rows, quantize_act, quantize_weights,  # noqa: E402
                              random_int8, random_weights, weight_torch_dtype)


@pytest.mark.parametrize("target", ["gfx942", "gfx950", "sm_90"])
def test_act_and_weight_dtypes(target):
    assert act_torch_dtype("fp8", target) == fp8_dtype(target)
    assert act_torch_dtype("i8") == torch.int8 and act_torch_dtype("bf16") == torch.bfloat16
    assert act_torch_dtype("f16") == torch.float16
    assert weight_torch_dtype("int4") == torch.int8 and weight_torch_dtype("fp8", target) == fp8_dtype(target)
    with pytest.raises(ValueError):
        act_torch_dtype("int4")
    with pytest.raises(ValueError):
        act_torch_dtype("fp8")   # needs the target


@pytest.mark.parametrize("act", ["fp8", "i8", "bf16", "f16"])
def test_quantize_act(act):
    g = torch.Generator().manual_seed(5)
    x = torch.randn(3, 5, 64, generator=g) * 7
    q, s = quantize_act(x, act, "gfx942")
    assert q.shape == x.shape
    if act in ("bf16", "f16"):
        assert s is None and q.dtype == {"bf16": torch.bfloat16, "f16": torch.float16}[act]
        assert torch.equal(q, x.to(q.dtype)) and torch.equal(dequant_rows(q, s), q.float())
    else:
        want = quantize_rows(x, "fp8" if act == "fp8" else "int8", "gfx942")
        assert torch.equal(q.view(torch.uint8), want[0].view(torch.uint8)) and torch.equal(s, want[1])
        assert s.shape == (3, 5) and s.dtype == torch.float32
        assert torch.equal(dequant_rows(q, s), q.float() * s[..., None])
        rel = (dequant_rows(q, s) - x).norm() / x.norm()
        assert rel < (0.05 if act == "fp8" else 0.01)
    with pytest.raises(ValueError):
        quantize_act(x, "int4")


@pytest.mark.parametrize("weight,G", [("int4", 32), ("int4", -1), ("fp8", -1), ("i8", -1), ("bf16", -1),
                                      ("f16", -1)])
def test_quantize_and_random_weights(weight, G):
    g = torch.Generator().manual_seed(6)
    E, N, K = 2, 8, 64
    w = torch.randn(E, N, K, generator=g)
    q, s = quantize_weights(w, weight, target="sm_90", group_size=G)
    assert q.shape == w.shape and q.dtype == weight_torch_dtype(weight, "sm_90")
    if weight in ("bf16", "f16"):
        assert s is None
    elif weight == "int4":
        assert torch.equal(q, quantize_int4(w, G)[0])
    else:
        assert s.shape == (E, N) and s.dtype == torch.float32
    q, s, deq = random_weights(E, N, K, weight, target="gfx942", group_size=G, generator=g)
    assert q.dtype == weight_torch_dtype(weight, "gfx942") and deq.dtype == torch.float32
    assert deq.shape == (E, N, K) and torch.isfinite(deq).all() and 0.005 < deq.abs().mean() < 0.2
    if weight == "int4":
        assert torch.equal(deq, dequant_int4(q, s, G))
        assert s.dtype == (torch.bfloat16 if G > 0 else torch.float32)
    else:
        assert torch.equal(deq, dequant_rows(q, s))
    if weight != "int4":
        with pytest.raises(ValueError):
            quantize_weights(w, weight, target="sm_90", group_size=32)


def test_random_int8():
    q, s = random_int8(2, 8, 64, torch.Generator().manual_seed(7))
    assert q.dtype == torch.int8 and s.shape == (2, 8) and s.dtype == torch.float32
    assert (q.abs().amax(-1) == 127).all()
