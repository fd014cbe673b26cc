"""moe-epilogue: expand `moe.epilogue` into activation, scaling and the output write.

Operands: out, then per accumulator row (out_row_offset i32, valid i1,
row_scale f32, routed_weight f32), then the first output column of each
column pair, then the accumulators (m tile, pair, gate/up, r).  Accumulator
element i of m tile m is row m * elems + i; MMA tile r of a pair holds output
column 2 * lane_col + r, so every lane writes two adjacent columns at once.

  stage 1: out1 = silu(gate * s) * (up * s) * w     plain packed store
  stage 2: out2 += acc * s * w                      `moe.atomic_add` (atomic mode)
Rows whose valid bit is clear (sentinel padding) write nothing.  `moe.exp2` is
left for the target (a native 2^x instruction on both vendors).
"""
from __future__ import annotations

from ..mlir import ir, walk_ops
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
    stage, rows, pairs = _int(op, "stage"), _int(op, "rows"), _int(op, "pairs")
    gu, m_tiles = _int(op, "gate_up"), _int(op, "m_tiles")
    out_dtype, mode = _str(op, "out_dtype"), _str(op, "mode")
    if out_dtype not in OUT_TYPES:
        raise DiagnosedError(f"moe.epilogue: unsupported out_dtype '{out_dtype}'", op)
    if stage == 2 and mode != "atomic":
        raise DiagnosedError(f"moe.epilogue: stage 2 mode '{mode}' is not implemented (supported: atomic)", op)
    subs = pairs * gu * 2
    n_acc = m_tiles * subs
    expect = 1 + 4 * rows + pairs + n_acc
    if len(op.operands) != expect:
        raise DiagnosedError(f"moe.epilogue expects {expect} operands, got {len(op.operands)}", op)
    acc_t = str(op.operands[expect - 1].type)
    elems = rows // m_tiles
    ot = OUT_TYPES[out_dtype]

    def build(e, a):
        out = a[0]
        row = [a[1 + 4 * i: 5 + 4 * i] for i in range(rows)]
        cols = a[1 + 4 * rows: 1 + 4 * rows + pairs]
        accs = a[1 + 4 * rows + pairs:]

        def elem(m, p, g, r, i):
            acc = accs[m * subs + (p * gu + g) * 2 + r]
            return e.op(f"vector.extract {acc}[{i}] : f32 from {acc_t}")

        for m in range(m_tiles):
            for i in range(elems):
                off, valid, scale, weight = row[m * elems + i]
                e.line(f"scf.if {valid} {{")
                e.depth += 1
                for p in range(pairs):
                    vals = []
                    for r in range(2):
                        if stage == 1:
                            g = e.op(f"arith.mulf {elem(m, p, 0, r, i)}, {scale} : f32")
                            u = e.op(f"arith.mulf {elem(m, p, 1, r, i)}, {scale} : f32")
                            v = e.op(f"arith.mulf {_silu(e, g)}, {u} : f32")
                        else:
                            v = e.op(f"arith.mulf {elem(m, p, 0, r, i)}, {scale} : f32")
                        vals.append(e.op(f"arith.mulf {v}, {weight} : f32"))
                    vec = e.op(f"vector.from_elements {vals[0]}, {vals[1]} : vector<2xf32>")
                    if ot != "f32":
                        vec = e.op(f"arith.truncf {vec} : vector<2xf32> to vector<2x{ot}>")
                    idx = e.op(f"arith.addi {off}, {cols[p]} : i32")
                    ptr = e.op(f"llvm.getelementptr {out}[{idx}] : (!llvm.ptr<1>, i32) -> !llvm.ptr<1>, {ot}")
                    if stage == 1:
                        e.line(f"llvm.store {vec}, {ptr} {{alignment = 4 : i64}} : vector<2x{ot}>, !llvm.ptr<1>")
                    else:
                        e.line(f'"moe.atomic_add"({ptr}, {vec}) : (!llvm.ptr<1>, vector<2x{ot}>) -> ()')
                e.depth -= 1
                e.line("}")
        return []

    return build


@register("moe-epilogue", "Expand moe.epilogue: silu*up / scales / routed weight, then packed store or atomic.")
def run(module) -> None:
    for op in walk_ops(module, "moe.epilogue"):
        expand(op, _build(op))
