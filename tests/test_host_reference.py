import math

import pytest
import torch

from moe_codegen.host import (dequant_int4, make_topk, quantize_int4, quantize_rows, ref_stage1, ref_stage2,
                              rel_l2, worst_row_rel)

T, E, TOPK, K, INTER, MODEL = 7, 4, 2, 64, 16, 24


def silu(v):
    return v / (1 + math.exp(-v))


@pytest.fixture
def case():
    g = torch.Generator().manual_seed(11)
    ids, w = make_topk(T, E, TOPK, kind="empty_experts", generator=g)  # experts 2, 3 unused
    x_q, sx = quantize_rows(torch.randn(T, K, generator=g), "int8")
    q1, s1 = quantize_int4(torch.randn(E, 2 * INTER, K, generator=g), 32)
    q2, s2 = quantize_int4(torch.randn(E, MODEL, INTER, generator=g), -1)
    return g, ids, w, x_q, sx, dequant_int4(q1, s1, 32), dequant_int4(q2, s2, -1)


def naive_stage1(xd, w1, ids, w, doweight, row_of=lambda t, s: t):
    out = torch.zeros(T, TOPK, INTER)
    for t in range(T):
        for s in range(TOPK):
            e = int(ids[t, s])
            for i in range(INTER):
                g = sum(float(xd[row_of(t, s), k]) * float(w1[e, i, k]) for k in range(K))
                u = sum(float(xd[row_of(t, s), k]) * float(w1[e, INTER + i, k]) for k in range(K))
                out[t, s, i] = silu(g) * u * (float(w[t, s]) if doweight else 1.0)
    return out


@pytest.mark.parametrize("doweight", [False, True])
def test_stage1_matches_naive(case, doweight):
    _, ids, w, x_q, sx, w1, _ = case
    xd = x_q.float() * sx[:, None]
    got = ref_stage1(x_q, sx, w1, ids, w, doweight=doweight)
    assert got.shape == (T, TOPK, INTER) and got.dtype == torch.float32
    torch.testing.assert_close(got, naive_stage1(xd, w1, ids, w, doweight), rtol=1e-4, atol=1e-4)


def test_stage1_per_slot_rows(case):
    # int8smooth: x has topk*tokens rows, row slot*tokens + token, each with its own scale.
    g, ids, w, _, _, w1, _ = case
    x_q, sx = quantize_rows(torch.randn(TOPK * T, K, generator=g), "int8")
    xd = x_q.float() * sx[:, None]
    got = ref_stage1(x_q, sx, w1, ids, w, doweight=False)
    want = naive_stage1(xd, w1, ids, w, False, row_of=lambda t, s: s * T + t)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("doweight", [False, True])
def test_stage2_matches_naive(case, doweight):
    g, ids, w, _, _, _, w2 = case
    a2_q, sa2 = quantize_rows(torch.randn(T, TOPK, INTER, generator=g), "int8")
    got = ref_stage2(a2_q, sa2, w2, ids, w, doweight=doweight)
    want = torch.zeros(T, MODEL)
    for t in range(T):
        for s in range(TOPK):
            e, c = int(ids[t, s]), (float(w[t, s]) if doweight else 1.0)
            for n in range(MODEL):
                want[t, n] += c * sum(float(a2_q[t, s, k]) * float(sa2[t, s]) * float(w2[e, n, k])
                                      for k in range(INTER))
    assert got.shape == (T, MODEL) and got.dtype == torch.float32
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    mask = torch.zeros(T, TOPK, dtype=torch.bool)
    mask[:, 0] = True
    only0 = ref_stage2(a2_q, sa2, w2, ids, w, doweight=doweight, valid_mask=mask)
    ids0 = ids.clone()
    ids0[:, 1] = E  # an expert the weights do not have contributes nothing
    torch.testing.assert_close(only0, ref_stage2(a2_q, sa2, w2, ids0, w, doweight=doweight))


def test_error_metrics():
    g = torch.Generator().manual_seed(12)
    ref = torch.randn(100, 32, generator=g)
    assert rel_l2(ref, ref) == 0 and worst_row_rel(ref, ref) == 0
    assert abs(rel_l2(ref * 1.01, ref) - 0.01) < 1e-6
    bad = ref.clone()
    bad[37] = 0  # one lost row hides in the global figure but not per row
    assert rel_l2(bad, ref) < 0.15 and abs(worst_row_rel(bad, ref) - 1.0) < 1e-9
    nan = ref.clone()
    nan[3, 3] = float("nan")
    assert not rel_l2(nan, ref) <= 1 and not worst_row_rel(nan, ref) <= 1
    z = ref.clone()
    z[5] = 0
    assert worst_row_rel(z, z) == 0  # zero rows on both sides: no 0/0
    junk = z.clone()
    junk[5] = 1.0  # junk written into a row the reference leaves zero
    assert worst_row_rel(junk, z) > 1
    assert worst_row_rel(torch.randn(4, 3, 8, generator=g), torch.randn(4, 3, 8, generator=g)) > 0
