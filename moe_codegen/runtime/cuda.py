"""CUDA launcher for sm_90 artifacts (cubin + meta.json), through cupy. No MLIR, no flydsl.

cupy is imported only when an artifact is loaded; `expected_args` and `check_tensors` work without it.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from ..errors import MoeCodegenError
from ..host.quant import act_torch_dtype
from ..host.routing import gemm_grid
from ..spec import DTYPES
from ..weight_layout import WEIGHT_BITS

FP8 = torch.float8_e4m3fn
OUT = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}


def expected_args(spec: dict, tile_m: int, tokens: int, max_padded: int) -> dict:
    """name -> (shape, dtype) of every GEMM argument, or None where the dtype has no such argument
    (sx of 16-bit activations, sw of bf16 / f16 weights: pass None, launched as a null pointer)."""
    s = spec
    if s["dtype"] not in DTYPES:
        raise MoeCodegenError(f"unknown dtype '{s['dtype']}' in the kernel spec")
    info = DTYPES[s["dtype"]]
    stage1 = s["stage"] == 1
    E, K = s["experts"], (s["model_dim"] if stage1 else s["inter_dim"])
    N = 2 * s["inter_dim"] if stage1 else s["model_dim"]
    G = s["group_size"]
    if stage1:
        rows = s["topk"] * tokens if info.slot_major else tokens
        x, sx = (rows, K), (rows,)
        out = (tokens, s["topk"], s["inter_dim"])
    else:
        x, sx = (tokens, s["topk"], K), (tokens, s["topk"])
        out = (tokens, s["topk"], s["model_dim"]) if s["mode"] == "reduce" else (tokens, s["model_dim"])
    if not info.weight_scaled:
        sw = None
    elif info.weight == "int4" and G > 0:
        sw = ((E, K // G, N), torch.bfloat16)
    else:
        sw = ((E, N), torch.float32)
    nb = math.ceil(max_padded / tile_m)
    return {
        "x": (x, act_torch_dtype(info.act, s.get("target", "sm_90"))),
        "w": ((E, N * K * WEIGHT_BITS[info.weight] // 8), torch.uint8),
        "sx": (sx, torch.float32) if info.act_scaled else None,
        "sw": sw,
        "sorted_ids": ((max_padded,), torch.int32), "sorted_weights": ((max_padded,), torch.float32),
        "expert_ids": ((nb,), torch.int32), "num_valid": ((1,), torch.int32),
        "out": (out, OUT[s["out_dtype"]]),
    }


def check_tensors(args: dict, want: dict, device) -> None:
    """Every tensor is a contiguous torch tensor of the expected shape and dtype on `device`.

    want[name] None: the argument must be None (the kernel's dtype has no such input)."""
    device = torch.device(device)
    for name, t in args.items():
        if want[name] is None:
            if t is not None:
                raise MoeCodegenError(f"{name}: this kernel's dtype has no {name}; pass None")
            continue
        shape, dtype = want[name]
        if t is None:
            raise MoeCodegenError(f"{name}: expected a {dtype} tensor of shape {tuple(shape)}, got None")
        if not isinstance(t, torch.Tensor):
            raise MoeCodegenError(f"{name}: expected a torch tensor, got {type(t).__name__}")
        if t.device != device:
            raise MoeCodegenError(f"{name}: expected a tensor on {device}, got {t.device}")
        if t.dtype != dtype:
            raise MoeCodegenError(f"{name}: expected dtype {dtype}, got {t.dtype}")
        if tuple(t.shape) != tuple(shape):
            raise MoeCodegenError(f"{name}: expected shape {tuple(shape)}, got {tuple(t.shape)}")
        if not t.is_contiguous():
            raise MoeCodegenError(f"{name}: must be contiguous")


def _require_cuda(out) -> None:
    if not isinstance(out, torch.Tensor) or out.device.type != "cuda":
        got = out.device if isinstance(out, torch.Tensor) else type(out).__name__
        raise MoeCodegenError(f"out: expected a CUDA tensor, got {got}")


def pointers(tensors) -> list:
    """Kernel arguments: the data pointer of each tensor, a null pointer for None."""
    import numpy as np

    return [np.uint64(0 if t is None else t.data_ptr()) for t in tensors]


class _Loaded:
    def __init__(self, folder):
        import cupy  # optional dependency: only GPU machines have it

        self.folder = Path(folder)
        self.meta = json.loads((self.folder / "meta.json").read_text())
        self.spec = self.meta["spec"]
        self.module = cupy.RawModule(path=str(self.folder / "kernel.cubin"))
        self.function = self.module.get_function(self.meta["kernel"])
        smem = self.meta.get("shared_bytes", 0)
        if smem > 48 * 1024:   # dynamic shared memory past 48 KiB must be opted into per kernel
            self.function.max_dynamic_shared_size_bytes = smem

    def _launch(self, device, grid, tensors, tokens, after=()):
        """after: tensors whose pointers follow the token count (a tensor map)."""
        import cupy
        import numpy as np

        ptrs = pointers(tensors)
        with cupy.cuda.Device(device.index):
            self.function(grid, (self.meta["block"], 1, 1), (*ptrs, np.int32(tokens), *pointers(after)),
                          shared_mem=self.meta.get("shared_bytes", 0))


# cuTensorMapEncodeTiled's enums (cuda.h)
_U8, _SWIZZLE, _L2_256B = 0, {128: 3, 64: 2, 32: 1}, 3


def encode_tensor_map(t: torch.Tensor, geo: dict) -> torch.Tensor:
    """The 128-byte CUtensorMap of `geo` (moe_codegen.tma.weight_map: dims, byte strides, box, swizzle)
    over t's bytes, in device memory next to t (the kernel reads it from there)."""
    import ctypes

    dims, strides, box = geo["dims"], geo["strides"], geo["box"]
    need = dims[0] + sum((d - 1) * s for d, s in zip(dims[1:], strides))   # the last byte it addresses, + 1
    if t.numel() * t.element_size() < need or t.data_ptr() % 16:
        raise MoeCodegenError(f"tensor map: {t.numel() * t.element_size()} bytes at {t.data_ptr():#x} do not hold "
                              f"the {need} bytes of dims {dims} (16-byte aligned)")
    rank = len(dims)
    buf = ctypes.create_string_buffer(128 + 64)   # a CUtensorMap is 64-byte aligned
    addr = (ctypes.addressof(buf) + 63) // 64 * 64
    fn = ctypes.CDLL("libcuda.so.1").cuTensorMapEncodeTiled
    fn.restype = ctypes.c_int
    u64, u32 = ctypes.c_uint64, ctypes.c_uint32
    err = fn(ctypes.c_void_p(addr), ctypes.c_int(_U8), u32(rank), ctypes.c_void_p(t.data_ptr()),
             (u64 * rank)(*dims), (u64 * (rank - 1))(*strides), (u32 * rank)(*box), (u32 * rank)(*([1] * rank)),
             ctypes.c_int(0), ctypes.c_int(_SWIZZLE[geo["swizzle"]]), ctypes.c_int(_L2_256B), ctypes.c_int(0))
    if err:
        raise MoeCodegenError(f"cuTensorMapEncodeTiled failed (CUresult {err}) for dims {dims}, strides {strides}, "
                              f"box {box}")
    host = torch.frombuffer(bytearray(ctypes.string_at(addr, 128)), dtype=torch.uint8)
    return host.to(t.device)


class CudaKernel(_Loaded):
    """One compiled stage GEMM. Call it with torch CUDA tensors; shapes, dtypes, devices are checked."""

    def __init__(self, folder):
        super().__init__(folder)
        self.tile_m = self.meta["tile_m"]
        self._maps = {}   # (weights' address, device) -> their tensor map (TMA kernels)

    def expected(self, tokens: int, max_padded: int) -> dict:
        return expected_args(self.spec, self.tile_m, tokens, max_padded)

    def __call__(self, x, w, sx, sw, routing, out):
        """sx / sw None where the dtype has none (16-bit activations / weights)."""
        if routing.tile_m != self.tile_m:
            raise MoeCodegenError(f"routing was sorted with tile_m {routing.tile_m}, kernel needs {self.tile_m}")
        _require_cuda(out)
        args = {"x": x, "w": w.reshape(w.shape[0], -1) if isinstance(w, torch.Tensor) and w.dim() > 2 else w,
                "sx": sx, "sw": sw,
                "sorted_ids": routing.sorted_token_ids, "sorted_weights": routing.sorted_weights,
                "expert_ids": routing.sorted_expert_ids, "num_valid": routing.num_valid_ids[:1], "out": out}
        check_tensors(args, self.expected(routing.tokens, routing.max_padded), out.device)
        grid = gemm_grid(self.meta, routing.max_padded, self.tile_m)
        after = []
        if "w_map" in self.meta:   # the map depends on nothing but the weights' address and shape
            key = (args["w"].data_ptr(), str(out.device))
            if key not in self._maps:
                self._maps[key] = encode_tensor_map(args["w"], self.meta["w_map"])
            after.append(self._maps[key])
        self._launch(out.device, grid, list(args.values()), routing.tokens, after)
        return out


class CudaReduceKernel(_Loaded):
    """Stage 2's reduce (reduce mode): out[t] = sum over valid slots of partial[t, slot]."""

    def __call__(self, partial, out, valid_mask=None):
        _require_cuda(out)
        s = self.spec
        tokens = out.shape[0]
        dt = OUT[s["out_dtype"]]
        args = {"partial": partial}
        want = {"partial": ((tokens, s["topk"], s["model_dim"]), dt), "out": ((tokens, s["model_dim"]), dt),
                "valid_mask": ((tokens, s["topk"]), torch.uint8)}
        if s["masked"]:
            if valid_mask is None:
                raise MoeCodegenError("valid_mask: this reduce kernel was compiled for a mask; pass one")
            args["valid_mask"] = valid_mask.view(torch.uint8) if valid_mask.dtype == torch.bool else valid_mask
        elif valid_mask is not None:
            raise MoeCodegenError("valid_mask: this reduce kernel was compiled without a mask")
        args["out"] = out
        check_tensors(args, want, out.device)
        self._launch(out.device, (self.meta["grid_x"], tokens, 1), list(args.values()), tokens)
        return out


class ArtifactSet:
    """The kernels of an artifact folder, looked up by spec fields."""

    def __init__(self, folder):
        self.folder = Path(folder)
        index = self.folder / "index.json"
        if not index.exists():
            raise FileNotFoundError(f"{index} not found")
        self.entries = json.loads(index.read_text())

    def find(self, **fields):
        fields.setdefault("kernel", "gemm")
        for e in self.entries:
            if all(e.get(k) == v for k, v in fields.items()):
                return self.load(e)
        raise KeyError(f"no artifact with {fields} in {self.folder}")

    def load(self, entry):
        cls = CudaReduceKernel if entry.get("kernel") == "reduce" else CudaKernel
        return cls(self.folder / entry["id"])
