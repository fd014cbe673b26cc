import math

import pytest
import torch

from moe_codegen.host import make_topk, moe_sorting


def check_sorting(r, ids, weights, experts, tile_m, pad_weight=0.0):
    tokens, topk = ids.shape
    sentinel = (topk << 24) | tokens
    max_padded = tokens * topk + experts * tile_m - topk
    assert r.max_padded == max_padded and (r.tokens, r.topk, r.tile_m) == (tokens, topk, tile_m)
    assert r.sorted_token_ids.dtype == torch.int32 and r.sorted_token_ids.shape == (max_padded,)
    assert r.sorted_weights.dtype == torch.float32 and r.sorted_weights.shape == (max_padded,)
    assert r.sorted_expert_ids.dtype == torch.int32
    assert r.sorted_expert_ids.shape == (math.ceil(max_padded / tile_m),)
    assert r.num_valid_ids.dtype == torch.int32 and r.num_valid_ids.shape == (1,)

    nv = int(r.num_valid_ids[0])
    assert nv % tile_m == 0 and nv <= max_padded
    nblk = nv // tile_m
    blocks = r.sorted_expert_ids
    assert (blocks[:nblk] >= 0).all() and (blocks[nblk:] == -1).all()

    sid, sw = r.sorted_token_ids.long(), r.sorted_weights
    pad = sid == sentinel
    assert pad[nv:].all(), "tail past num_valid must be sentinel"
    if math.isnan(pad_weight):
        assert torch.isnan(sw[pad]).all()
    else:
        assert (sw[pad] == pad_weight).all()

    pos = torch.nonzero(~pad).squeeze(1)
    t, s = sid[pos] & 0xFFFFFF, sid[pos] >> 24
    assert ((t < tokens) & (s < topk)).all()
    pairs = t * topk + s
    assert torch.equal(torch.sort(pairs).values, torch.arange(tokens * topk)), "each (token, slot) exactly once"
    assert torch.equal(ids[t, s].long(), blocks[pos // tile_m].long()), "row's expert == its block's expert"
    assert torch.equal(sw[pos], weights[t, s])

    # Tight padding: expert e owns exactly ceil(count_e / tile_m) contiguous blocks, none if unused.
    counts = torch.bincount(ids.reshape(-1).long(), minlength=experts)
    used = blocks[:nblk].long()
    assert torch.equal(torch.bincount(used, minlength=experts), (counts + tile_m - 1) // tile_m)
    assert (used[1:] != used[:-1]).sum() == (counts > 0).sum() - 1, "an expert's blocks are contiguous"


CASES = [  # tokens, experts, topk, tile_m, kind
    (64, 4, 2, 16, "uniform"),
    (129, 8, 2, 32, "uniform"),
    (333, 17, 9, 64, "uniform"),
    (129, 8, 2, 32, "one_expert"),
    (100, 17, 9, 16, "one_expert"),
    (57, 8, 2, 32, "empty_experts"),
    (40, 17, 9, 16, "empty_experts"),  # experts // 2 < topk: falls back to the first topk experts
    (1, 17, 9, 16, "uniform"),
    (1, 4, 2, 64, "uniform"),
    (3, 256, 8, 32, "uniform"),
]


@pytest.mark.parametrize("tokens,experts,topk,tile_m,kind", CASES)
def test_sorting_invariants(tokens, experts, topk, tile_m, kind):
    g = torch.Generator().manual_seed(tokens * 131 + experts)
    ids, w = make_topk(tokens, experts, topk, kind=kind, generator=g)
    check_sorting(moe_sorting(ids, w, experts, tile_m), ids, w, experts, tile_m)
    check_sorting(moe_sorting(ids, w, experts, tile_m, pad_weight=float("nan")), ids, w, experts, tile_m,
                  pad_weight=float("nan"))


def test_make_topk_properties():
    g = torch.Generator().manual_seed(1)
    for kind in ("uniform", "one_expert", "empty_experts"):
        ids, w = make_topk(333, 17, 9, kind=kind, generator=g)
        assert ids.dtype == torch.int32 and w.dtype == torch.float32 and ids.shape == w.shape == (333, 9)
        assert (torch.sort(ids, dim=1).values.diff(dim=1) > 0).all(), "distinct experts per token"
        assert torch.allclose(w.sum(1), torch.ones(333)) and (w > 0).all()
        if kind == "one_expert":
            assert (ids[:, 0] == 0).all() and (ids[:, 1:] != 0).all()
        if kind == "empty_experts":
            assert ids.max() < 9  # 17 // 2 = 8 < topk = 9 -> first topk experts
    ids, _ = make_topk(500, 16, 4, kind="empty_experts", generator=g)
    assert ids.max() < 8 and len(torch.unique(ids)) == 8
    ids, _ = make_topk(500, 16, 4, generator=g)
    assert len(torch.unique(ids)) == 16
    a = make_topk(20, 8, 2, generator=torch.Generator().manual_seed(5))
    b = make_topk(20, 8, 2, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    with pytest.raises(ValueError):
        make_topk(4, 4, 5)
    with pytest.raises(ValueError):
        make_topk(4, 4, 2, kind="bogus")


def test_hand_example_and_empty_expert():
    # Expert 3 gets nothing: it must own no block.
    ids = torch.tensor([[0, 1], [0, 2], [1, 0]], dtype=torch.int32)
    w = torch.tensor([[0.6, 0.4], [0.7, 0.3], [0.1, 0.9]])
    r = moe_sorting(ids, w, 4, 2)
    S = (2 << 24) | 3
    assert r.max_padded == 6 + 8 - 2 and r.num_valid_ids.tolist() == [8]
    assert r.sorted_expert_ids.tolist() == [0, 0, 1, 2, -1, -1]
    blocks = r.sorted_token_ids.view(-1, 2)[:4].tolist()
    e = lambda t, s: (s << 24) | t
    assert sorted(blocks[0] + blocks[1]) == sorted([e(0, 0), e(1, 0), e(2, 1), S])
    assert sorted(blocks[2]) == sorted([e(0, 1), e(2, 0)])
    assert sorted(blocks[3]) == sorted([e(1, 1), S])
    assert r.sorted_token_ids[8:].tolist() == [S] * 4
    check_sorting(r, ids, w, 4, 2)
    # as rows token * topk + slot; padding one past the last row
    rows = r.flat_rows().view(-1, 2)[:4].tolist()
    assert sorted(rows[0] + rows[1]) == [0, 2, 5, 6] and sorted(rows[2]) == [1, 4] and sorted(rows[3]) == [3, 6]
    assert r.flat_rows()[8:].tolist() == [6] * 4


@pytest.mark.parametrize("tile_m", [16, 32, 64])
def test_all_tokens_on_one_expert(tile_m):
    tokens, experts = 77, 8
    ids = torch.full((tokens, 1), 5, dtype=torch.int32)
    w = torch.ones(tokens, 1)
    r = moe_sorting(ids, w, experts, tile_m)
    nblk = math.ceil(tokens / tile_m)
    assert int(r.num_valid_ids[0]) == nblk * tile_m
    assert (r.sorted_expert_ids[:nblk] == 5).all() and (r.sorted_expert_ids[nblk:] == -1).all()
    check_sorting(r, ids, w, experts, tile_m)


def test_sorting_rejects_bad_input():
    ids = torch.tensor([[0, 4]], dtype=torch.int32)
    with pytest.raises(ValueError):
        moe_sorting(ids, torch.ones(1, 2), 4, 16)
    with pytest.raises(ValueError):
        moe_sorting(ids[:, :1], torch.ones(1, 2), 4, 16)


def test_gemm_grid_follows_the_kernels_block_order():
    """Token tiles on x and column tiles on y (launch order), or swapped for a grouped-order kernel; K
    splits on z."""
    from moe_codegen.host.routing import gemm_grid

    assert gemm_grid({"grid_y": 7, "grid_x": "ceil(max_padded / tile_m)"}, 130, 64) == (3, 7, 1)
    assert gemm_grid({"grid_x": 7, "grid_y": "ceil(max_padded / tile_m)"}, 130, 64) == (7, 3, 1)
    assert gemm_grid({"grid_y": 7, "grid_z": 2}, 130, 64) == (3, 7, 2)
