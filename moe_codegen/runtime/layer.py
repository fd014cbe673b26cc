"""Whole-layer helper: stage 1 -> re-quantize the intermediate per (token, slot) -> stage 2."""
from __future__ import annotations

import torch

from ..errors import MoeCodegenError
from ..host.quant import quantize_act
from ..spec import DTYPES
from .selfcheck import OUT_DTYPES


def requantize(out1: torch.Tensor, dtype: str, target: str):
    """Stage 1's 16-bit output [tokens, topk, inter] -> stage 2's (a2, sa2) in the dtype's activation format.

    fp8 (the target's flavour) / int8 (int8smooth too: a2 stays token-major): per (token, slot) row,
    f32 scales [tokens, topk]; bf16 / f16 activations: a cast, sa2 None.
    """
    if dtype not in DTYPES:
        raise MoeCodegenError(f"unknown dtype '{dtype}'; expected one of {', '.join(DTYPES)}")
    a2, sa2 = quantize_act(out1.float() if DTYPES[dtype].act_scaled else out1, DTYPES[dtype].act, target)
    return a2.contiguous(), (None if sa2 is None else sa2.contiguous())


def run_layer(stage1, stage2, x_q, sx, w1, sw1, w2, sw2, routing, *, target: str):
    """Returns (out1, a2, sa2, out2); out1 is stage 1's 16-bit output, a2/sa2 what stage 2 read.

    x_q / sx in the dtype's stage-1 activation format (int8smooth: [topk*tokens, K], row slot*tokens +
    token, sx [topk*tokens]); sx, sw1, sw2 None for the unscaled sides of 16-bit dtypes.  Stage 2 runs
    in atomic mode into a zeroed output.
    """
    spec, spec2 = stage1.spec, stage2.spec
    dtype = spec["dtype"]
    if spec2["dtype"] != dtype:
        raise MoeCodegenError(f"stage 1 is {dtype} but stage 2 is {spec2['dtype']}: one layer has one dtype")
    if spec2.get("mode", "atomic") != "atomic":
        raise MoeCodegenError("run_layer runs stage 2 in atomic mode; reduce mode needs the reduce kernel")
    tokens, topk, inter = routing.tokens, spec["topk"], spec["inter_dim"]
    out1 = torch.empty(tokens, topk, inter, dtype=OUT_DTYPES[spec["out_dtype"]], device=x_q.device)
    stage1(x_q, w1, sx, sw1, routing, out1)
    a2, sa2 = requantize(out1, dtype, target)
    out2 = torch.zeros(tokens, spec["model_dim"], dtype=OUT_DTYPES[spec2["out_dtype"]], device=x_q.device)
    stage2(a2, w2, sa2, sw2, routing, out2)
    return out1, a2, sa2, out2
