"""Expand one op into a sequence of ops written as MLIR text.

`expand(op, build)` gives `build` an Emitter and the names of the op's
operands; `build` emits the replacement and returns the names of the values
that replace the op's results.  The text is parsed as a function whose
arguments stand for the operands, its body is moved in front of the op and
the op is erased.  Passes stay short and their output reads like their code.
"""
from __future__ import annotations

from .emitter import Emitter
from .mlir import ir


def loc_text(op) -> str:
    """The op's location as MLIR text, to stamp on the ops that replace it."""
    return str(op.location)


def expand(op, build) -> None:
    op = op.operation
    operands = list(op.operands)
    in_types = [str(v.type) for v in operands]
    out_types = [str(r.type) for r in op.results]
    e = Emitter(prefix="x")
    names = [f"%a{i}" for i in range(len(operands))]
    results = build(e, names) or []
    if len(results) != len(out_types):
        raise AssertionError(f"expansion of {op.name} gave {len(results)} results, op has {len(out_types)}")
    args = ", ".join(f"{n}: {t}" for n, t in zip(names, in_types))
    ret = f"    func.return {', '.join(results)} : {', '.join(out_types)}" if results else "    func.return"
    text = (f"func.func @expand({args}) -> ({', '.join(out_types)}) {{\n"
            f"{e.body_text(4, loc_text(op))}\n{ret}\n}}\n")
    parsed = ir.Module.parse(text, context=op.context)
    func = parsed.body.operations[0]
    block = func.regions[0].blocks[0]
    for arg, val in zip(block.arguments, operands):
        arg.replace_all_uses_with(val)
    body_ops = list(block.operations)
    ret_op = body_ops[-1]
    for inner in body_ops[:-1]:
        inner.operation.move_before(op)
    for res, new in zip(op.results, ret_op.operands):
        res.replace_all_uses_with(new)
    op.erase()
