"""The MLIR bindings the compiler uses: FlyDSL's embedded build, and small helpers."""
from __future__ import annotations

from flydsl._mlir import ir, passmanager  # noqa: F401

from .errors import MoeCodegenError


def new_context() -> "ir.Context":
    ctx = ir.Context()
    # `moe.*` ops are unregistered: FlyDSL's bindings cannot load a new dialect.
    ctx.allow_unregistered_dialects = True
    return ctx


def attr(text: str) -> "ir.Attribute":
    return ir.Attribute.parse(text)


def ty(text: str) -> "ir.Type":
    return ir.Type.parse(text)


def create(name: str, results=(), operands=(), attrs=None, ip=None, loc=None):
    """Create any op in generic form; attribute values are MLIR attribute text."""
    a = {k: (attr(v) if isinstance(v, str) else v) for k, v in (attrs or {}).items()}
    res = [ty(r) if isinstance(r, str) else r for r in results]
    return ir.Operation.create(name, results=res, operands=list(operands), attributes=a, ip=ip, loc=loc)


def walk_ops(op, name: str | None = None):
    """All ops nested under `op` (pre-order, materialised so callers may erase)."""
    found = []

    def visit(o):
        for region in o.regions:
            for block in region.blocks:
                for inner in block.operations:
                    inner = inner.operation
                    if name is None or inner.name == name:
                        found.append(inner)
                    visit(inner)

    visit(op.operation if hasattr(op, "operation") else op)
    return found


def parse_module(text: str, ctx=None, filename: str = "<input>") -> "ir.Module":
    try:
        return ir.Module.parse(text, context=ctx) if ctx else ir.Module.parse(text)
    except ir.MLIRError as e:
        raise MoeCodegenError(format_mlir_error(e, filename)) from None


def format_mlir_error(e, filename: str = "") -> str:
    lines = []
    diags = getattr(e, "error_diagnostics", None) or []
    for d in diags:
        lines.append(f"{_loc(d.location, filename)}: error: {d.message}")
        for n in d.notes:
            lines.append(f"{_loc(n.location, filename)}: note: {n.message}")
    return "\n".join(lines) if lines else str(e)


def _loc(loc, filename):
    s = str(loc)
    # loc("file":L:C) -> file:L:C, the form editors and FileCheck tests expect
    if s.startswith('loc("') and s.endswith(")"):
        inner = s[4:-1]
        fname, _, rest = inner[1:].partition('"')
        return f"{filename if fname == '-' and filename else fname}{rest}"
    return s
