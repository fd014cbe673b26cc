"""moe-epilogue: expand `moe.epilogue` into activation, scaling and the output write.

Operands: out; per row a lane writes (out_row_offset i32, valid i1,
row_scale f32, routed_weight f32); per column pair the lane writes, its first
output column; then the f32 values, ordered row, column pair, gate/up, j
(j = 0, 1 the two adjacent columns).

  stage 1: out1 = silu(gate * s) * (up * s) * w     plain packed store
  stage 2: out2 += acc * s * w                      `moe.atomic_add` (atomic mode)
           out2[t, slot] = acc * s * w                plain packed store (reduce mode; moe.reduce sums)
With `out` in shared memory (!llvm.ptr<3>) the values are stored there, packed, for the kernel to add
into the output itself (sm_90 prefill: a bulk reduction per row of the tile).
Rows whose valid bit is clear (sentinel padding) write nothing.  `moe.exp2` is
left for the target (a native 2^x instruction on both vendors).
"""
from __future__ import annotations

from ..mlir import ir, walk_ops
from ..midlevel import check
from ..rewrite import expand
from .registry import DiagnosedError, register

LOG2E = 1.4426950408889634
OUT_TYPES = {"bf16": "bf16", "f16": "f16", "f32": "f32"}


def _int(op, name):
    return ir.IntegerAttr(op.attributes[name]).value


def _str(op, name):
    return ir.StringAttr(op.attributes[name]).value


def _silu(e, x):
    neg = e.op(f"arith.mulf {x}, {e.c(f'{-LOG2E:.17g}', 'f32')} : f32")
    ex = e.generic("moe.exp2", [neg], ["f32"], "f32")
    den = e.op(f"arith.addf {ex}, {e.c('1.0', 'f32')} : f32")
    return e.op(f"arith.divf {x}, {den} : f32")


def _build(op):
    stage, rows, cols, gu = _int(op, "stage"), _int(op, "rows"), _int(op, "cols"), _int(op, "gate_up")
    out_dtype, mode = _str(op, "out_dtype"), _str(op, "mode")
    if out_dtype not in OUT_TYPES:
        raise DiagnosedError(f"moe.epilogue: unsupported out_dtype '{out_dtype}'", op)
    if mode not in ("atomic", "reduce"):
        raise DiagnosedError(f"moe.epilogue: unknown mode '{mode}' (known: atomic, reduce)", op)
    if mode == "reduce" and out_dtype == "f32":
        raise DiagnosedError("moe.epilogue: reduce mode writes 16-bit rows, not f32", op)
    ptr_t = str(op.operands[0].type) if len(op.operands) else "!llvm.ptr<1>"
    if ptr_t not in ("!llvm.ptr<1>", "!llvm.ptr<3>"):
        raise DiagnosedError(f"moe.epilogue: out must be a global or shared pointer, got {ptr_t}", op)
    # stage 1 rows and reduce-mode slot rows: one writer each; a shared-memory tile: this block's own
    store = stage == 1 or mode == "reduce" or ptr_t == "!llvm.ptr<3>"
    if gu != (2 if stage == 1 else 1):
        raise DiagnosedError(f"moe.epilogue: stage {stage} needs gate_up = {2 if stage == 1 else 1}", op)
    expect = 1 + 4 * rows + cols + rows * cols * gu * 2
    if len(op.operands) != expect:
        raise DiagnosedError(f"moe.epilogue expects {expect} operands, got {len(op.operands)}", op)
    ot = OUT_TYPES[out_dtype]
    align = 8 if ot == "f32" else 4

    def build(e, a):
        out = a[0]
        col_ops = a[1 + 4 * rows: 1 + 4 * rows + cols]
        vals = a[1 + 4 * rows + cols:]
        per_row = cols * gu * 2
        for i in range(rows):
            off, valid, scale, weight = a[1 + 4 * i: 5 + 4 * i]
            e.line(f"scf.if {valid} {{")
            e.depth += 1
            for c in range(cols):
                v = vals[i * per_row + c * gu * 2: i * per_row + (c + 1) * gu * 2]
                pair = []
                for j in range(2):
                    if stage == 1:
                        g = e.op(f"arith.mulf {v[j]}, {scale} : f32")
                        u = e.op(f"arith.mulf {v[2 + j]}, {scale} : f32")
                        r = e.op(f"arith.mulf {_silu(e, g)}, {u} : f32")
                    else:
                        r = e.op(f"arith.mulf {v[j]}, {scale} : f32")
                    pair.append(e.op(f"arith.mulf {r}, {weight} : f32"))
                vec = e.op(f"vector.from_elements {pair[0]}, {pair[1]} : vector<2xf32>")
                if ot != "f32":
                    vec = e.op(f"arith.truncf {vec} : vector<2xf32> to vector<2x{ot}>")
                idx = e.op(f"arith.addi {off}, {col_ops[c]} : i32")
                ptr = e.op(f"llvm.getelementptr {out}[{idx}] : ({ptr_t}, i32) -> {ptr_t}, {ot}")
                if store:
                    e.line(f"llvm.store {vec}, {ptr} {{alignment = {align} : i64}} : vector<2x{ot}>, {ptr_t}")
                elif ot == "f32":  # no packed f32 atomic on gfx9: one per column
                    nxt = e.op(f"llvm.getelementptr {ptr}[1] : (!llvm.ptr<1>) -> !llvm.ptr<1>, f32")
                    for p_, v_ in ((ptr, pair[0]), (nxt, pair[1])):
                        e.line(f'"moe.atomic_add"({p_}, {v_}) : (!llvm.ptr<1>, f32) -> ()')
                else:
                    e.line(f'"moe.atomic_add"({ptr}, {vec}) : (!llvm.ptr<1>, vector<2x{ot}>) -> ()')
            e.depth -= 1
            e.line("}")
        return []

    return build


@register("moe-epilogue", "Expand moe.epilogue: silu*up / scales / routed weight, then packed store or atomic.")
def run(module) -> None:
    for op in walk_ops(module, "moe.epilogue"):
        check(op)
        expand(op, _build(op))
