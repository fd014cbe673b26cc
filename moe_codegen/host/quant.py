"""Symmetric quantizers matching SPEC 1b (scale = amax / qmax, RNE, clamp before cast)."""
from __future__ import annotations

import torch

_FP8_BY_TARGET = {
    "gfx942": torch.float8_e4m3fnuz,
    "gfx950": torch.float8_e4m3fn,
    "sm_90": torch.float8_e4m3fn,
    "sm_90a": torch.float8_e4m3fn,
}
FP8_MAX = {torch.float8_e4m3fn: 448.0, torch.float8_e4m3fnuz: 240.0}
INT8_MAX = 127
INT4_MAX = 7


def fp8_dtype(target: str) -> torch.dtype:
    try:
        return _FP8_BY_TARGET[target]
    except KeyError:
        raise ValueError(f"unknown target {target!r}; expected one of {sorted(_FP8_BY_TARGET)}") from None


def _row_scale(amax: torch.Tensor, qmax: float, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    scale = (amax / qmax).to(dtype)
    # Zero rows get scale 1 (SPEC 1b); testing after the cast also catches a scale that underflowed.
    return torch.where(scale > 0, scale, torch.ones_like(scale))


def quantize_rows(x: torch.Tensor, kind: str, target: str | None = None):
    """Per-row (last dim) symmetric quantization -> (q, scale f32 of shape x.shape[:-1]).

    kind: "int8" (or "i8", the DtypeInfo spelling) or "fp8" (needs the target: its fp8 flavour).
    """
    x = x.to(torch.float32)
    amax = x.abs().amax(dim=-1)
    if kind in ("int8", "i8"):
        scale = _row_scale(amax, INT8_MAX)
        q = torch.round(x / scale.unsqueeze(-1)).clamp_(-INT8_MAX, INT8_MAX).to(torch.int8)
    elif kind == "fp8":
        if target is None:
            raise ValueError("fp8 quantization needs a target (the fp8 flavour depends on it)")
        dt = fp8_dtype(target)
        fmax = FP8_MAX[dt]
        scale = _row_scale(amax, fmax)
        # e4m3fnuz has no saturating cast: an overflow becomes NaN, so clamp first.
        q = (x / scale.unsqueeze(-1)).clamp_(-fmax, fmax).to(dt)
    else:
        raise ValueError(f"unknown quantization kind {kind!r}; expected 'fp8' or 'int8'")
    return q, scale


_FLOAT16 = {"bf16": torch.bfloat16, "f16": torch.float16}


def act_torch_dtype(act: str, target: str | None = None) -> torch.dtype:
    """torch dtype of quantized activations of an activation element (DtypeInfo.act)."""
    if act == "fp8":
        if target is None:
            raise ValueError("fp8 activations need a target (the fp8 flavour depends on it)")
        return fp8_dtype(target)
    if act in ("i8", "int8"):
        return torch.int8
    if act in _FLOAT16:
        return _FLOAT16[act]
    raise ValueError(f"unknown activation element {act!r}; expected fp8, i8, bf16 or f16")


def weight_torch_dtype(weight: str, target: str | None = None) -> torch.dtype:
    """torch dtype of logical weights of a weight element (DtypeInfo.weight; int4: the int8 codes)."""
    if weight == "int4":
        return torch.int8
    if weight in ("fp8", "i8", "int8", "bf16", "f16"):
        return act_torch_dtype(weight, target)
    raise ValueError(f"unknown weight element {weight!r}; expected int4, fp8, i8, bf16 or f16")


def quantize_act(x: torch.Tensor, act: str, target: str | None = None):
    """Activations in a dtype's activation format (DtypeInfo.act) -> (q, scale or None).

    fp8 / i8: per-row (last dim) symmetric quantization, f32 scale of shape x.shape[:-1];
    bf16 / f16: a cast, no scale.
    """
    if act in _FLOAT16:
        return x.to(_FLOAT16[act]), None
    if act in ("fp8", "i8", "int8"):
        return quantize_rows(x, act, target)
    raise ValueError(f"unknown activation element {act!r}; expected fp8, i8, bf16 or f16")


def dequant_rows(q: torch.Tensor, scale: torch.Tensor | None) -> torch.Tensor:
    """f32 values of per-row quantized data (scale of shape q.shape[:-1]) or of unscaled 16-bit data."""
    x = q.to(torch.float32)
    return x if scale is None else x * scale.to(torch.float32).unsqueeze(-1)


def quantize_weights(w: torch.Tensor, weight: str, *, target: str | None = None, group_size: int = -1):
    """Weights [E, N, K] in a weight element's format (DtypeInfo.weight) -> (q, scale or None).

    int4: quantize_int4 (int8 codes, f32 row / bf16 group scales); fp8 / i8: per row, f32 [E, N];
    bf16 / f16: a cast, no scale.
    """
    if weight == "int4":
        return quantize_int4(w, group_size)
    if group_size != -1:
        raise ValueError(f"{weight} weights are scaled per row (group_size -1), got group_size {group_size}")
    if weight in ("fp8", "i8"):
        return quantize_rows(w, weight, target)
    if weight in _FLOAT16:
        return w.to(_FLOAT16[weight]), None
    raise ValueError(f"unknown weight element {weight!r}; expected int4, fp8, i8, bf16 or f16")


def random_int8(E: int, N: int, K: int, generator: torch.Generator | None = None, device=None):
    """int8 weights with per-row f32 scales [E, N] (codes up to +-127): random_weights' int8 draw."""
    q, scale, _ = random_weights(E, N, K, "i8", generator=generator, device=device)
    return q, scale


def random_weights(E: int, N: int, K: int, weight: str, *, target: str | None = None, group_size: int = -1,
                   generator: torch.Generator | None = None, device=None):
    """Random test weights of a weight element -> (q, scale or None, f32 dequantized [E, N, K]).

    int4: codes over all 16 values with bf16 group scales [E, K/G, N] or f32 row scales [E, N];
    fp8 / i8: randn * 0.05 quantized per row (f32 scales [E, N]); bf16 / f16: randn * 0.05 cast, no scale.
    Magnitudes like the int4 ones (|w| ~ 0.05), so that stage-1 products stay far from the f16 range
    at model_dim 7168.
    """
    if device is None and generator is not None:
        device = generator.device
    if weight == "int4":
        q = random_int4(E, N, K, generator=generator, device=device)
        if group_size != -1 and (group_size <= 0 or K % group_size):
            raise ValueError(f"group_size {group_size} must be -1 or a positive divisor of K={K}")
        shape, dt = ((E, K // group_size, N), torch.bfloat16) if group_size > 0 else ((E, N), torch.float32)
        scale = (torch.rand(*shape, generator=generator, device=device) * 0.02 + 0.002).to(dt)
        return q, scale, dequant_int4(q, scale, group_size)
    if group_size != -1:
        raise ValueError(f"{weight} weights are scaled per row (group_size -1), got group_size {group_size}")
    if weight in ("fp8", "i8"):
        w = torch.randn(E, N, K, generator=generator, device=device) * 0.05
        q, scale = quantize_rows(w, weight, target)
        return q, scale, dequant_rows(q, scale)
    if weight in _FLOAT16:
        q = (torch.randn(E, N, K, generator=generator, device=device) * 0.05).to(_FLOAT16[weight])
        return q, None, q.float()
    raise ValueError(f"unknown weight element {weight!r}; expected int4, fp8, i8, bf16 or f16")


def quantize_int4(w: torch.Tensor, group_size: int, *, scale_dtype: torch.dtype | None = None):
    """int4 weights in -7..7 as int8 [E, N, K].

    Scales: per row (group_size=-1) [E, N], f32 by default; per group [E, K//G, N], bf16 by default.
    q is computed from the stored (rounded) scale so that dequantization on both sides agrees.
    """
    if w.dim() != 3:
        raise ValueError(f"w must be [E, N, K], got shape {tuple(w.shape)}")
    E, N, K = w.shape
    w = w.to(torch.float32)
    if group_size == -1:
        scale = _row_scale(w.abs().amax(dim=-1), INT4_MAX, scale_dtype or torch.float32)  # [E, N]
        q = torch.round(w / scale.float().unsqueeze(-1))
    else:
        if group_size <= 0 or K % group_size:
            raise ValueError(f"group_size {group_size} must be -1 or a positive divisor of K={K}")
        wg = w.reshape(E, N, K // group_size, group_size)
        scale = _row_scale(wg.abs().amax(dim=-1), INT4_MAX, scale_dtype or torch.bfloat16)  # [E, N, K/G]
        q = torch.round(wg / scale.float().unsqueeze(-1)).view(E, N, K)
        scale = scale.transpose(1, 2).contiguous()                           # [E, K/G, N]
    return q.clamp_(-INT4_MAX, INT4_MAX).to(torch.int8), scale


def random_int4(E: int, N: int, K: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """Codes drawn from all 16 values -8..7 (quantize_int4 never emits -8, kernels must decode it)."""
    if device is None and generator is not None:
        device = generator.device
    return torch.randint(-8, 8, (E, N, K), generator=generator, dtype=torch.int8, device=device)


def dequant_int4(q: torch.Tensor, scale: torch.Tensor, group_size: int) -> torch.Tensor:
    E, N, K = q.shape
    s = scale.to(torch.float32)
    if group_size == -1:
        if s.shape != (E, N):
            raise ValueError(f"per-row scale must be [{E}, {N}], got {tuple(s.shape)}")
        return q.to(torch.float32) * s.unsqueeze(-1)
    if group_size <= 0 or K % group_size or s.shape != (E, K // group_size, N):
        raise ValueError(f"group_size {group_size} with K={K}: scale must be [E, K/G, N], got {tuple(s.shape)}")
    return q.to(torch.float32) * s.transpose(1, 2).repeat_interleave(group_size, dim=2)
