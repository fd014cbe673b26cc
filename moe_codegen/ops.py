"""The high-level `moe.gemm` op: build it from a spec, read a spec back from it.

`moe` is not a registered dialect (FlyDSL's bindings have no IRDL loader), so
the op is written in generic form with typed attributes:

  "moe.gemm"(%x, %w, %sx, %sw, %sorted_ids, %sorted_weights, %expert_ids,
             %num_valid, %out) {stage = 1 : i64, dtype = "int4_fp8", ...}

Operands, in order (stage 1 / stage 2):
  x          memref<?xK x act>      / memref<?xTOPKxK x act>   activations (fp8, i8, bf16, f16);
             int8smooth stage 1: TOPK*tokens rows, row slot*tokens + token
  w          memref<E x N x K*bits/8 x i8>  prepared (packed, preshuffled) weight bytes
  sx         memref<?xf32>          / memref<?xTOPKxf32>        activation scales (unread for 16-bit act)
  sw         memref<E x K/G x N x bf16> (group) or memref<E x N x f32> (per row; unread when unscaled)
  sorted_ids memref<?xi32>, sorted_weights memref<?xf32>, expert_ids memref<?xi32>,
  num_valid  memref<1xi32>
  out        memref<?xTOPKxINTER x out> / memref<?xMODEL x out>
"""
from __future__ import annotations

from .errors import MoeCodegenError
from .spec import DTYPES, KernelSpec
from .targets import get_target
from .weight_layout import WEIGHT_BITS

OPERAND_NAMES = ("x", "w", "sx", "sw", "sorted_ids", "sorted_weights", "expert_ids", "num_valid", "out")
INT_ATTRS = ("stage", "group_size", "model_dim", "inter_dim", "experts", "topk")
STR_ATTRS = ("dtype", "out_dtype", "mode", "target")
PLAN_ATTRS = ("tile_m", "tile_n", "tile_k", "prefetch", "stages", "waves", "wgmma", "raster", "split_k", "k_waves",
              "trim_m", "bulk_out", "tma", "multicast", "tokens_m")
OUT_MLIR = {"bf16": "bf16", "f16": "f16", "f32": "f32"}


def operand_types(spec: KernelSpec) -> list:
    """The memref type of every operand, as the verifier expects them."""
    t = get_target(spec.target)
    K, N, E = spec.k_dim, spec.n_dim, spec.experts
    info = DTYPES[spec.dtype] if spec.dtype in DTYPES else DTYPES["int4_fp8"]
    act = t.fp8_type if info.act == "fp8" else info.act
    if spec.stage == 1:
        x, sx = f"memref<?x{K}x{act}>", "memref<?xf32>"
        out = f"memref<?x{spec.topk}x{spec.inter_dim}x{OUT_MLIR[spec.out_dtype]}>"
    else:
        x, sx = f"memref<?x{spec.topk}x{K}x{act}>", f"memref<?x{spec.topk}xf32>"
        per_slot = spec.mode == "reduce"   # reduce mode: one row per (token, slot), summed later
        out = (f"memref<?x{spec.topk}x{spec.model_dim}x{OUT_MLIR[spec.out_dtype]}>" if per_slot
               else f"memref<?x{spec.model_dim}x{OUT_MLIR[spec.out_dtype]}>")
    if spec.group_size == -1:
        sw = f"memref<{E}x{N}xf32>"
    else:
        sw = f"memref<{E}x{K // spec.group_size if K % spec.group_size == 0 else '?'}x{N}xbf16>"
    w_bytes = K * WEIGHT_BITS[info.weight] // 8   # prepared bytes per weight row
    return [x, f"memref<{E}x{N}x{w_bytes}xi8>", sx, sw, "memref<?xi32>", "memref<?xf32>",
            "memref<?xi32>", "memref<1xi32>", out]


REDUCE_OPERANDS = ("partial", "valid_mask", "out")


def reduce_operand_types(spec: KernelSpec) -> list:
    t = OUT_MLIR[spec.out_dtype]
    types = [f"memref<?x{spec.topk}x{spec.model_dim}x{t}>", f"memref<?x{spec.topk}xi8>",
             f"memref<?x{spec.model_dim}x{t}>"]
    return types if spec.masked else [types[0], types[2]]


def kernel_name(spec: KernelSpec) -> str:
    if spec.kernel == "reduce":
        return f"moe_reduce_topk{spec.topk}_{spec.out_dtype}{'_masked' if spec.masked else ''}"
    g = "row" if spec.group_size == -1 else f"g{spec.group_size}"
    return f"moe_stage{spec.stage}_{spec.dtype}_{g}_{spec.out_dtype}_{spec.mode}"


def attr_text(spec: KernelSpec) -> str:
    parts = [f"{a} = {getattr(spec, a)} : i64" for a in INT_ATTRS]
    parts += [f'{a} = "{getattr(spec, a)}"' for a in STR_ATTRS]
    parts.append(f"doweight_stage1 = {'true' if spec.doweight_stage1 else 'false'}")
    for a in PLAN_ATTRS:
        if getattr(spec, a) is not None:
            parts.append(f"{a} = {getattr(spec, a)} : i64")
    if spec.tokens_hint is not None:
        parts.append(f"tokens_hint = {spec.tokens_hint} : i64")
    return "{" + ", ".join(parts) + "}"


def build_module_text(spec: KernelSpec) -> str:
    """A module holding one func with one `moe.gemm` (or `moe.reduce`): the input of every pipeline."""
    spec.validate()
    if spec.kernel == "reduce":
        types = reduce_operand_types(spec)
        names = [n for n in REDUCE_OPERANDS if spec.masked or n != "valid_mask"]
        args = ", ".join(f"%{n}: {ty}" for n, ty in zip(names, types))
        attrs = (f'{{topk = {spec.topk} : i64, model_dim = {spec.model_dim} : i64, out_dtype = "{spec.out_dtype}", '
                 f'target = "{spec.target}", masked = {"true" if spec.masked else "false"}}}')
        return ("module {\n"
                f"  func.func @{kernel_name(spec)}({args}) {{\n"
                f'    "moe.reduce"({", ".join("%" + n for n in names)}) {attrs} : ({", ".join(types)}) -> ()\n'
                "    return\n  }\n}\n")
    types = operand_types(spec)
    args = ", ".join(f"%{n}: {ty}" for n, ty in zip(OPERAND_NAMES, types))
    uses = ", ".join(f"%{n}" for n in OPERAND_NAMES)
    return (
        "module {\n"
        f"  func.func @{kernel_name(spec)}({args}) {{\n"
        f'    "moe.gemm"({uses}) {attr_text(spec)} : ({", ".join(types)}) -> ()\n'
        "    return\n"
        "  }\n"
        "}\n"
    )


def _attr_value(attr):
    from .mlir import ir
    for cls in (ir.BoolAttr, ir.IntegerAttr, ir.StringAttr):
        if isinstance(attr, cls):
            return attr.value
    return None


def spec_from_op(op) -> KernelSpec:
    """Read a KernelSpec from a `moe.gemm` op; raises MoeCodegenError naming the bad attribute."""
    attrs = {name: _attr_value(op.attributes[name]) for name in op.attributes}
    kw = {}
    for name in INT_ATTRS + PLAN_ATTRS + ("tokens_hint",):
        if name in attrs:
            if not isinstance(attrs[name], int) or isinstance(attrs[name], bool):
                raise MoeCodegenError(f"attribute '{name}' must be an integer")
            kw[name] = attrs[name]
        elif name in INT_ATTRS:
            raise MoeCodegenError(f"missing attribute '{name}'")
    for name in STR_ATTRS:
        if name not in attrs:
            raise MoeCodegenError(f"missing attribute '{name}'")
        if not isinstance(attrs[name], str):
            raise MoeCodegenError(f"attribute '{name}' must be a string")
        kw[name] = attrs[name]
    for name in ("masked",):
        if name in attrs:
            kw[name] = bool(attrs[name])
    dw = attrs.get("doweight_stage1", False)
    if not isinstance(dw, bool):
        raise MoeCodegenError("attribute 'doweight_stage1' must be a bool")
    kw["doweight_stage1"] = dw
    return KernelSpec(**kw)


def reduce_spec_from_op(op) -> KernelSpec:
    """The KernelSpec of a `moe.reduce` op (stage 2, reduce mode, the reduce kernel)."""
    attrs = {name: _attr_value(op.attributes[name]) for name in op.attributes}
    for name, kind in (("topk", int), ("model_dim", int), ("out_dtype", str), ("target", str)):
        if name not in attrs:
            raise MoeCodegenError(f"missing attribute '{name}'")
        if not isinstance(attrs[name], kind) or isinstance(attrs[name], bool):
            raise MoeCodegenError(f"attribute '{name}' must be {'an integer' if kind is int else 'a string'}")
    return KernelSpec(stage=2, mode="reduce", kernel="reduce", topk=attrs["topk"], experts=max(attrs["topk"], 1),
                      model_dim=attrs["model_dim"], out_dtype=attrs["out_dtype"], target=attrs["target"],
                      masked=bool(attrs.get("masked", False)))
