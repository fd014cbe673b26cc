"""f32 torch reference for both stages (SPEC 1, 6), written for clarity rather than speed."""
from __future__ import annotations

import torch

from .quant import dequant_rows as _deq_rows


def ref_stage1(x_q, sx, w1_deq, topk_ids, topk_weights, *, doweight: bool, slot_major: bool | None = None
               ) -> torch.Tensor:
    """out1[t, s] = silu(x[t] @ gate_e^T) * (x[t] @ up_e^T) (* w[t, s]), f32 [tokens, topk, inter].

    x_q is [tokens, K] with sx [tokens] (None for f16/bf16), or, for int8smooth (slot_major), [topk*tokens, K]
    with row slot*tokens + token and sx [topk*tokens]. slot_major None: inferred from the row count.
    Slots routed to experts outside w1_deq are left zero.
    """
    tokens, topk = topk_ids.shape
    E, two_inter, _ = w1_deq.shape
    inter = two_inter // 2
    x = _deq_rows(x_q, sx)
    per_slot = x.shape[0] == tokens * topk if slot_major is None else slot_major
    want = tokens * topk if per_slot else tokens
    if x.shape[0] != want:
        raise ValueError(f"x has {x.shape[0]} rows, expected {want} ({'slot-major' if per_slot else 'per token'})")
    w = topk_weights.to(torch.float32)
    out = x.new_zeros(tokens, topk, inter)
    for e in range(E):
        t, s = torch.nonzero(topk_ids == e, as_tuple=True)
        if t.numel() == 0:
            continue
        rows = x[s * tokens + t] if per_slot else x[t]
        h = rows @ w1_deq[e].to(torch.float32).T
        act = torch.nn.functional.silu(h[:, :inter]) * h[:, inter:]
        out[t, s] = act * w[t, s].unsqueeze(-1) if doweight else act
    return out


def ref_stage2(a2_q, sa2, w2_deq, topk_ids, topk_weights, *, doweight: bool, valid_mask=None) -> torch.Tensor:
    """out2[t] = sum_s (w[t, s] if doweight else 1) * deq(a2[t, s]) @ w2_e^T, f32 [tokens, model_dim].

    sa2 is [tokens, topk] (None for 16-bit a2). valid_mask [tokens, topk] drops slots as reduce mode does.
    """
    tokens, topk = topk_ids.shape
    E, model_dim, _ = w2_deq.shape
    a = _deq_rows(a2_q, sa2)
    coef = topk_weights.to(torch.float32) if doweight else a.new_ones(tokens, topk)
    if valid_mask is not None:
        coef = coef * valid_mask.to(torch.float32)
    out = a.new_zeros(tokens, model_dim)
    for e in range(E):
        t, s = torch.nonzero(topk_ids == e, as_tuple=True)
        if t.numel() == 0:
            continue
        rows = (a[t, s] @ w2_deq[e].to(torch.float32).T) * coef[t, s].unsqueeze(-1)
        out.index_add_(0, t, rows)
    return out


def rel_l2(out: torch.Tensor, ref: torch.Tensor) -> float:
    """||out - ref|| / ||ref|| in f64 (NaN in out propagates, so a leak fails any <= check)."""
    o, r = out.double(), ref.double()
    return float(torch.linalg.vector_norm(o - r) / torch.linalg.vector_norm(r).clamp_min(1e-30))


def worst_row_rel(out: torch.Tensor, ref: torch.Tensor, *, floor_frac: float = 1e-3) -> float:
    """Max over tokens (dim 0) of the per-row relative L2 error.

    Row norms are floored at floor_frac * mean row norm: a zero reference row (no routed slot,
    expert parallelism) then measures the junk written into it against the typical row scale.
    """
    o = out.double().reshape(out.shape[0], -1)
    r = ref.double().reshape(ref.shape[0], -1)
    rn = torch.linalg.vector_norm(r, dim=1)
    floor = (floor_frac * rn.mean()).clamp_min(1e-30)
    err = torch.linalg.vector_norm(o - r, dim=1) / torch.maximum(rn, floor)
    return float(err.max()) if err.numel() else 0.0
