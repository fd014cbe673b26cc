"""moe-verify: reject malformed `moe.gemm` ops with a diagnostic at the op."""
from __future__ import annotations

from ..errors import MoeCodegenError
from ..mlir import walk_ops
from ..ops import (OPERAND_NAMES, REDUCE_OPERANDS, operand_types, reduce_operand_types, reduce_spec_from_op,
                   spec_from_op)
from ..targets import get_target
from .registry import DiagnosedError, register


def _rank(type_text: str) -> int:
    if not type_text.startswith("memref<"):
        return -1
    return type_text[len("memref<"):-1].count("x")


def verify_gemm(op) -> None:
    try:
        spec = spec_from_op(op).validate()
    except MoeCodegenError as e:
        raise DiagnosedError(f"'moe.gemm' {e}", op) from None
    target = get_target(spec.target)
    K = spec.k_dim
    if spec.group_size > 0 and K % spec.group_size:
        raise DiagnosedError(
            f"'moe.gemm' group size {spec.group_size} does not divide K = {K} (stage {spec.stage})", op)
    if K % target.k_align:
        raise DiagnosedError(
            f"'moe.gemm' K = {K} (stage {spec.stage}) must be a multiple of {target.k_align} "
            f"for the {target.weight_layout} weight layout of {target.name}", op)
    if spec.inter_dim % target.n_align or spec.model_dim % target.n_align:
        raise DiagnosedError(
            f"'moe.gemm' inter_dim {spec.inter_dim} and model_dim {spec.model_dim} must be multiples of "
            f"{target.n_align} for the {target.weight_layout} weight layout of {target.name}", op)
    operands = list(op.operands)
    if len(operands) != len(OPERAND_NAMES):
        raise DiagnosedError(
            f"'moe.gemm' expects {len(OPERAND_NAMES)} operands ({', '.join(OPERAND_NAMES)}), "
            f"got {len(operands)}", op)
    if len(op.results):
        raise DiagnosedError("'moe.gemm' has no results; it writes its `out` operand", op)
    for i, (name, want, val) in enumerate(zip(OPERAND_NAMES, operand_types(spec), operands)):
        got = str(val.type)
        if got == want:
            continue
        if _rank(got) != _rank(want):
            raise DiagnosedError(
                f"'moe.gemm' operand #{i} ({name}) must have rank {_rank(want)} ({want}), got {got}", op)
        raise DiagnosedError(f"'moe.gemm' operand #{i} ({name}) must be {want}, got {got}", op)


def verify_reduce(op) -> None:
    try:
        spec = reduce_spec_from_op(op).validate()
    except MoeCodegenError as e:
        raise DiagnosedError(f"'moe.reduce' {e}", op) from None
    want = reduce_operand_types(spec)
    names = [n for n in REDUCE_OPERANDS if spec.masked or n != "valid_mask"]
    if len(op.operands) != len(want):
        raise DiagnosedError(f"'moe.reduce' expects {len(want)} operands ({', '.join(names)}), "
                             f"got {len(op.operands)}", op)
    for i, (name, t, v) in enumerate(zip(names, want, op.operands)):
        if str(v.type) != t:
            raise DiagnosedError(f"'moe.reduce' operand #{i} ({name}) must be {t}, got {v.type}", op)


@register("moe-verify", "Check every moe.gemm / moe.reduce: attributes, dtype combination, operand types, dims.")
def run(module) -> None:
    for op in walk_ops(module, "moe.gemm"):
        verify_gemm(op)
    for op in walk_ops(module, "moe.reduce"):
        verify_reduce(op)
