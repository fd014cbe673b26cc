"""compile(spec) -> CompiledKernel: build the op, run the pipeline, keep every stage's IR."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .errors import MoeCodegenError
from .mlir import new_context, parse_module
from .ops import build_module_text, kernel_name
from .pipeline import extract_assembly, pipeline, run_stages
from .resources import amdgpu_resources, mma_valu_ratio, ptxas_resources, sm90_warps_per_scheduler
from .spec import KernelSpec
from .targets import get_target
from .tma import weight_map

_CACHE: dict = {}


@dataclass
class CompiledKernel:
    spec: KernelSpec
    name: str
    isa: str                      # assembly (AMD) / PTX (NVIDIA)
    ir: dict                      # "NN-<stage>" -> IR text after that stage, in pipeline order
    resources: dict
    launch: dict                  # block size, tile sizes, grid rule
    binary: bytes = b""           # loadable object where the target has one here
    stats: dict = field(default_factory=dict)

    def ir_after(self, stage: str) -> str:
        """IR after the first stage with this name (e.g. "moe-to-kernel")."""
        for key, text in self.ir.items():
            if key[3:] == stage:
                return text
        raise KeyError(f"no stage '{stage}'; stages: {', '.join(self.ir)}")

    def dump(self, directory) -> Path:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        for key, text in self.ir.items():
            (d / f"{key}.mlir").write_text(text)
        suffix = get_target(self.spec.target).isa_suffix
        (d / f"kernel{suffix}").write_text(self.isa)
        (d / "resources.json").write_text(json.dumps({**self.resources, **self.stats}, indent=2) + "\n")
        (d / "launch.json").write_text(json.dumps(self.launch, indent=2) + "\n")
        if self.binary:  # loadable as is by the CUDA launcher
            from .artifacts import write_kernel
            write_kernel(self, d)
        return d


def _launch_info(module_text: str, spec: KernelSpec) -> dict:
    import re
    m = re.search(r"moe\.launch = \{([^}]*)\}", module_text)
    if not m:
        raise MoeCodegenError("kernel has no launch metadata")
    info = {k: int(v) for k, v in re.findall(r"(\w+) = (\d+) : i64", m.group(1))}
    info["kernel"] = kernel_name(spec)
    info["kind"] = spec.kernel
    if spec.kernel == "reduce":
        info["grid_y"] = "tokens"
        info["args"] = ["partial"] + (["valid_mask"] if spec.masked else []) + ["out", "tokens:i32"]
    else:
        # token tiles on grid y where the kernel walks blocks in grouped order (raster), else on x
        info["grid_y" if "grid_x" in info else "grid_x"] = "ceil(max_padded / tile_m)" + (
            f", rounded up to a multiple of cluster_y" if "cluster_y" in info else "")
        info["args"] = ["x", "w", "sx", "sw", "sorted_ids", "sorted_weights", "expert_ids", "num_valid", "out",
                        "tokens:i32"]
        if info.get("tma"):   # the weights' tensor map (128 bytes in device memory), encoded by the launcher
            info["args"].append("w_map")
            info["w_map"] = weight_map(spec, info["tile_n"])
    return info


def ptx_to_cubin(ptx: str, chip: str):
    """Assemble PTX with ptxas in a child process (a backend failure stays out of ours)."""
    ptxas = shutil.which("ptxas")
    if ptxas is None:
        raise MoeCodegenError("ptxas not found on PATH: it is needed to assemble sm_90 kernels")
    with tempfile.TemporaryDirectory() as d:
        src, out = Path(d) / "k.ptx", Path(d) / "k.cubin"
        src.write_text(ptx)
        p = subprocess.run([ptxas, f"-arch={chip}", "-O3", "-v", str(src), "-o", str(out)],
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise MoeCodegenError(f"ptxas failed: {p.stderr.strip()}")
        return out.read_bytes(), p.stdout + p.stderr


def compile(spec: KernelSpec, *, dump_ir=None, use_cache: bool = True) -> CompiledKernel:
    """Compile one stage. Same spec -> same IR and assembly, byte for byte (and a cache hit)."""
    spec = spec.validate()
    key = spec.key()
    if use_cache and key in _CACHE and dump_ir is None:
        return _CACHE[key]
    stages, binary = pipeline(f"moe-to-{spec.target}")
    with new_context() as ctx:
        module = parse_module(build_module_text(spec), ctx)
        log = run_stages(module, stages)
        launch_src = next(s.ir for s in log.stages if s.label == "moe-to-kernel")
        run_stages(module, [binary], first_index=len(stages) + 1, log=log)
        asm = extract_assembly(module)
    ir_by_stage = {f"{i:02d}-{s.label}": s.ir for i, s in enumerate(log.stages, start=1)}
    binary_blob = b""
    if get_target(spec.target).family == "nvptx":
        t = get_target(spec.target)
        binary_blob, report = ptx_to_cubin(asm, t.chip or t.name)
        resources, stats = ptxas_resources(report), {}
        ntid = re.search(r"^\.maxntid (\d+), (\d+), (\d+)$", asm, re.M)
        # the most registers a thread may hold with the whole block resident (64K per SM, 8 at a time)
        cap = min(255, 65536 // (int(ntid[1]) * int(ntid[2]) * int(ntid[3])) // 8 * 8) if ntid else 255
        if resources.get("vgpr_spill") and ".maxnreg" not in asm and ntid and cap > resources["registers"]:
            # ptxas -O3 may trade a few spills for occupancy by itself (measured: 128 registers and a 4-byte
            # spill where 212 fit without); registers come before spills here (SPEC), so a kernel that
            # spilled is assembled again with every register its block can have, kept where that spills not
            raised = re.sub(r"^(\.maxntid [^\n]*)$", rf"\1\n.maxnreg {cap}", asm, count=1, flags=re.M)
            blob2, report2 = ptx_to_cubin(raised, t.chip or t.name)
            if not ptxas_resources(report2).get("vgpr_spill"):
                asm, binary_blob, resources = raised, blob2, ptxas_resources(report2)
    else:
        resources, stats = amdgpu_resources(asm), mma_valu_ratio(asm)
    launch = _launch_info(launch_src, spec)
    # staged weights use dynamic shared memory, which the binary's static figure does not count
    resources["lds_bytes"] = max(resources.get("lds_bytes", 0), launch.get("shared_bytes", 0))
    if "shared_bytes" in resources:
        resources["shared_bytes"] = resources["lds_bytes"]
        resources["occupancy_waves_per_simd"] = sm90_warps_per_scheduler(
            resources["registers"], launch.get("block", 128), resources["shared_bytes"])
        if resources["occupancy_waves_per_simd"] == 0:   # no launch could run it: say why here, not there
            raise MoeCodegenError(
                f"{kernel_name(spec)}: a block of {launch.get('block', 128)} threads at {resources['registers']} "
                f"registers and {resources['shared_bytes']} bytes of shared memory does not fit one SM")
    kernel = CompiledKernel(spec, kernel_name(spec), asm, ir_by_stage, resources, launch, binary=binary_blob,
                            stats=stats)
    if dump_ir is not None:
        kernel.dump(dump_ir)
    if use_cache:  # an uncached compile (a test's patched pass, say) must not replace the cached one
        _CACHE[key] = kernel
    return kernel
