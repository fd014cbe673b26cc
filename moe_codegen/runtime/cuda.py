"""CUDA launcher for sm_90 artifacts (cubin + meta.json), through cupy. No MLIR, no flydsl."""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from ..errors import MoeCodegenError

FP8 = torch.float8_e4m3fn


class CudaKernel:
    """One compiled stage. Call it with torch CUDA tensors; shapes, dtypes, devices are checked."""

    def __init__(self, folder):
        import cupy  # optional dependency: only GPU machines have it

        self.folder = Path(folder)
        self.meta = json.loads((self.folder / "meta.json").read_text())
        self.spec = self.meta["spec"]
        self.module = cupy.RawModule(path=str(self.folder / "kernel.cubin"))
        self.function = self.module.get_function(self.meta["kernel"])
        self.tile_m = self.meta["tile_m"]

    def expected(self, tokens: int, max_padded: int) -> dict:
        s = self.spec
        E, K = s["experts"], (s["model_dim"] if s["stage"] == 1 else s["inter_dim"])
        N = 2 * s["inter_dim"] if s["stage"] == 1 else s["model_dim"]
        G = s["group_size"]
        x = (tokens, K) if s["stage"] == 1 else (tokens, s["topk"], K)
        sx = (tokens,) if s["stage"] == 1 else (tokens, s["topk"])
        sw = (E, K // G, N) if G > 0 else (E, N)
        out = (tokens, s["topk"], s["inter_dim"]) if s["stage"] == 1 else (tokens, s["model_dim"])
        nb = math.ceil(max_padded / self.tile_m)
        return {
            "x": (x, FP8), "w": ((E, N * K // 2), torch.uint8), "sx": (sx, torch.float32),
            "sw": (sw, torch.bfloat16 if G > 0 else torch.float32),
            "sorted_ids": ((max_padded,), torch.int32), "sorted_weights": ((max_padded,), torch.float32),
            "expert_ids": ((nb,), torch.int32), "num_valid": ((1,), torch.int32),
            "out": (out, {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}[s["out_dtype"]]),
        }

    def __call__(self, x, w, sx, sw, routing, out):
        if routing.tile_m != self.tile_m:
            raise MoeCodegenError(f"routing was sorted with tile_m {routing.tile_m}, kernel needs {self.tile_m}")
        tokens = routing.tokens
        args = {"x": x, "w": w.reshape(w.shape[0], -1) if w.dim() > 2 else w, "sx": sx, "sw": sw,
                "sorted_ids": routing.sorted_token_ids, "sorted_weights": routing.sorted_weights,
                "expert_ids": routing.sorted_expert_ids, "num_valid": routing.num_valid_ids[:1], "out": out}
        want = self.expected(tokens, routing.max_padded)
        device = out.device
        for name, t in args.items():
            shape, dtype = want[name]
            if not isinstance(t, torch.Tensor):
                raise MoeCodegenError(f"{name}: expected a torch tensor, got {type(t).__name__}")
            if t.device.type != "cuda" or t.device != device:
                raise MoeCodegenError(f"{name}: expected a tensor on {device}, got {t.device}")
            if t.dtype != dtype:
                raise MoeCodegenError(f"{name}: expected dtype {dtype}, got {t.dtype}")
            if tuple(t.shape) != tuple(shape):
                raise MoeCodegenError(f"{name}: expected shape {tuple(shape)}, got {tuple(t.shape)}")
            if not t.is_contiguous():
                raise MoeCodegenError(f"{name}: must be contiguous")
        import cupy
        import numpy as np

        grid = (math.ceil(routing.max_padded / self.tile_m), self.meta["grid_y"], 1)
        ptrs = [np.uint64(args[n].data_ptr()) for n in ("x", "w", "sx", "sw", "sorted_ids", "sorted_weights",
                                                         "expert_ids", "num_valid", "out")]
        with cupy.cuda.Device(device.index):
            self.function(grid, (self.meta["block"], 1, 1), (*ptrs, np.int32(tokens)),
                          shared_mem=self.meta.get("shared_bytes", 0))
        return out


class ArtifactSet:
    """The kernels of an artifact folder, looked up by spec fields."""

    def __init__(self, folder):
        self.folder = Path(folder)
        index = self.folder / "index.json"
        if not index.exists():
            raise FileNotFoundError(f"{index} not found")
        self.entries = json.loads(index.read_text())

    def find(self, **fields) -> CudaKernel:
        for e in self.entries:
            if all(e.get(k) == v for k, v in fields.items()):
                return self.load(e)
        raise KeyError(f"no artifact with {fields} in {self.folder}")

    def load(self, entry) -> CudaKernel:
        return CudaKernel(self.folder / entry["id"])
