"""A Triton fused-MoE GEMM timed beside the compiled kernels: the design most serving stacks run today.

Each stage is one grouped GEMM over the expert-sorted (token, slot) rows, as in the widely used open-source
Triton fused-MoE kernels: stage 1 writes gate and up ([tokens * topk, 2 * inter], the activation is a
separate kernel there), stage 2 writes each slot's row times its routing weight ([tokens * topk, model_dim],
summed over the slots by a separate kernel).  Only the GEMM is timed, so the peer does less than the compiled
stages (no fused silu-and-multiply, no reduction over the slots).

Operands: bf16 x bf16; fp8 e4m3 x e4m3 with per-token and per-row scales applied after the K loop; int4 g32
as W4A16 (bf16 activations, each nibble times its group's bf16 scale in bf16 before the MMA), the int4 kernel
those stacks ship.  So the int4_fp8 rows' peer reads bf16 activations.

Each case takes the fastest of a few block configurations (searched per case in the run, as the serving
stacks' tuned tables would), each checked against the case's reference first.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from moe_codegen.host import moe_sorting, rel_l2, unpack_prepared
from moe_codegen.spec import DTYPES

BF16, FP8, INT4 = 0, 1, 2
_FP8, _INT4 = tl.constexpr(FP8), tl.constexpr(INT4)   # the kernel reads globals as constexprs only
# (block m, block n, block k, warps, pipeline stages, group m): a few of each regime's usual choices
DECODE_CONFIGS = ((16, 64, 128, 4, 4, 1), (16, 128, 128, 4, 3, 1), (16, 64, 256, 4, 3, 1), (32, 64, 128, 4, 4, 1))
PREFILL_CONFIGS = ((64, 128, 64, 4, 4, 8), (64, 128, 128, 4, 4, 16), (128, 128, 64, 8, 3, 8),
                   (128, 256, 64, 8, 3, 8), (128, 128, 128, 8, 3, 8), (128, 128, 128, 8, 4, 32))


@triton.jit
def _moe_gemm(a_ptr, b_ptr, c_ptr, a_scale_ptr, b_scale_ptr, rows_ptr, experts_ptr, weights_ptr,
              num_valid_ptr, max_padded, num_rows, a_div, N, K, stride_am, stride_be, stride_bn, stride_cm, stride_se, stride_sg,
              KIND: tl.constexpr, GROUP: tl.constexpr, ROUTED: tl.constexpr,
              BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr, GROUP_M: tl.constexpr):
    # The grid covers the most row tiles a routing can need (the valid count is on the device, so a launch
    # needs no host sync and fits a CUDA graph); the tiles past the valid count return at once.
    pid = tl.program_id(0)
    tiles_m = tl.cdiv(max_padded, BM)
    tiles_n = tl.cdiv(N, BN)
    # grouped order: GROUP_M row tiles walk the column tiles together, so their weight tiles meet in L2
    per_group = GROUP_M * tiles_n
    first_m = (pid // per_group) * GROUP_M
    size_m = tl.minimum(tiles_m - first_m, GROUP_M)
    pid_m = first_m + (pid % per_group) % size_m
    pid_n = (pid % per_group) // size_m
    if pid_m * BM >= tl.load(num_valid_ptr):
        return

    e = tl.load(experts_ptr + pid_m).to(tl.int64)
    offs_m = pid_m * BM + tl.arange(0, BM)
    rows = tl.load(rows_ptr + offs_m)
    valid = rows < num_rows
    offs_n = pid_n * BN + tl.arange(0, BN)
    offs_k = tl.arange(0, BK)
    a_ptrs = a_ptr + (rows // a_div).to(tl.int64)[:, None] * stride_am + offs_k[None, :]
    if KIND == _INT4:
        b_ptrs = b_ptr + e * stride_be + offs_n[None, :] * stride_bn + (offs_k // 2)[:, None]
        shift = ((offs_k % 2) * 4)[:, None]
        s_ptrs = b_scale_ptr + e * stride_se + offs_n[None, :] + (offs_k // GROUP)[:, None] * stride_sg
    else:
        b_ptrs = b_ptr + e * stride_be + offs_n[None, :] * stride_bn + offs_k[:, None]
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for _ in range(0, K, BK):
        a = tl.load(a_ptrs, mask=valid[:, None], other=0.0)
        if KIND == _INT4:
            q = tl.load(b_ptrs)
            b = (((q >> shift) & 0xF).to(tl.int32) - 8).to(tl.bfloat16) * tl.load(s_ptrs)
            b_ptrs += BK // 2
            s_ptrs += (BK // GROUP) * stride_sg
        else:
            b = tl.load(b_ptrs)
            b_ptrs += BK
        acc = tl.dot(a, b, acc)
        a_ptrs += BK
    if KIND == _FP8:
        sa = tl.load(a_scale_ptr + rows // a_div, mask=valid, other=0.0)
        acc = acc * sa[:, None] * tl.load(b_scale_ptr + e * stride_se + offs_n)[None, :]
    if ROUTED:
        acc = acc * tl.load(weights_ptr + offs_m, mask=valid, other=0.0)[:, None]
    tl.store(c_ptr + rows.to(tl.int64)[:, None] * stride_cm + offs_n[None, :], acc.to(tl.bfloat16),
             mask=valid[:, None])


class PeerWeights:
    """One stage's weights in the peer's layout, from the compiled kernels' prepared weights (same values)."""

    def __init__(self, prep):
        weight = DTYPES[prep.dtype].weight
        logical = unpack_prepared(prep)
        self.scale = prep.scale
        if weight == "int4":
            u = (logical.to(torch.int16) + 8).to(torch.uint8)      # offset binary: code + 8
            self.kind, self.w = INT4, (u[..., 0::2] | (u[..., 1::2] << 4)).contiguous()
            self.scale = prep.scale.to(torch.bfloat16).contiguous()   # [E, K/G, N]
        elif weight in ("bf16", "f16"):
            self.kind, self.w = BF16, logical.contiguous()
        elif weight == "fp8":
            self.kind, self.w = FP8, logical.contiguous()
        else:
            raise ValueError(f"no Triton peer for {prep.dtype} weights")
        self.group = prep.group_size if self.kind == INT4 else 1
        self.experts, self.n, self.k = prep.experts, prep.n, prep.k
        del logical


def peer_activations(kind, x_q, sx):
    """The peer's A operand and per-row scale: fp8 as quantized; bf16 for the others (int4: W4A16)."""
    rows = x_q.reshape(-1, x_q.shape[-1])
    s = None if sx is None else sx.reshape(-1).float()
    if kind == FP8:
        return rows.contiguous(), s
    if s is not None:
        rows = rows.float() * s[:, None]
    return rows.to(torch.bfloat16).contiguous(), None


def peer_routing(ids, tw, experts, block_m):
    """(rows, expert per block, weights, valid count [1], most padded rows): rows are token * topk + slot,
    topk * tokens = padding."""
    r = moe_sorting(ids.cpu(), tw.cpu(), experts, block_m)
    rows = r.flat_rows().to(torch.int32)
    return rows.cuda(), r.sorted_expert_ids.cuda(), r.sorted_weights.cuda(), r.num_valid_ids.cuda(), r.max_padded


def peer_call(pw, a, sa, routing, tokens, topk, stage, cfg):
    """A launcher of the peer GEMM for one stage: returns (call, output [tokens * topk, N])."""
    bm, bn, bk, warps, stages, group_m = cfg
    rows, experts, weights, num_valid, max_padded = routing
    if pw.k % bk or pw.n % bn:
        raise ValueError(f"block {bn}x{bk} does not divide N={pw.n}, K={pw.k}")
    c = torch.empty(tokens * topk, pw.n, dtype=torch.bfloat16, device="cuda")
    grid = (triton.cdiv(max_padded, bm) * (pw.n // bn),)
    scale = pw.scale if pw.scale is not None else c       # unread when unscaled
    sa_ = sa if sa is not None else c
    stride_se, stride_sg = (scale.stride(0), scale.stride(1)) if pw.scale is not None else (0, 0)
    a_div = topk if stage == 1 else 1

    def call():
        _moe_gemm[grid](a, pw.w, c, sa_, scale, rows, experts, weights, num_valid, max_padded, tokens * topk, a_div,
                        pw.n, pw.k, a.stride(0), pw.w.stride(0), pw.w.stride(1), c.stride(0), stride_se, stride_sg,
                        KIND=pw.kind, GROUP=pw.group, ROUTED=stage == 2, BM=bm, BN=bn, BK=bk, GROUP_M=group_m,
                        num_warps=warps, num_stages=stages)
    return call, c


def peer_result(c, tokens, topk, stage):
    """The peer's output in the reference's form: stage 1 silu(gate) * up [tokens, topk, inter]; stage 2 the
    slots' sum [tokens, model_dim] (both outside the timed GEMM)."""
    h = c.float().view(tokens, topk, -1)
    if stage == 1:
        inter = h.shape[-1] // 2
        return torch.nn.functional.silu(h[..., :inter]) * h[..., inter:]
    return h.sum(1)


def best_peer(pw, x_q, sx, ids, tw, stage, ref, flush, timed, *, prefill):
    """Time each configuration of the regime that runs correctly (rel L2 <= 1e-2), the fastest again in full.

    Returns dict(us, config, rel_l2) or None when no configuration compiled and passed."""
    tokens, topk = ids.shape
    a, sa = peer_activations(pw.kind, x_q, sx)
    trials = []
    for cfg in PREFILL_CONFIGS if prefill else DECODE_CONFIGS:
        try:
            call, c = peer_call(pw, a, sa, peer_routing(ids, tw, pw.experts, cfg[0]), tokens, topk, stage, cfg)
            c.fill_(float("nan"))    # rows the GEMM does not write fail the check
            call()
            torch.cuda.synchronize()
        except Exception as exc:     # a block configuration the device cannot hold (shared memory)
            print(f"    peer config {cfg}: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}")
            continue
        err = rel_l2(peer_result(c, tokens, topk, stage), ref)
        if not err <= 1e-2:
            print(f"    peer config {cfg}: rel L2 {err:.2e}, left out")
            continue
        trials.append((timed(call, flush, reps=10, warmup=2), cfg, call, err))
    if not trials:
        return None
    _, cfg, call, err = min(trials, key=lambda t: t[0])
    return {"us": timed(call, flush) * 1e6, "config": "x".join(map(str, cfg[:3])) + f" w{cfg[3]} s{cfg[4]}",
            "rel_l2": err}

