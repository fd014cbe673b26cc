"""Run a compiled gfx942/gfx950 kernel on torch CPU tensors through the executor."""
from __future__ import annotations

import dataclasses
import math

import torch

from ..mlir import ir, new_context, walk_ops
from ..ops import OPERAND_NAMES
from .executor import Launch, Memory

STAGE = "moe-to-flydsl"   # the IR the executor runs: every ROCDL instruction, structured control flow


class EmulatedKernel:
    """Same call as the CUDA launcher: (x, w, sx, sw, routing, out), CPU tensors."""

    def __init__(self, compiled):
        if not compiled.spec.target.startswith("gfx"):
            raise ValueError(f"the emulator runs AMD kernels, not {compiled.spec.target}")
        self.compiled = compiled
        self.spec = dataclasses.asdict(compiled.spec)
        self.tile_m = compiled.launch["tile_m"]
        self.ir = compiled.ir_after(STAGE)
        self.counts: dict = {}

    def __call__(self, x, w, sx, sw, routing, out):
        tensors = dict(x=x, w=w, sx=sx, sw=sw, sorted_ids=routing.sorted_token_ids,
                       sorted_weights=routing.sorted_weights, expert_ids=routing.sorted_expert_ids,
                       num_valid=routing.num_valid_ids, out=out)
        mem = Memory()
        args = []
        for name in OPERAND_NAMES:
            t = tensors[name]
            if t.device.type != "cpu" or not t.is_contiguous():
                raise ValueError(f"{name}: the emulator needs a contiguous CPU tensor")
            args.append(mem.add(t.view(torch.uint8).numpy()))   # shares memory: writes land in `out`
        args.append(routing.tokens)
        grid = (math.ceil(routing.max_padded / self.tile_m), self.compiled.launch["grid_y"])
        with new_context():
            module = ir.Module.parse(self.ir)
            func = next(op for op in walk_ops(module, "gpu.func"))
            launch = Launch(func, grid, self.compiled.launch["block"], args, mem, self.compiled.spec.target)
            launch.run()
            self.counts = launch.counts
        return out
