"""Whole-layer helper: stage 1 -> re-quantize the intermediate per (token, slot) -> stage 2."""
from __future__ import annotations

import torch

from ..host.quant import quantize_rows
from .selfcheck import OUT_DTYPES


def run_layer(stage1, stage2, x_q, sx, w1, sw1, w2, sw2, routing, *, target: str):
    """Returns (out1, a2, sa2, out2); out1 is stage 1's bf16 output, a2/sa2 what stage 2 read."""
    spec = stage1.spec
    tokens, topk, inter = routing.tokens, spec["topk"], spec["inter_dim"]
    out1 = torch.empty(tokens, topk, inter, dtype=OUT_DTYPES[spec["out_dtype"]], device=x_q.device)
    stage1(x_q, w1, sx, sw1, routing, out1)
    a2, sa2 = quantize_rows(out1.float(), "fp8", target)
    out2 = torch.zeros(tokens, spec["model_dim"], dtype=OUT_DTYPES[stage2.spec["out_dtype"]], device=x_q.device)
    stage2(a2.contiguous(), w2, sa2.contiguous(), sw2, routing, out2)
    return out1, a2, sa2, out2
