"""moe-group-accumulate: expand `moe.group_mma` into a fresh MMA chain plus a fused scale-add.

  running' = fma(mma_chain(a_i, b_i, from zero), s_group, running)

A warpgroup MMA (sm_90a wgmma) chain is one `moe.wgmma` of all the group's
steps, its first MMA starting from zero (no zeroed registers), then
`moe.wgmma_wait` for it.  (Issuing a K step's column tiles back to back and
waiting for them in turn was measured: the in-flight accumulators cost more
registers than the overlap gained once activations come through the ring.)
Integer MMAs (i8) chain in i32, exact, and the chain is converted to f32
before the scale.  s_group is a vector shaped like the running sum: the group scale of the
column of each accumulator element (the atom's layout decides which).

One fresh accumulator per K group (SPEC: G/32 K32 MMAs per group), scaled in
f32 inside the K loop; the running sum is never converted again.
"""
from __future__ import annotations

from ..mlir import ir, walk_ops
from ..midlevel import check
from ..rewrite import expand
from ..targets import ATOMS
from .registry import DiagnosedError, register


def _build(op):
    steps = ir.IntegerAttr(op.attributes["steps"]).value
    atom = str(op.attributes["atom"])
    n = len(op.operands)
    if n != 2 * steps + 2:
        raise DiagnosedError(f"moe.group_mma with steps = {steps} needs {2 * steps + 2} operands, got {n}", op)
    acc_t = str(op.results[0].type)
    name = ir.StringAttr(op.attributes["atom"]).value
    if name not in ATOMS:
        raise DiagnosedError(f"moe.group_mma: unknown atom '{name}' (known: {', '.join(ATOMS)})", op)
    chain_t = ATOMS[name].c_type
    a_t, b_t = str(op.operands[0].type), str(op.operands[steps].type)
    for what, v in (("running sum", op.operands[-2]), ("scale", op.operands[-1])):
        if str(v.type) != acc_t:
            raise DiagnosedError(f"moe.group_mma: the {what} must have the accumulator type {acc_t}, got {v.type}", op)

    warpgroup = ATOMS[name].warpgroup
    if warpgroup:   # the chain is one asynchronous MMA group, its accumulator shaped like the running sum
        chain_t = acc_t

    def build(e, args):
        if warpgroup:   # no operand is the zero accumulator: the chain's first MMA starts from zero
            acc = e.generic("moe.wgmma", args[:2 * steps], [a_t] * steps + [b_t] * steps, chain_t,
                            f"atom = {atom}, steps = {steps} : i64")
            acc = e.generic("moe.wgmma_wait", [acc], [chain_t], chain_t, "pending = 0 : i64")
        else:
            integer = chain_t.endswith("i32>")
            acc = e.op(f"arith.constant dense<{'0' if integer else '0.0'}> : {chain_t}")
        for i in range(0 if warpgroup else steps):
            acc = e.generic("moe.mma", [args[i], args[steps + i], acc], [a_t, b_t, chain_t], chain_t,
                            f"atom = {atom}")
        if chain_t != acc_t:
            acc = e.op(f"arith.sitofp {acc} : {chain_t} to {acc_t}")
        return [e.op(f"llvm.intr.fma({acc}, {args[-1]}, {args[-2]}) : ({acc_t}, {acc_t}, {acc_t}) -> {acc_t}")]

    return build


@register("moe-group-accumulate", "Expand moe.group_mma: fresh MMA chain per K group, then running += acc * s.")
def run(module) -> None:
    for op in walk_ops(module, "moe.group_mma"):
        check(op)
        expand(op, _build(op))
