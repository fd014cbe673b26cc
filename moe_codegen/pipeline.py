"""Named pipelines and the driver that runs them, one stage at a time, with IR dumps.

A stage is either a project pass (by its registered name) or a textual MLIR
pipeline fragment (FlyDSL's ROCm lowering, upstream passes).  Running stages
one by one is what lets every stage's IR be kept and dumped.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import MoeCodegenError
from .mlir import format_mlir_error, ir, passmanager
from .passes import PASSES, TARGET_NEUTRAL
from .passes.registry import as_mlir_pass
from .targets import TARGETS, get_target

DUMP_ENV = "MOE_CODEGEN_DUMP_IR"


def flydsl_stages(arch: str):
    """FlyDSL's own ROCm pipeline for `arch`, split at its fragments; binary stage last."""
    from flydsl.compiler.backends.base import GPUTarget
    from flydsl.compiler.backends.rocm import RocmBackend

    backend = RocmBackend(GPUTarget("rocm", arch, get_target(arch).wave_size))
    pre, binary = backend.external_binary_pipeline_fragments(compile_hints={})
    return list(pre), binary.replace("format=fatbin", "format=isa")


# PTX ISA 8.4: the first version whose mma.sync takes e4m3 operands on plain sm_90
NVPTX_FEATURES = "+ptx84"


def nvptx_stages(chip: str):
    """Upstream MLIR's NVVM lowering, split at its passes; PTX (format=isa) last."""
    pre = [
        "gpu.module(convert-scf-to-cf,convert-gpu-to-nvvm{index-bitwidth=0 use-bare-ptr-memref-call-conv=true})",
        f"nvvm-attach-target{{chip={chip} features={NVPTX_FEATURES} O=3}}",
        "gpu-to-llvm{use-bare-pointers-for-kernels=true}",
        "convert-vector-to-llvm",
        "convert-arith-to-llvm",
        "convert-cf-to-llvm",
        "reconcile-unrealized-casts",
    ]
    return pre, "gpu-module-to-binary{format=isa}"


def target_stages(target_name: str):
    t = get_target(target_name)
    if t.family == "amdgpu":
        pre, binary = flydsl_stages(t.name)
    elif t.family == "nvptx":
        pre, binary = nvptx_stages(t.chip or t.name)
    else:
        raise MoeCodegenError(f"no pipeline for target family {t.family}")
    return [t.lowering_pass, *pre], binary


def pipeline(name: str):
    """(stages, binary_stage) of a named pipeline."""
    if name == "moe-target-neutral":
        return list(TARGET_NEUTRAL), None
    m = re.fullmatch(r"moe-to-(\w+)", name)
    if m and m.group(1) in TARGETS:
        stages, binary = target_stages(m.group(1))
        return TARGET_NEUTRAL + stages, binary
    raise MoeCodegenError(f"unknown pipeline '{name}'; known: {', '.join(pipeline_names())}")


def pipeline_names():
    return ["moe-target-neutral"] + [f"moe-to-{t}" for t in TARGETS]


def stage_label(stage: str) -> str:
    """A short file-name-safe name for a stage: the pass name, options dropped."""
    s = re.sub(r"\{[^}]*\}", "", stage)
    if s.startswith("gpu.module("):
        inner = [p for p in s[len("gpu.module("):-1].split(",") if p]
        s = next((p for p in inner if p.startswith("convert-gpu-to")), inner[0])
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", s).strip("-")[:60]


@dataclass
class StageResult:
    label: str
    ir: str


@dataclass
class RunLog:
    stages: list = field(default_factory=list)


def _dump_dir(dump_dir):
    if dump_dir is not None:
        return Path(dump_dir)
    env = os.environ.get(DUMP_ENV)
    return Path(env) if env else None


def run_stages(module, stages, *, dump_dir=None, filename="<input>", first_index=1, log=None):
    """Run `stages` in order on `module`; keep (and optionally dump) the IR after each."""
    out = _dump_dir(dump_dir)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    log = log if log is not None else RunLog()
    for i, stage in enumerate(stages, start=first_index):
        label = stage_label(stage)
        with module.context:
            if stage in PASSES:
                pm = passmanager.PassManager("builtin.module")
                info = PASSES[stage]
                pm.add(as_mlir_pass(info), name=info.name, argument=info.name, description=info.description)
            else:
                try:
                    pm = passmanager.PassManager.parse(f"builtin.module({stage})")
                except ValueError:
                    raise MoeCodegenError(
                        f"unknown pass '{stage}': neither a project pass ({', '.join(PASSES)}) "
                        "nor an MLIR/FlyDSL pass") from None
            try:
                pm.run(module.operation)
            except ir.MLIRError as e:
                raise MoeCodegenError(format_mlir_error(e, filename)) from None
        text = str(module)
        log.stages.append(StageResult(label, text))
        if out is not None:
            (out / f"{i:02d}-{label}.mlir").write_text(text)
    return log


def extract_assembly(module) -> str:
    """The assembly text of every gpu.binary that gpu-module-to-binary{format=isa} made, in module order."""
    text = str(module)
    found = re.findall(r'assembly = "((?:[^"\\]|\\.)*)"', text)
    if not found:
        raise MoeCodegenError("the binary stage produced no assembly")
    return "\n".join(re.sub(r"\\([0-9A-Fa-f]{2})", lambda h: chr(int(h.group(1), 16)), raw) for raw in found)
