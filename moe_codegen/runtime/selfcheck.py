"""Run one compiled stage on fresh random data and compare with the torch reference (SPEC section 6).

Shared by the GPU tests, the emulated AMD tests and `moe-codegen compile` on a CUDA machine.  A
kernel is anything with `.spec` (dict), `.tile_m` and a call (x, w, sx, sw, routing, out): the CUDA
launcher or the AMD emulator.  Random int4 codes over all 16 values, bf16 group scales, NaN in
padding weights, a NaN-poisoned stage-1 output.
"""
from __future__ import annotations

import math

import torch

from ..host import (dequant_int4, make_topk, moe_sorting, prepare_fp8_weights, prepare_weights, quantize_rows,
                    random_int4, ref_stage1, ref_stage2, rel_l2, worst_row_rel)

TARGET = "sm_90"
OUT_DTYPES = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}


def generators(seed=None, device="cuda"):
    seed = torch.randint(0, 2**31 - 1, (1,)).item() if seed is None else seed
    return seed, torch.Generator().manual_seed(seed), torch.Generator(device=device).manual_seed(seed)


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def weights(E, N, K, G, gen):
    """int4 codes and their scales: bf16 [E, K/G, N] per group, f32 [E, N] per row (G = -1)."""
    codes = random_int4(E, N, K, generator=gen)
    shape, dtype = ((E, K // G, N), torch.bfloat16) if G > 0 else ((E, N), torch.float32)
    scale = (torch.rand(*shape, generator=gen, device=gen.device) * 0.02 + 0.002).to(dtype)
    return codes, scale


def stage_weights(spec, N, K, gen, target):
    """(prepared weights, dequantized f32 [E, N, K]) for the spec's weight dtype."""
    E, G = spec["experts"], spec["group_size"]
    if spec["dtype"] == "fp8":   # fp8 weights, per-row f32 scales, the target's fp8 flavour
        q, scale = quantize_rows(torch.randn(E, N, K, generator=gen, device=gen.device), "fp8", target)
        return prepare_fp8_weights(q, scale, target=target), q.float() * scale[..., None]
    codes, scale = weights(E, N, K, G, gen)
    return prepare_weights(codes, scale, target=target, group_size=G), dequant_int4(codes, scale, G)


def routing(kernel, tokens, kind, gcpu, device="cuda"):
    s = kernel.spec
    ids, w = make_topk(tokens, s["experts"], s["topk"], kind=kind, generator=gcpu)
    r = moe_sorting(ids, w, s["experts"], kernel.tile_m, pad_weight=math.nan)
    return ids.to(device), w.to(device), r.to(device)


def run_stage1(kernel, tokens, *, kind="uniform", corrupt=False, seed=None, target=TARGET, device="cuda"):
    """(out, ref, seed); with `corrupt`, one group scale of a used expert is wrong on the kernel side."""
    s = kernel.spec
    md, inter, k = s["model_dim"], s["inter_dim"], s["topk"]
    seed, gcpu, gdev = generators(seed, device)
    ids, tw, r = routing(kernel, tokens, kind, gcpu, device)
    x_q, sx = quantize_rows(torch.randn(tokens, md, generator=gdev, device=device), "fp8", target)
    prep, w_deq = stage_weights(s, 2 * inter, md, gdev, target)
    sw = prep.scale.clone()
    if corrupt:  # group 0 (per group) or the row scale, column 3, of the first token's expert
        sw[(int(ids[0, 0]),) + ((0, 3) if sw.dim() == 3 else (3,))] *= 4
    out = torch.full((tokens, k, inter), float("nan"), dtype=OUT_DTYPES[s["out_dtype"]], device=device)
    kernel(x_q, prep.w, sx, sw, r, out)
    _sync(device)
    ref = ref_stage1(x_q, sx, w_deq, ids, tw, doweight=s["doweight_stage1"])
    return out, ref, seed


def run_stage2(kernel, tokens, *, kind="uniform", seed=None, target=TARGET, device="cuda", reduce=None):
    """Atomic mode: the GEMM adds into a zeroed output.  Reduce mode: the GEMM writes NaN-poisoned
    per-slot rows, then `reduce` (the reduce kernel; with a mask when compiled for one, about a third
    of the slots invalid) sums them into a NaN-poisoned output."""
    s = kernel.spec
    md, inter, k = s["model_dim"], s["inter_dim"], s["topk"]
    dtype = OUT_DTYPES[s["out_dtype"]]
    seed, gcpu, gdev = generators(seed, device)
    ids, tw, r = routing(kernel, tokens, kind, gcpu, device)
    a2, sa2 = quantize_rows(torch.randn(tokens, k, inter, generator=gdev, device=device), "fp8", target)
    prep, w_deq = stage_weights(s, md, inter, gdev, target)
    mask = None
    if s["mode"] == "reduce":
        if reduce is None:
            raise ValueError("reduce mode needs its reduce kernel")
        partial = torch.full((tokens, k, md), float("nan"), dtype=dtype, device=device)
        kernel(a2, prep.w, sa2, prep.scale, r, partial)
        if reduce.spec["masked"]:
            mask = (torch.rand(tokens, k, generator=gcpu) > 0.3).to(torch.uint8).to(device)
        out = torch.full((tokens, md), float("nan"), dtype=dtype, device=device)
        reduce(partial, out, valid_mask=mask)
    else:
        out = torch.zeros(tokens, md, dtype=dtype, device=device)
        kernel(a2, prep.w, sa2, prep.scale, r, out)
    _sync(device)
    ref = ref_stage2(a2, sa2, w_deq, ids, tw, doweight=not s["doweight_stage1"],
                     valid_mask=mask)
    return out, ref, seed


def verdict(out, ref):
    """(ok, message) by SPEC 6: no NaN/Inf; rel L2 <= 1e-2 and worst row <= 3e-2 for 16-bit outputs,
    rel L2 <= 2e-3 for f32 outputs."""
    bad = bool(torch.isnan(out).any() or torch.isinf(out).any())
    err, worst = rel_l2(out.float(), ref), worst_row_rel(out.float(), ref)
    limit = 2e-3 if out.dtype == torch.float32 else 1e-2
    ok = not bad and err <= limit and worst <= 3e-2
    return ok, f"rel_l2 {err:.3e} worst_row {worst:.3e}{' NaN/Inf in output' if bad else ''}"
