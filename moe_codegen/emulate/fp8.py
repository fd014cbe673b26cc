"""The two e4m3 flavours of the AMD targets, from their definitions (not from any library).

e4m3fnuz (gfx942, "FP8" of the CDNA3 ISA): 1 sign, 4 exponent (bias 8), 3 mantissa bits, no
infinities, one NaN (0x80, "negative zero"), largest finite 240.
e4m3fn (gfx950, OCP 8-bit floating point E4M3): bias 7, no infinities, NaN = S.1111.111, largest
finite 448, +-0.
"""
from __future__ import annotations

import numpy as np

FLAVOURS = {"gfx942": "fnuz", "gfx950": "fn"}


def decode_table(flavour: str) -> np.ndarray:
    """float32 value of every byte 0..255."""
    bias = 8 if flavour == "fnuz" else 7
    out = np.empty(256, dtype=np.float64)
    for code in range(256):
        s, e, m = code >> 7, (code >> 3) & 0xF, code & 7
        if flavour == "fnuz" and code == 0x80:
            out[code] = np.nan
            continue
        if flavour == "fn" and e == 0xF and m == 7:
            out[code] = np.nan
            continue
        mag = (m / 8.0) * 2.0 ** (1 - bias) if e == 0 else (1 + m / 8.0) * 2.0 ** (e - bias)
        out[code] = -mag if s else mag
    return out.astype(np.float32)


_DECODE = {f: decode_table(f) for f in ("fnuz", "fn")}
_ENCODE_CACHE: dict = {}


def _positive_codes(flavour):
    """Finite non-negative codes sorted by value (0 first), with their values."""
    if flavour not in _ENCODE_CACHE:
        t = _DECODE[flavour]
        codes = np.array([c for c in range(128) if np.isfinite(t[c])], dtype=np.int64)
        _ENCODE_CACHE[flavour] = (codes, t[codes].astype(np.float64))
    return _ENCODE_CACHE[flavour]


def decode(codes: np.ndarray, flavour: str) -> np.ndarray:
    return _DECODE[flavour][codes.astype(np.uint8)]


def encode(x: np.ndarray, flavour: str, clamp: bool = False) -> np.ndarray:
    """Round to nearest, ties to the even code; overflow saturates with `clamp`, else becomes NaN.

    CDNA3 ISA, V_CVT_PK_FP8_F32: round to nearest even; out-of-range results saturate only when the
    clamp bit is set.
    """
    x = np.asarray(x, dtype=np.float64)
    codes, vals = _positive_codes(flavour)
    mag = np.abs(x)
    i = np.clip(np.searchsorted(vals, mag), 1, len(vals) - 1)
    lo, hi = vals[i - 1], vals[i]
    pick_hi = (mag - lo > hi - mag) | ((mag - lo == hi - mag) & (codes[i] % 2 == 0))
    out = np.where(pick_hi, codes[i], codes[i - 1])
    vmax = vals[-1]
    # beyond the largest finite value: rounds to max up to half an ulp above, then overflows
    ulp = vals[-1] - vals[-2]
    over = mag > vmax + ulp / 2 if not clamp else np.zeros_like(mag, dtype=bool)
    out = np.where(mag >= vmax, codes[-1], out)
    sign = np.signbit(x) & ~((out == 0) & (flavour == "fnuz"))   # fnuz has no -0 (0x80 is NaN)
    out = out | np.where(sign, 0x80, 0)
    nan = 0x80 if flavour == "fnuz" else 0x7F
    out = np.where(np.isnan(x) | over, nan | np.where((flavour == "fn") & np.signbit(x), 0x80, 0), out)
    return out.astype(np.uint8)
