import random
import zlib

import pytest
import torch

from moe_codegen.host import (fp8_dtype, prepare_dense_weights, prepare_dtype_weights, prepare_fp8_weights,
                              prepare_weights, quantize_int4, random_int4, random_weights, unpack_prepared)
from moe_codegen.spec import DTYPES

TARGETS = ("gfx942", "gfx950", "sm_90")
LAYOUTS = {"gfx942": "amdgpu_b32_k64_w4_f32", "gfx950": "amdgpu_b32_k64_w4_f32", "sm_90": "nvptx_t_b16_k128_w4_f16"}
# the int4 layouts before the geometry existed, which the geometry must reproduce byte for byte
OLD_INT4_SHAPE = {"amd": lambda E, N, K: (E, N // 32, K // 64, 2, 64, 8),
                  "nv": lambda E, N, K: (E, N // 8, K // 128, 32, 16)}


def _fam(target):
    return "amd" if target.startswith("gfx") else "nv"


@pytest.mark.parametrize("target", sorted(LAYOUTS))
@pytest.mark.parametrize("group_size", [-1, 32, 128])
def test_round_trip(target, group_size):
    g = torch.Generator().manual_seed(7)
    E, N, K = 3, 64, 256
    q = random_int4(E, N, K, g)
    s = torch.rand((E, N) if group_size == -1 else (E, K // group_size, N), generator=g)
    p = prepare_weights(q, s.transpose(-1, -2).contiguous().transpose(-1, -2), target=target,
                        group_size=group_size)
    assert p.layout == LAYOUTS[target] and (p.experts, p.n, p.k) == (E, N, K) and p.dtype == "int4_fp8"
    assert p.w.dtype == torch.uint8 and p.w.is_contiguous() and p.w.numel() == E * N * K // 2
    shape = (E, N // 32, K // 64, 2, 1, 64, 8) if target.startswith("gfx") else (E, N // 16, K // 128, 1, 2, 32, 16)
    assert p.w.shape == shape
    assert p.scale.is_contiguous() and torch.equal(p.scale, s)
    assert torch.equal(unpack_prepared(p), q)


def test_quantized_weights_round_trip():
    w = torch.randn(2, 32, 128, generator=torch.Generator().manual_seed(8))
    q, s = quantize_int4(w, 32)
    for target in LAYOUTS:
        assert torch.equal(unpack_prepared(prepare_weights(q, s, target=target, group_size=32)), q)


def _single(target, E, N, K, e, n, k, v, old_axes=True):
    q = torch.zeros(E, N, K, dtype=torch.int8)
    q[e, n, k] = v
    p = prepare_weights(q, torch.ones(E, N), target=target, group_size=-1)
    w = p.w ^ 0x88 if p.geometry.offset_binary else p.w     # sm_90's pair scheme stores code + 8
    if old_axes:
        w = w.reshape(OLD_INT4_SHAPE[_fam(target)](E, N, K))   # same bytes, the old axes
    nz = torch.nonzero(w)
    assert nz.shape[0] == 1, "exactly one byte changes"
    return tuple(nz[0].tolist()), int(w[tuple(nz[0])])


def test_hand_checked_amd():
    # n = 37 = 1*32 + 2*2 + 1 -> nb 1, c 2, r 1; k = 75 = 64 + 0*32 + 1*8 + 3 -> kb 1, h 0, kq 1, p 3
    # -> lane kq*16 + c = 18, byte h*4 + p//2 = 1, high nibble.
    assert _single("gfx942", 2, 64, 128, 1, 37, 75, 5) == ((1, 1, 1, 1, 18, 1), 0x50)
    # k = 116 = 64 + 1*32 + 2*8 + 4 -> h 1, kq 2, p 4 -> lane 34, byte 6, low nibble; -8 is nibble 8.
    assert _single("gfx950", 2, 64, 128, 0, 37, 116, -8) == ((0, 1, 1, 1, 34, 6), 0x08)
    assert _single("gfx942", 1, 32, 64, 0, 0, 0, -1) == ((0, 0, 0, 0, 0, 0), 0x0F)


def test_hand_checked_nvidia():
    # int4_fp8 on sm_90: weights as the 16-row MMA operand, lane 4g + t holds columns 2g, 2g + 1.
    # n = 13 -> nb 0, g 6, column 1 of the lane; k = 200 = 128 + 2*32 + 1*8 + 0 -> kb 1, step 2, t 1, p 0
    # -> lane 25, piece 1 (2 steps of 8 bytes a piece), byte 0*8 + 1*4 + nibble 0 // 2 = 4, low nibble.
    assert _single("sm_90", 1, 16, 256, 0, 13, 200, 5, old_axes=False) == ((0, 0, 1, 0, 1, 25, 4), 0x05)
    # k = 119 = 3*32 + 2*8 + 7 -> kb 0, step 3, t 2, p 7 (nibble 7 in the pair order); n = 2 -> g 1,
    # column 0 -> lane 6, piece 1, byte 1*8 + 0*4 + 3 = 11, high nibble.
    assert _single("sm_90", 1, 16, 256, 0, 2, 119, 5, old_axes=False) == ((0, 0, 0, 0, 1, 6, 11), 0x50)


def test_rejects_bad_shapes():
    q = torch.zeros(1, 48, 128, dtype=torch.int8)
    with pytest.raises(ValueError, match="N=48"):
        prepare_weights(q, torch.ones(1, 48), target="gfx942", group_size=-1)
    q = torch.zeros(1, 32, 96, dtype=torch.int8)
    with pytest.raises(ValueError, match="K=96"):
        prepare_weights(q, torch.ones(1, 32), target="gfx942", group_size=-1)
    with pytest.raises(ValueError, match="K=192"):
        prepare_weights(torch.zeros(1, 16, 192, dtype=torch.int8), torch.ones(1, 16), target="sm_90", group_size=-1)
    with pytest.raises(ValueError, match="N=8 must be a multiple of 16"):   # two columns per lane on sm_90
        prepare_weights(torch.zeros(1, 8, 128, dtype=torch.int8), torch.ones(1, 8), target="sm_90", group_size=-1)
    q = torch.zeros(1, 32, 128, dtype=torch.int8)
    with pytest.raises(ValueError):
        prepare_weights(q, torch.ones(1, 32), target="gfx942", group_size=32)  # wrong scale shape
    with pytest.raises(ValueError):
        prepare_weights(q + 8, torch.ones(1, 32), target="gfx942", group_size=-1)  # out of int4 range
    with pytest.raises(ValueError):
        prepare_weights(q, torch.ones(1, 32), target="gfx90a", group_size=-1)
    with pytest.raises(ValueError, match="prepare_dense_weights"):
        prepare_weights(q, torch.ones(1, 32), target="gfx942", group_size=-1, dtype="fp8")
    with pytest.raises(ValueError, match="unknown dtype"):
        prepare_weights(q, torch.ones(1, 32), target="gfx942", group_size=-1, dtype="int3")


def _nibble(v):
    return v & 0xF


@pytest.mark.parametrize("target", ["gfx942", "sm_90"])
def test_every_byte_against_layout_formula(target):
    # The old layout definitions, transcribed literally, one byte at a time (on sm_90 the one-column-per-
    # lane layout is W4A8's, with its byte nibble order: low nibbles elements 0-3, high nibbles 4-7).
    q = random_int4(1, 32, 128, torch.Generator().manual_seed(9))
    p = prepare_weights(q, torch.ones(1, 32), target=target, group_size=-1,
                        dtype="int4_fp8" if target == "gfx942" else "int4")
    w = p.w ^ 0x88 if p.geometry.offset_binary else p.w     # sm_90's pair scheme stores code + 8
    w = w.reshape(OLD_INT4_SHAPE[_fam(target)](1, 32, 128))
    Q = q.tolist()
    for idx in torch.cartesian_prod(*[torch.arange(d) for d in w.shape]).tolist():
        if target == "gfx942":
            e, nb, kb, r, l, b = idx
            n = nb * 32 + 2 * (l % 16) + r
            ks = [kb * 64 + (b // 4) * 32 + (l // 16) * 8 + p for p in (2 * (b % 4), 2 * (b % 4) + 1)]
        else:
            e, nb, kb, l, b = idx
            n, t = nb * 8 + l // 4, l % 4
            elem = lambda P: 4 * (P % 2) + P // 2  # noqa: E731  nibble position P of a word holds element p
            ks = [kb * 128 + (b // 4) * 32 + t * 8 + elem(P) for P in (2 * (b % 4), 2 * (b % 4) + 1)]
        want = _nibble(Q[e][n][ks[0]]) | (_nibble(Q[e][n][ks[1]]) << 4)
        assert int(w[tuple(idx)]) == want, idx


@pytest.mark.parametrize("target", ["gfx942", "sm_90"])
def test_fp8_layout_every_byte(target):
    g = torch.Generator().manual_seed(3)
    w = (torch.randn(1, 32, 128, generator=g) * 4).to(fp8_dtype(target))
    p = prepare_fp8_weights(w, torch.ones(1, 32), target=target)
    W = w.view(torch.uint8)
    if target == "gfx942":   # unchanged: [E, N/32, K/64, 2, 1, 64, 16]
        assert p.w.shape == (1, 1, 2, 2, 1, 64, 16) and p.layout == "amdgpu_b32_k64_w8"
    else:                    # sm_90: pieces of 16 bytes (2 K32 steps), piece-major: [E, N/8, K/128, 1, 2, 32, 16]
        assert p.w.shape == (1, 4, 1, 1, 2, 32, 16) and p.layout == "nvptx_b8_k128_w8"
    for idx in torch.cartesian_prod(*[torch.arange(d) for d in p.w.shape]).tolist():
        if target == "gfx942":
            e, nb, kb, r, _, l, b = idx
            n, k = nb * 32 + 2 * (l % 16) + r, kb * 64 + (b // 8) * 32 + (l // 16) * 8 + b % 8
        else:
            e, nb, kb, _, pc, l, b = idx
            n, k = nb * 8 + l // 4, kb * 128 + (2 * pc + b // 8) * 32 + (l % 4) * 8 + b % 8
        assert int(p.w[tuple(idx)]) == int(W[e, n, k]), idx


# ---- every dtype, every target ------------------------------------------------------------------

# Hand-written from the weight_layout docstring, not from the packer: per family (lanes, block
# columns, tiles per block, K per chunk, lane -> (tile, column), lane -> first k of the step).
FAMILY = {
    "amd": dict(wave=64, bc=32, tiles=2, kc=64),
    "nv": dict(wave=32, bc=8, tiles=1, kc=128),
    "nv_t": dict(wave=32, bc=16, tiles=1, kc=128),   # lane 4g + t: columns 2g, 2g + 1, k 8t
}
TRANSPOSED = ("int4_fp8", "int4_bf16")              # sm_90 dtypes whose weights are the 16-row MMA operand
BITS = {"int4": 4, "fp8": 8, "i8": 8, "bf16": 16, "f16": 16}
# int4 element p -> nibble of the step's 32-bit word, per (family, dtype)
PAIRS = [0, 4, 1, 5, 2, 6, 3, 7]          # nibbles P, P + 4 hold elements 2P, 2P + 1 (f16x2 / bf16x2)
BYTES = [0, 2, 4, 6, 1, 3, 5, 7]          # low nibbles hold elements 0-3, high nibbles 4-7 (i8x16)
NIBBLE = {("amd", "int4_fp8"): list(range(8)), ("nv_t", "int4_fp8"): PAIRS,
          ("amd", "int4"): BYTES, ("nv", "int4"): BYTES,
          ("amd", "int4_bf16"): list(range(8)), ("nv_t", "int4_bf16"): PAIRS}


def expected_location(target, dtype, E, N, K, e, n, k):
    """(index of the byte(s) in the packed tensor, nibble or None) of element (e, n, k), by the formula."""
    fam = _fam(target)
    if fam == "nv" and dtype in TRANSPOSED:
        fam = "nv_t"
    F = FAMILY[fam]
    bits = BITS[DTYPES[dtype].weight]
    cols = 2 if fam == "nv_t" else 1              # weight columns per lane and step
    steps = F["kc"] // 32
    spp = min(steps, 16 // (bits * cols))         # steps per 16-byte piece
    nb, c = divmod(n, F["bc"])
    kb, kk = divmod(k, F["kc"])
    step, r = divmod(kk, 32)
    kq, p = divmod(r, 8)                          # lane's k offset 8 * kq, element p of the step
    if fam == "amd":                              # lane l: column l % 16 of tile, k 8 * (l // 16); col 2c + tile
        tile, lane = c % 2, 16 * kq + c // 2
    elif fam == "nv":                             # lane 4g + t: column g, k 8t
        tile, lane = 0, 4 * c + kq
    else:                                         # lane 4g + t: columns 2g, 2g + 1 (word c % 2 of the step)
        tile, lane = 0, 4 * (c // 2) + kq
    piece, sp = divmod(step, spp)
    base = (e, nb, kb, tile, piece, lane)
    step_byte = sp * bits * cols + (c % 2) * bits if fam == "nv_t" else sp * bits
    if bits == 4:
        P = NIBBLE[(fam, dtype)][p]
        return base + (step_byte + P // 2,), P % 2
    if bits == 8:
        return base + (step_byte + p,), None
    return base + (step_byte + 2 * p,), None      # low byte; the high byte follows


def _random_logical(dtype, target, E, N, K, G, g):
    q, scale, _ = random_weights(E, N, K, DTYPES[dtype].weight, target=target, group_size=G, generator=g)
    return q, scale


DTYPE_CASES = [(d, G) for d, info in DTYPES.items() for G in ((-1, 32, 128) if info.weight == "int4" else (-1,))]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype,G", DTYPE_CASES)
def test_every_dtype_round_trip_and_formula(target, dtype, G):
    # odd multiples of the block sizes of both families, odd expert count
    E, N, K = 3, 96, 384
    g = torch.Generator().manual_seed(zlib.crc32(f"{target}{dtype}{G}".encode()))
    q, scale = _random_logical(dtype, target, E, N, K, G, g)
    p = prepare_dtype_weights(q, scale, target=target, dtype=dtype, group_size=G)
    bits = BITS[DTYPES[dtype].weight]
    assert p.dtype == dtype and p.target == target and p.w.dtype == torch.uint8 and p.w.is_contiguous()
    assert p.w.numel() == E * N * K * bits // 8 and p.w.dim() == 7
    assert (p.experts, p.n, p.k, p.group_size) == (E, N, K, G)
    assert (p.scale is None) == (not DTYPES[dtype].weight_scaled)
    back = unpack_prepared(p)
    assert back.dtype == q.dtype and back.shape == q.shape
    assert torch.equal(back.view(torch.uint8) if bits == 8 else back, q.view(torch.uint8) if bits == 8 else q)
    # the docstring formula, element by element, for random elements
    rnd = random.Random(5)
    W = p.w
    for _ in range(200):
        e, n, k = rnd.randrange(E), rnd.randrange(N), rnd.randrange(K)
        idx, nib = expected_location(target, dtype, E, N, K, e, n, k)
        if bits == 4:   # two's complement nibble, or code + 8 for the magic-number pair schemes
            got = (int(W[idx]) >> (4 * nib)) & 0xF
            assert got == (int(q[e, n, k]) & 0xF) ^ (8 if p.geometry.offset_binary else 0), (e, n, k)
        elif bits == 8:
            assert int(W[idx]) == int(q[e, n, k].view(torch.uint8)), (e, n, k)
        else:
            hi = idx[:-1] + (idx[-1] + 1,)
            got = int(W[idx]) | (int(W[hi]) << 8)
            assert got == int(q[e, n, k].view(torch.int16)) & 0xFFFF, (e, n, k)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", sorted(DTYPES))
def test_single_element_lands_alone(target, dtype):
    # one nonzero element -> exactly one nonzero byte (two for 16-bit), where the formula says
    E, N, K = 2, 32, 256
    info = DTYPES[dtype]
    rnd = random.Random(zlib.crc32(f"{target}{dtype}".encode()))
    for _ in range(3):
        e, n, k = rnd.randrange(E), rnd.randrange(N), rnd.randrange(K)
        if info.weight == "int4":
            q = torch.zeros(E, N, K, dtype=torch.int8)
            q[e, n, k] = -3                                     # nibble 0xD
            p = prepare_weights(q, torch.ones(E, N), target=target, group_size=-1, dtype=dtype)
        else:
            dt = {"fp8": fp8_dtype(target), "i8": torch.int8, "bf16": torch.bfloat16, "f16": torch.float16}[info.weight]
            q = torch.zeros(E, N, K).to(dt)
            q[e, n, k] = torch.tensor(-3.0).to(dt)
            p = prepare_dense_weights(q, torch.ones(E, N) if info.weight_scaled else None, target=target, dtype=dtype)
        idx, nib = expected_location(target, dtype, E, N, K, e, n, k)
        ob = info.weight == "int4" and p.geometry.offset_binary   # code 0 is stored as 8 there
        w = p.w ^ 0x88 if ob else p.w
        nz = [tuple(i) for i in torch.nonzero(w).tolist()]
        if info.weight == "int4":
            assert nz == [idx] and int(w[idx]) == 0xD << (4 * nib)
        elif BITS[info.weight] == 8:
            assert nz == [idx] and int(p.w[idx]) == int(q[e, n, k].view(torch.uint8))
        else:
            assert set(nz) <= {idx, idx[:-1] + (idx[-1] + 1,)} and len(nz) >= 1


def test_int4_dtypes_of_one_layout_differ_only_in_nibble_order():
    q = random_int4(1, 32, 128, torch.Generator().manual_seed(4))
    for target in TARGETS:
        ps = {d: prepare_weights(q, torch.ones(1, 32), target=target, group_size=-1, dtype=d)
              for d in ("int4_fp8", "int4", "int4_bf16")}
        assert len({p.w.numel() for p in ps.values()}) == 1
        for p in ps.values():
            assert torch.equal(unpack_prepared(p), q)
            # each 32-bit word holds the same 8 codes, in some order
            words = (p.w ^ 0x88 if p.geometry.offset_binary else p.w).reshape(-1, 4).to(torch.int64)
            nibs = torch.stack([(words[:, b] >> s) & 0xF for b in range(4) for s in (0, 4)], 1)
            r = next(o for o in ps.values() if o.geometry.family == p.geometry.family)   # same lanes and words
            ref = (r.w ^ 0x88 if r.geometry.offset_binary else r.w).reshape(-1, 4).to(torch.int64)
            rnibs = torch.stack([(ref[:, b] >> s) & 0xF for b in range(4) for s in (0, 4)], 1)
            assert torch.equal(nibs.sort(1).values, rnibs.sort(1).values)
    # on sm_90 int4_fp8 and int4_bf16 share the transposed layout and the pair order; int4 has its own
    p = {d: prepare_weights(q, torch.ones(1, 32), target="sm_90", group_size=-1, dtype=d).w
         for d in ("int4_fp8", "int4", "int4_bf16")}
    assert torch.equal(p["int4_fp8"], p["int4_bf16"]) and not torch.equal(p["int4_fp8"], p["int4"])


def test_dense_rejects():
    E, N, K = 1, 32, 128
    fn = torch.zeros(E, N, K).to(torch.float8_e4m3fn)
    with pytest.raises(ValueError, match="float8_e4m3fnuz"):
        prepare_fp8_weights(fn, torch.ones(E, N), target="gfx942")   # wrong fp8 flavour for the target
    with pytest.raises(ValueError, match="scale shape"):
        prepare_fp8_weights(fn, torch.ones(E, 1, N), target="sm_90")
    with pytest.raises(ValueError, match="scale shape"):
        prepare_dense_weights(torch.zeros(E, N, K, dtype=torch.int8), None, target="sm_90", dtype="int8")
    with pytest.raises(ValueError, match="float32"):
        prepare_dense_weights(torch.zeros(E, N, K, dtype=torch.int8), torch.ones(E, N, dtype=torch.bfloat16),
                              target="sm_90", dtype="int8smooth")
    with pytest.raises(ValueError, match="no scale"):
        prepare_dense_weights(torch.zeros(E, N, K, dtype=torch.bfloat16), torch.ones(E, N), target="sm_90",
                              dtype="bf16")
    with pytest.raises(ValueError, match="torch.float16"):
        prepare_dense_weights(torch.zeros(E, N, K, dtype=torch.bfloat16), None, target="sm_90", dtype="f16")
    with pytest.raises(ValueError, match="prepare_weights"):
        prepare_dense_weights(torch.zeros(E, N, K, dtype=torch.int8), torch.ones(E, N), target="sm_90", dtype="int4")
    with pytest.raises(ValueError, match="K=96"):
        prepare_dense_weights(torch.zeros(E, N, 96, dtype=torch.float16), None, target="gfx950", dtype="f16")
    with pytest.raises(ValueError, match="N=12"):
        prepare_dense_weights(torch.zeros(E, 12, K, dtype=torch.float16), None, target="sm_90", dtype="f16")
    with pytest.raises(ValueError, match="group_size"):
        prepare_dtype_weights(torch.zeros(E, N, K, dtype=torch.float16), None, target="sm_90", dtype="f16",
                              group_size=32)


def test_sixteen_bit_layout_pieces():
    # 16-bit steps are 16 bytes: one step per piece (2 pieces per K64 chunk on gfx9, 4 per K128 on sm_90)
    E, N, K = 1, 32, 128
    w = torch.randn(E, N, K).to(torch.bfloat16)
    assert prepare_dense_weights(w, None, target="gfx950", dtype="bf16").w.shape == (1, 1, 2, 2, 2, 64, 16)
    assert prepare_dense_weights(w, None, target="sm_90", dtype="bf16").w.shape == (1, 4, 1, 1, 4, 32, 16)
