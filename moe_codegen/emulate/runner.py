"""Run a compiled gfx942/gfx950 kernel on torch CPU tensors through the executor."""
from __future__ import annotations

import dataclasses

import torch

from ..host.routing import gemm_grid
from ..mlir import ir, new_context, walk_ops
from ..ops import OPERAND_NAMES
from .executor import Launch, Memory

STAGE = "moe-to-flydsl"   # the IR the executor runs: every ROCDL instruction, structured control flow


UNUSED_BYTES = 16   # stands in for an operand the dtype does not have (the kernel never reads it)


def gemm_tensors(x, w, sx, sw, routing, out) -> list:
    """The GEMM kernel's buffer operands in OPERAND_NAMES order; a missing scale (None) becomes a
    small zero buffer, since every kernel takes all operands."""
    tensors = dict(x=x, w=w, sx=sx, sw=sw, sorted_ids=routing.sorted_token_ids,
                   sorted_weights=routing.sorted_weights, expert_ids=routing.sorted_expert_ids,
                   num_valid=routing.num_valid_ids, out=out)
    return [torch.zeros(UNUSED_BYTES, dtype=torch.uint8) if tensors[n] is None else tensors[n]
            for n in OPERAND_NAMES]


class EmulatedKernel:
    """Same call as the CUDA launcher: (x, w, sx, sw, routing, out), CPU tensors."""

    def __init__(self, compiled):
        if not compiled.spec.target.startswith("gfx"):
            raise ValueError(f"the emulator runs AMD kernels, not {compiled.spec.target}")
        self.compiled = compiled
        self.spec = dataclasses.asdict(compiled.spec)
        self.tile_m = compiled.launch.get("tile_m")
        self.ir = compiled.ir_after(STAGE)
        self.counts: dict = {}

    def __call__(self, *args, **kw):
        """GEMM: (x, w, sx, sw, routing, out); reduce kernel: (partial, out, valid_mask=None)."""
        if self.compiled.spec.kernel == "reduce":
            return self.reduce(*args, **kw)
        return self.gemm(*args, **kw)

    def gemm(self, x, w, sx, sw, routing, out):
        """sx / sw may be None for dtypes without that scale (bf16, f16: neither; int4_bf16: no sx)."""
        grid = gemm_grid(self.compiled.launch, routing.max_padded, self.tile_m)
        return self._run(gemm_tensors(x, w, sx, sw, routing, out), routing.tokens, grid, out)

    def reduce(self, partial, out, valid_mask=None):
        """Call of a reduce kernel (spec.kernel == "reduce")."""
        tensors = [partial] + ([valid_mask.view(torch.uint8)] if valid_mask is not None else []) + [out]
        return self._run(tensors, out.shape[0], (self.compiled.launch["grid_x"], out.shape[0]), out)

    def _run(self, tensors, tokens, grid, out):
        mem = Memory()
        args = []
        for t in tensors:
            if t.device.type != "cpu" or not t.is_contiguous():
                raise ValueError("the emulator needs contiguous CPU tensors")
            args.append(mem.add(t.view(torch.uint8).numpy()))   # shares memory: writes land in `out`
        args.append(tokens)
        with new_context():
            module = ir.Module.parse(self.ir)
            func = next(op for op in walk_ops(module, "gpu.func"))
            launch = Launch(func, grid, self.compiled.launch["block"], args, mem, self.compiled.spec.target)
            launch.run()
            self.counts = launch.counts
        return out
