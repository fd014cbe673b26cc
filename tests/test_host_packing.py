import pytest
import torch

from moe_codegen.host import prepare_weights, quantize_int4, random_int4, unpack_prepared

LAYOUTS = {"gfx942": "mfma16x16x32_k64", "gfx950": "mfma16x16x32_k64", "sm_90": "mma16x8x32_k128"}


@pytest.mark.parametrize("target", sorted(LAYOUTS))
@pytest.mark.parametrize("group_size", [-1, 32, 128])
def test_round_trip(target, group_size):
    g = torch.Generator().manual_seed(7)
    E, N, K = 3, 64, 256
    q = random_int4(E, N, K, g)
    s = torch.rand((E, N) if group_size == -1 else (E, K // group_size, N), generator=g)
    p = prepare_weights(q, s.transpose(-1, -2).contiguous().transpose(-1, -2), target=target,
                        group_size=group_size)
    assert p.layout == LAYOUTS[target] and (p.experts, p.n, p.k) == (E, N, K)
    assert p.w.dtype == torch.uint8 and p.w.is_contiguous() and p.w.numel() == E * N * K // 2
    shape = (E, N // 32, K // 64, 2, 64, 8) if target.startswith("gfx") else (E, N // 8, K // 128, 32, 16)
    assert p.w.shape == shape
    assert p.scale.is_contiguous() and torch.equal(p.scale, s)
    assert torch.equal(unpack_prepared(p), q)


def test_quantized_weights_round_trip():
    w = torch.randn(2, 32, 128, generator=torch.Generator().manual_seed(8))
    q, s = quantize_int4(w, 32)
    for target in LAYOUTS:
        assert torch.equal(unpack_prepared(prepare_weights(q, s, target=target, group_size=32)), q)


def _single(target, E, N, K, e, n, k, v):
    q = torch.zeros(E, N, K, dtype=torch.int8)
    q[e, n, k] = v
    w = prepare_weights(q, torch.ones(E, N), target=target, group_size=-1).w
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
    # n = 13 -> nb 1, g 5; k = 200 = 128 + 2*32 + 1*8 + 0 -> kb 1, h 2, t 1, p 0
    # -> lane g*4 + t = 21, byte h*4 + p//2 = 8, low nibble.
    assert _single("sm_90", 1, 16, 256, 0, 13, 200, 5) == ((0, 1, 1, 21, 8), 0x05)
    # k = 119 = 3*32 + 2*8 + 7 -> kb 0, h 3, t 2, p 7; n = 2 -> g 2
    # -> lane 10, byte 12 + 3 = 15, high nibble.
    assert _single("sm_90", 1, 16, 256, 0, 2, 119, 5) == ((0, 0, 0, 10, 15), 0x50)


def test_rejects_bad_shapes():
    q = torch.zeros(1, 48, 128, dtype=torch.int8)
    with pytest.raises(ValueError, match="N=48"):
        prepare_weights(q, torch.ones(1, 48), target="gfx942", group_size=-1)
    q = torch.zeros(1, 32, 96, dtype=torch.int8)
    with pytest.raises(ValueError, match="K=96"):
        prepare_weights(q, torch.ones(1, 32), target="gfx942", group_size=-1)
    with pytest.raises(ValueError, match="K=192"):
        prepare_weights(torch.zeros(1, 8, 192, dtype=torch.int8), torch.ones(1, 8), target="sm_90", group_size=-1)
    q = torch.zeros(1, 32, 128, dtype=torch.int8)
    with pytest.raises(ValueError):
        prepare_weights(q, torch.ones(1, 32), target="gfx942", group_size=32)  # wrong scale shape
    with pytest.raises(ValueError):
        prepare_weights(q + 8, torch.ones(1, 32), target="gfx942", group_size=-1)  # out of int4 range
    with pytest.raises(ValueError):
        prepare_weights(q, torch.ones(1, 32), target="gfx90a", group_size=-1)


def _nibble(v):
    return v & 0xF


@pytest.mark.parametrize("target", ["gfx942", "sm_90"])
def test_every_byte_against_layout_formula(target):
    # The layout definitions, transcribed literally, one byte at a time.
    q = random_int4(1, 32, 128, torch.Generator().manual_seed(9))
    w = prepare_weights(q, torch.ones(1, 32), target=target, group_size=-1).w
    Q = q.tolist()
    for idx in torch.cartesian_prod(*[torch.arange(d) for d in w.shape]).tolist():
        if target == "gfx942":
            e, nb, kb, r, l, b = idx
            n = nb * 32 + 2 * (l % 16) + r
            ks = [kb * 64 + (b // 4) * 32 + (l // 16) * 8 + p for p in (2 * (b % 4), 2 * (b % 4) + 1)]
        else:
            e, nb, kb, l, b = idx
            n, t = nb * 8 + l // 4, l % 4
            elem = lambda P: 2 * (P % 4) + P // 4  # nibble position P of a word holds element p
            ks = [kb * 128 + (b // 4) * 32 + t * 8 + elem(P) for P in (2 * (b % 4), 2 * (b % 4) + 1)]
        want = _nibble(Q[e][n][ks[0]]) | (_nibble(Q[e][n][ks[1]]) << 4)
        assert int(w[tuple(idx)]) == want, idx


@pytest.mark.parametrize("target", ["gfx942", "sm_90"])
def test_fp8_layout_every_byte(target):
    from moe_codegen.host import prepare_fp8_weights
    g = torch.Generator().manual_seed(3)
    w = (torch.randn(1, 32, 128, generator=g) * 4).to(torch.float8_e4m3fn)
    p = prepare_fp8_weights(w, torch.ones(1, 32), target=target)
    W = w.view(torch.uint8)
    for idx in torch.cartesian_prod(*[torch.arange(d) for d in p.w.shape]).tolist():
        if target == "gfx942":
            e, nb, kb, r, l, b = idx
            n, k = nb * 32 + 2 * (l % 16) + r, kb * 64 + (b // 8) * 32 + (l // 16) * 8 + b % 8
        else:
            e, nb, kb, l, b = idx
            n, k = nb * 8 + l // 4, kb * 128 + (b // 8) * 32 + (l % 4) * 8 + b % 8
        assert int(p.w[tuple(idx)]) == int(W[e, n, k]), idx
