"""Run one compiled stage on fresh random data and compare with the torch reference (SPEC section 6).

Shared by the GPU tests, the emulated AMD tests and `moe-codegen compile` on a CUDA machine.  A
kernel is anything with `.spec` (dict), `.tile_m` and a call (x, w, sx, sw, routing, out): the CUDA
launcher or the AMD emulator.  Every dtype of spec.DTYPES: activations in the dtype's format
(fp8 / int8 per token, int8smooth per (slot, token) row, bf16 / f16 unscaled: sx None), weights
likewise (int4 codes over all 16 values with bf16 group or f32 row scales, fp8 / int8 per row,
bf16 / f16 unscaled: sw None).  NaN in padding weights, a NaN-poisoned stage-1 output.
"""
from __future__ import annotations

import math

import torch

from ..host import (dequant_int4, make_topk, moe_sorting, prepare_dense_weights, prepare_dtype_weights,
                    prepare_weights, quantize_act, random_int4, random_weights, ref_stage1, ref_stage2, rel_l2,
                    unpack_prepared, worst_row_rel)
from ..spec import DTYPES

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
    """(prepared weights, dequantized f32 [E, N, K]) for the spec's dtype (spec: experts, dtype, group_size)."""
    dtype = spec["dtype"]
    info = DTYPES[dtype]
    E, G = spec["experts"], spec.get("group_size", -1)
    if info.weight == "int4":
        codes, scale = weights(E, N, K, G, gen)
        return prepare_weights(codes, scale, target=target, group_size=G, dtype=dtype), dequant_int4(codes, scale, G)
    # fp8 (the target's flavour) / int8: randn quantized per row, f32 [E, N] scales; bf16 / f16: no scale
    q, scale, deq = random_weights(E, N, K, info.weight, target=target, generator=gen)
    return prepare_dense_weights(q, scale, target=target, dtype=dtype), deq


def activations(spec, stage, tokens, gen, target, device="cuda"):
    """(x, sx) in the dtype's activation format, from randn.

    Stage 1: x [tokens, model_dim], sx [tokens]; int8smooth: x [topk*tokens, model_dim] (row
    slot*tokens + token) with sx [topk*tokens].  Stage 2: a2 [tokens, topk, inter_dim] quantized per
    (token, slot) row, sa2 [tokens, topk].  16-bit activations: cast, scale None.
    """
    info = DTYPES[spec["dtype"]]
    if stage == 1:
        shape = ((spec["topk"] if info.slot_major else 1) * tokens, spec["model_dim"])
    else:
        shape = (tokens, spec["topk"], spec["inter_dim"])
    return quantize_act(torch.randn(*shape, generator=gen, device=device), info.act, target)


def corrupted(prep, expert, target):
    """(w, sw) for the kernel with one weight row wrong: row (output column) 3 of `expert`.

    Scaled weights: its scale times 4 (every K group's, for group scales: one group alone can carry too
    little of the dot product for the check to see it on every draw).  Unscaled (bf16 / f16): the row's
    weights times 4.
    """
    if prep.scale is not None:
        sw = prep.scale.clone()
        if sw.dim() == 3:
            sw[expert, :, 3] *= 4
        else:
            sw[expert, 3] *= 4
        return prep.w, sw
    logical = unpack_prepared(prep).clone()
    logical[expert, 3] *= 4
    return prepare_dtype_weights(logical, None, target=target, dtype=prep.dtype).w, None


def routing(kernel, tokens, kind, gcpu, device="cuda"):
    s = kernel.spec
    ids, w = make_topk(tokens, s["experts"], s["topk"], kind=kind, generator=gcpu)
    r = moe_sorting(ids, w, s["experts"], kernel.tile_m, pad_weight=math.nan)
    return ids.to(device), w.to(device), r.to(device)


def run_stage1(kernel, tokens, *, kind="uniform", corrupt=False, seed=None, target=TARGET, device="cuda"):
    """(out, ref, seed); with `corrupt`, one weight scale (or, unscaled, one weight row) of a used
    expert is wrong on the kernel side."""
    s = kernel.spec
    inter, k = s["inter_dim"], s["topk"]
    seed, gcpu, gdev = generators(seed, device)
    ids, tw, r = routing(kernel, tokens, kind, gcpu, device)
    x_q, sx = activations(s, 1, tokens, gdev, target, device)
    prep, w_deq = stage_weights(s, 2 * inter, s["model_dim"], gdev, target)
    w, sw = corrupted(prep, int(ids[0, 0]), target) if corrupt else (prep.w, prep.scale)
    out = torch.full((tokens, k, inter), float("nan"), dtype=OUT_DTYPES[s["out_dtype"]], device=device)
    kernel(x_q, w, sx, sw, r, out)
    _sync(device)
    ref = ref_stage1(x_q, sx, w_deq, ids, tw, doweight=s["doweight_stage1"], slot_major=DTYPES[s["dtype"]].slot_major)
    return out, ref, seed


def run_stage2(kernel, tokens, *, kind="uniform", seed=None, target=TARGET, device="cuda", reduce=None):
    """Atomic mode: the GEMM adds into a zeroed output.  Reduce mode: the GEMM writes NaN-poisoned
    per-slot rows, then `reduce` (the reduce kernel; with a mask when compiled for one, about a third
    of the slots invalid) sums them into a NaN-poisoned output."""
    s = kernel.spec
    md, k = s["model_dim"], s["topk"]
    dtype = OUT_DTYPES[s["out_dtype"]]
    seed, gcpu, gdev = generators(seed, device)
    ids, tw, r = routing(kernel, tokens, kind, gcpu, device)
    a2, sa2 = activations(s, 2, tokens, gdev, target, device)
    prep, w_deq = stage_weights(s, md, s["inter_dim"], gdev, target)
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


def run_layer_check(stage1, stage2, tokens, *, kind="uniform", seed=None, target=TARGET, device="cuda"):
    """The whole-layer helper on fresh data: [(name, out, ref)] for stage 1 against the reference and
    stage 2 against the reference evaluated on the kernel's own re-quantized a2 (SPEC 6), and the seed."""
    from .layer import run_layer

    s = stage1.spec
    T, md, inter = tokens, s["model_dim"], s["inter_dim"]
    seed, gcpu, gdev = generators(seed, device)
    ids, tw, r = routing(stage1, T, kind, gcpu, device)
    x, sx = activations(s, 1, T, gdev, target, device)
    p1, w1 = stage_weights(s, 2 * inter, md, gdev, target)
    p2, w2 = stage_weights(stage2.spec, md, inter, gdev, target)
    out1, a2, sa2, out2 = run_layer(stage1, stage2, x, sx, p1.w, p1.scale, p2.w, p2.scale, r, target=target)
    _sync(device)
    return [("stage1", out1, ref_stage1(x, sx, w1, ids, tw, doweight=s["doweight_stage1"])),
            ("stage2", out2, ref_stage2(a2, sa2, w2, ids, tw, doweight=not s["doweight_stage1"]))], seed
