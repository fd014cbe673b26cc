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
    """Per-row (last dim) symmetric quantization -> (q, scale f32 of shape x.shape[:-1])."""
    x = x.to(torch.float32)
    amax = x.abs().amax(dim=-1)
    if kind == "int8":
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
