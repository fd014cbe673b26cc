"""Routing test data and block-aligned expert sorting (SPEC 1, 1b)."""
from __future__ import annotations

import dataclasses

from dataclasses import dataclass

import torch

_SLOT_SHIFT = 24


@dataclass(frozen=True)
class Routing:
    sorted_token_ids: torch.Tensor   # int32 [max_padded], (slot << 24) | token
    sorted_weights: torch.Tensor     # f32 [max_padded]
    sorted_expert_ids: torch.Tensor  # int32 [ceil(max_padded / tile_m)], -1 = unused
    num_valid_ids: torch.Tensor      # int32 [1]
    max_padded: int
    tile_m: int
    tokens: int
    topk: int

    @property
    def sentinel(self) -> int:
        return (self.topk << _SLOT_SHIFT) | self.tokens

    @property
    def num_blocks(self) -> int:
        return self.sorted_expert_ids.numel()

    def flat_rows(self) -> torch.Tensor:
        """int64 [max_padded]: each entry as the row token * topk + slot of a [tokens * topk, ...] tensor,
        padding as tokens * topk (one past the last row)."""
        ids = self.sorted_token_ids.long()
        slot, token = ids >> _SLOT_SHIFT, ids & ((1 << _SLOT_SHIFT) - 1)
        return torch.where(slot < self.topk, token * self.topk + slot, self.tokens * self.topk)

    def to(self, device) -> "Routing":
        return dataclasses.replace(
            self, sorted_token_ids=self.sorted_token_ids.to(device), sorted_weights=self.sorted_weights.to(device),
            sorted_expert_ids=self.sorted_expert_ids.to(device), num_valid_ids=self.num_valid_ids.to(device))


def gemm_grid(launch: dict, max_padded: int, tile_m: int) -> tuple:
    """(x, y, z) launch grid of a GEMM kernel: the token tiles (ceil(max_padded / tile_m)) on x and the
    column tiles (launch["grid_y"]) on y, or swapped where the kernel walks its blocks in grouped order
    (launch["grid_x"] holds the column tiles; token tiles rounded up to whole clusters of launch["cluster_y"]);
    z: the K splits (launch["grid_z"], 1 without)."""
    tiles = -(-max_padded // tile_m)
    cluster = launch.get("cluster_y", 1)   # blocks in clusters along the token tiles: whole clusters
    tiles = -(-tiles // cluster) * cluster
    z = launch.get("grid_z", 1)
    if isinstance(launch.get("grid_x"), int):
        return launch["grid_x"], tiles, z
    return tiles, launch["grid_y"], z


def make_topk(tokens: int, experts: int, topk: int, *, kind: str = "uniform",
              generator: torch.Generator | None = None):
    """Random routing: distinct experts per token, weights = softmax of the selected logits."""
    if not 1 <= topk <= experts:
        raise ValueError(f"need 1 <= topk <= experts, got topk={topk}, experts={experts}")
    logits = torch.randn(tokens, experts, generator=generator)
    # Selection uses independent noise so that forcing/masking experts never touches the weights.
    pick = torch.rand(tokens, experts, generator=generator)
    if kind == "one_expert":
        pick[:, 0] = 2.0  # above any rand() value, so topk() puts expert 0 in slot 0
    elif kind == "empty_experts":
        used = experts // 2 if experts // 2 >= topk else topk
        pick[:, used:] = -1.0
    elif kind != "uniform":
        raise ValueError(f"unknown routing kind {kind!r}")
    ids = pick.topk(topk, dim=1, sorted=True).indices
    weights = torch.softmax(logits.gather(1, ids), dim=1)
    return ids.to(torch.int32), weights.to(torch.float32)


def moe_sorting(topk_ids: torch.Tensor, topk_weights: torch.Tensor, num_experts: int,
                tile_m: int, *, pad_weight: float = 0.0) -> Routing:
    """Sort (token, slot) pairs by expert, each expert padded to a multiple of tile_m."""
    if topk_ids.dim() != 2 or topk_weights.shape != topk_ids.shape:
        raise ValueError(f"topk_ids {tuple(topk_ids.shape)} and topk_weights "
                         f"{tuple(topk_weights.shape)} must both be [tokens, topk]")
    tokens, topk = topk_ids.shape
    if tile_m <= 0:
        raise ValueError(f"tile_m must be positive, got {tile_m}")
    if topk > num_experts:
        raise ValueError(f"topk={topk} > num_experts={num_experts}")
    # Sentinel and entries must fit a non-negative int32 with the slot in the top byte.
    if tokens >= 1 << _SLOT_SHIFT or topk >= 1 << (31 - _SLOT_SHIFT):
        raise ValueError(f"tokens={tokens} / topk={topk} do not fit the (slot << 24) | token encoding")
    dev = topk_ids.device
    flat = topk_ids.reshape(-1).long()
    if flat.numel() and (flat.min() < 0 or flat.max() >= num_experts):
        raise ValueError(f"topk_ids must lie in [0, {num_experts})")

    max_padded = tokens * topk + num_experts * tile_m - topk
    num_blocks = -(-max_padded // tile_m)
    sentinel = (topk << _SLOT_SHIFT) | tokens

    counts = torch.bincount(flat, minlength=num_experts)
    padded = (counts + tile_m - 1) // tile_m * tile_m
    pad_start = torch.cumsum(padded, 0) - padded
    cnt_start = torch.cumsum(counts, 0) - counts
    num_valid = int(padded.sum())
    assert num_valid <= max_padded  # holds whenever topk <= num_experts

    # Stable sort keeps (token, slot) order inside an expert: deterministic output for a given input.
    order = torch.argsort(flat, stable=True)
    e_sorted = flat[order]
    rank = torch.arange(flat.numel(), device=dev) - cnt_start[e_sorted]
    dest = pad_start[e_sorted] + rank
    token = order // topk
    slot = order % topk

    ids = torch.full((max_padded,), sentinel, dtype=torch.int64, device=dev)
    ids[dest] = (slot << _SLOT_SHIFT) | token
    w = torch.full((max_padded,), pad_weight, dtype=torch.float32, device=dev)
    w[dest] = topk_weights.reshape(-1).to(torch.float32)[order]

    blocks = torch.full((num_blocks,), -1, dtype=torch.int32, device=dev)
    per_expert = torch.repeat_interleave(torch.arange(num_experts, device=dev), padded // tile_m)
    blocks[: per_expert.numel()] = per_expert.to(torch.int32)

    return Routing(
        sorted_token_ids=ids.to(torch.int32),
        sorted_weights=w,
        sorted_expert_ids=blocks,
        num_valid_ids=torch.tensor([num_valid], dtype=torch.int32, device=dev),
        max_padded=max_padded, tile_m=tile_m, tokens=tokens, topk=topk,
    )
