"""Run one compiled stage on fresh random data and compare with the torch reference (SPEC section 6).

Shared by the GPU tests and by `moe-codegen compile` when a CUDA GPU is present.  Random int4 codes
over all 16 values, bf16 group scales, NaN in padding weights, a NaN-poisoned stage-1 output.
"""
from __future__ import annotations

import math

import torch

from ..host import (dequant_int4, make_topk, moe_sorting, prepare_weights, quantize_rows, random_int4,
                    ref_stage1, ref_stage2, rel_l2, worst_row_rel)

TARGET = "sm_90"


def generators(seed=None):
    seed = torch.randint(0, 2**31 - 1, (1,)).item() if seed is None else seed
    return seed, torch.Generator().manual_seed(seed), torch.Generator(device="cuda").manual_seed(seed)


def weights(E, N, K, G, gen):
    codes = random_int4(E, N, K, generator=gen)
    scale = (torch.rand(E, K // G, N, generator=gen, device=gen.device) * 0.02 + 0.002).to(torch.bfloat16)
    return codes, scale


def routing(kernel, tokens, kind, gcpu):
    s = kernel.spec
    ids, w = make_topk(tokens, s["experts"], s["topk"], kind=kind, generator=gcpu)
    r = moe_sorting(ids, w, s["experts"], kernel.tile_m, pad_weight=math.nan)
    return ids.cuda(), w.cuda(), r.to("cuda")


def run_stage1(kernel, tokens, *, kind="uniform", corrupt=False, seed=None):
    """(out, ref, seed); with `corrupt`, one group scale of a used expert is wrong on the kernel side."""
    s = kernel.spec
    md, inter, E, k, G = s["model_dim"], s["inter_dim"], s["experts"], s["topk"], s["group_size"]
    seed, gcpu, gdev = generators(seed)
    ids, tw, r = routing(kernel, tokens, kind, gcpu)
    x_q, sx = quantize_rows(torch.randn(tokens, md, generator=gdev, device="cuda"), "fp8", TARGET)
    codes, scale = weights(E, 2 * inter, md, G, gdev)
    prep = prepare_weights(codes, scale, target=TARGET, group_size=G)
    sw = prep.scale.clone()
    if corrupt:
        sw[int(ids[0, 0]), 0, 3] *= 4
    out = torch.full((tokens, k, inter), float("nan"), dtype=torch.bfloat16, device="cuda")
    kernel(x_q, prep.w, sx, sw, r, out)
    torch.cuda.synchronize()
    return out, ref_stage1(x_q, sx, dequant_int4(codes, scale, G), ids, tw, doweight=False), seed


def run_stage2(kernel, tokens, *, kind="uniform", seed=None):
    s = kernel.spec
    md, inter, E, k, G = s["model_dim"], s["inter_dim"], s["experts"], s["topk"], s["group_size"]
    seed, gcpu, gdev = generators(seed)
    ids, tw, r = routing(kernel, tokens, kind, gcpu)
    a2, sa2 = quantize_rows(torch.randn(tokens, k, inter, generator=gdev, device="cuda"), "fp8", TARGET)
    codes, scale = weights(E, md, inter, G, gdev)
    prep = prepare_weights(codes, scale, target=TARGET, group_size=G)
    out = torch.zeros(tokens, md, dtype=torch.bfloat16, device="cuda")  # atomic mode adds into zero
    kernel(a2, prep.w, sa2, prep.scale, r, out)
    torch.cuda.synchronize()
    return out, ref_stage2(a2, sa2, dequant_int4(codes, scale, G), ids, tw, doweight=True), seed


def verdict(out, ref):
    """(ok, message) by SPEC 6: no NaN/Inf, rel L2 <= 1e-2, worst row <= 3e-2 (16-bit outputs)."""
    bad = bool(torch.isnan(out).any() or torch.isinf(out).any())
    err, worst = rel_l2(out.float(), ref), worst_row_rel(out.float(), ref)
    ok = not bad and err <= 1e-2 and worst <= 3e-2
    return ok, f"rel_l2 {err:.3e} worst_row {worst:.3e}{' NaN/Inf in output' if bad else ''}"
