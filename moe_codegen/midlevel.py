"""Signatures of the mid-level `moe.*` ops, checked before a pass reads them.

The ops are unregistered, so nothing else verifies them: a pass that meets a
malformed one must say so at the op, not fail inside its own code.
"""
from __future__ import annotations

from .errors import DiagnosedError

# name -> (operand count, or None if variadic; attributes that must be present)
SIGNATURES = {
    "moe.load": (4, ()),
    "moe.uniform": (1, ()),
    "moe.unpack_int4": (1, ("to",)),
    "moe.and_or": (2, ("mask",)),
    "moe.cvt_pk_fp8": (3, ("hi",)),
    "moe.cvt_f16x2_fp8x2": (2, ()),
    "moe.cvt_fp8_f16": (1, ()),
    "moe.group_mma": (None, ("atom", "steps")),
    "moe.mma": (3, ("atom",)),
    "moe.wgmma": (None, ("atom", "steps")),
    "moe.wgmma_wait": (1, ("pending",)),
    "moe.async_proxy_fence": (0, ()),
    "moe.epilogue": (None, ("stage", "rows", "cols", "gate_up", "out_dtype", "mode")),
    "moe.atomic_add": (2, ()),
    "moe.exp2": (1, ()),
    "moe.async_copy": (None, ()),   # 5 operands, or 6: a validity bit (invalid: zero-filled)
    "moe.async_commit": (0, ()),
    "moe.async_wait": (0, ("pending",)),
    "moe.mbarrier_init": (2, ("count",)),
    "moe.mbarrier_init_fence": (0, ()),
    "moe.tensormap_acquire": (1, ()),
    "moe.mbarrier_expect_tx": (2, ("bytes",)),
    "moe.mbarrier_wait": (3, ()),
    "moe.tma_load": (8, ()),
    "moe.tma_load_multicast": (9, ()),
    "moe.cluster_arrive": (0, ()),
    "moe.cluster_wait": (0, ()),
    "moe.mbarrier_arrive_cluster": (3, ()),
    "moe.issue_loads": (0, ()),
    "moe.bulk_reduce": (4, ("bytes", "type")),
    "moe.bulk_commit": (0, ()),
    "moe.bulk_wait_read": (0, ()),
}
RESULTS = {"moe.epilogue": 0, "moe.atomic_add": 0, "moe.async_copy": 0, "moe.async_commit": 0, "moe.async_wait": 0,
           "moe.async_proxy_fence": 0, "moe.mbarrier_init": 0, "moe.mbarrier_init_fence": 0,
           "moe.tensormap_acquire": 0, "moe.mbarrier_expect_tx": 0, "moe.mbarrier_wait": 0, "moe.tma_load": 0,
           "moe.tma_load_multicast": 0, "moe.cluster_arrive": 0, "moe.cluster_wait": 0,
           "moe.mbarrier_arrive_cluster": 0, "moe.issue_loads": 0, "moe.bulk_reduce": 0, "moe.bulk_commit": 0,
           "moe.bulk_wait_read": 0}


def check(op) -> None:
    if op.name not in SIGNATURES:
        raise DiagnosedError(f"unknown mid-level op '{op.name}' (known: {', '.join(SIGNATURES)})", op)
    n, attrs = SIGNATURES[op.name]
    if n is not None and len(op.operands) != n:
        raise DiagnosedError(f"'{op.name}' expects {n} operands, got {len(op.operands)}", op)
    for a in attrs:
        if a not in op.attributes:
            raise DiagnosedError(f"'{op.name}' needs the attribute '{a}'", op)
    want = RESULTS.get(op.name, 1)
    if len(op.results) != want:
        raise DiagnosedError(f"'{op.name}' has {want} result(s), got {len(op.results)}", op)


def lower_all(module, lowerings: dict, pass_name: str) -> None:
    """A target lowering: expand every mid-level op with the target's builder for it."""
    from .mlir import walk_ops
    from .rewrite import expand

    for op in walk_ops(module):
        if not op.name.startswith("moe."):
            continue
        if op.name in SIGNATURES:
            check(op)
        if op.name not in lowerings:
            raise DiagnosedError(
                f"'{op.name}' must be expanded before {pass_name} (run the target-neutral passes first)", op)
        expand(op, lowerings[op.name](op))
