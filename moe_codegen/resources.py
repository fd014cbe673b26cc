"""Resource report of a compiled kernel, read from the assembly the backend printed."""
from __future__ import annotations

import re

FIELDS = ("vgpr", "agpr", "sgpr", "lds_bytes", "vgpr_spill", "sgpr_spill", "scratch_bytes",
          "occupancy_waves_per_simd")


def _meta_int(asm: str, key: str):
    m = re.search(rf"^\s*\.{re.escape(key)}:\s*(\d+)", asm, re.M)
    return int(m.group(1)) if m else None


def _comment_int(asm: str, key: str):
    m = re.search(rf";\s*{re.escape(key)}:\s*(\d+)", asm)
    return int(m.group(1)) if m else None


def amdgpu_resources(asm: str) -> dict:
    """Registers, LDS, spills, scratch and occupancy from AMDGPU assembly.

    The code-object metadata (.vgpr_count, .sgpr_spill_count, ...) is
    authoritative; the backend's `; Occupancy:` comment gives waves per SIMD.
    """
    r = {
        "vgpr": _meta_int(asm, "vgpr_count"),
        "agpr": _meta_int(asm, "agpr_count"),
        "sgpr": _meta_int(asm, "sgpr_count"),
        "lds_bytes": _meta_int(asm, "group_segment_fixed_size"),
        "vgpr_spill": _meta_int(asm, "vgpr_spill_count"),
        "sgpr_spill": _meta_int(asm, "sgpr_spill_count"),
        "scratch_bytes": _meta_int(asm, "private_segment_fixed_size"),
        "occupancy_waves_per_simd": _comment_int(asm, "Occupancy"),
    }
    if r["agpr"] is None:
        r["agpr"] = _comment_int(asm, "NumAgprs") or 0
    if r["occupancy_waves_per_simd"] is None:
        r["occupancy_waves_per_simd"] = _gfx9_occupancy(asm, r)
    return r


def _gfx9_occupancy(asm: str, r: dict):
    """Waves per SIMD on gfx90a/gfx942/gfx950: 512 unified VGPR+AGPR per lane, granule 8, at most 8 waves."""
    m = re.search(r"\.amdhsa_accum_offset\s+(\d+)", asm)
    if r["vgpr"] is None:
        return None
    total = (int(m.group(1)) + r["agpr"]) if (m and r["agpr"]) else r["vgpr"]
    total = max(8, -(-total // 8) * 8)
    return min(8, 512 // total)


def mma_valu_ratio(asm: str, loop_only: bool = True) -> dict:
    """VALU instructions per MFMA, over the K loop (the body of the block with a back edge)."""
    lines = [ln.strip() for ln in asm.splitlines()]
    body = lines
    if loop_only:
        body = _loop_body(lines) or lines
    insts = [ln.split()[0] for ln in body if ln and not ln.startswith((";", ".", "/")) and not ln.endswith(":")]
    mfma = sum(1 for i in insts if i.startswith("v_mfma"))
    valu = sum(1 for i in insts if i.startswith("v_") and not i.startswith("v_mfma")
               and not i.startswith(("v_accvgpr_read", "v_accvgpr_write")))
    return {"mfma": mfma, "valu": valu, "valu_per_mfma": round(valu / mfma, 2) if mfma else None}


def _loop_body(lines):
    labels = {ln[:-1]: i for i, ln in enumerate(lines) if ln.endswith(":") and not ln.startswith(";")}
    best = None
    for i, ln in enumerate(lines):
        m = re.match(r"s_cbranch_\w+\s+(\S+)", ln)
        if m and m.group(1) in labels and labels[m.group(1)] < i:
            span = (labels[m.group(1)], i)
            if best is None or span[1] - span[0] > best[1] - best[0]:
                best = span
    return lines[best[0]:best[1] + 1] if best else None


def ptxas_resources(report: str) -> dict:
    """Registers, shared memory, spills and stack from `ptxas -v` output."""
    def grab(pattern):
        m = re.search(pattern, report)
        return int(m.group(1)) if m else None

    regs = grab(r"Used (\d+) registers")
    smem = grab(r"(\d+) bytes smem") or 0
    stores = grab(r"(\d+) bytes spill stores")
    loads = grab(r"(\d+) bytes spill loads")
    stack = grab(r"(\d+) bytes stack frame")
    return {"registers": regs, "shared_bytes": smem, "spill_store_bytes": stores, "spill_load_bytes": loads,
            "stack_bytes": stack,
            # the common names of the report, as on AMD
            "vgpr": regs, "agpr": 0, "sgpr": 0, "lds_bytes": smem,
            "vgpr_spill": (stores or 0) + (loads or 0), "sgpr_spill": 0, "scratch_bytes": stack,
            # set by compiler.compile, which knows the launch's block and shared memory
            "occupancy_waves_per_simd": None}


def sm90_warps_per_scheduler(regs, threads: int, shared_bytes: int):
    """Resident warps per SM sub-partition (the SIMD analogue) of an H100-class SM: whole blocks of `threads`,
    as many as its registers (64K, 256 per warp at a time), shared memory (228 KB, 1 KB reserved per block),
    64 warps and 32 blocks allow."""
    if not regs:
        return None
    warps = -(-threads // 32)
    per_warp = -(-regs * 32 // 256) * 256
    blocks = min(65536 // (per_warp * warps), 64 // warps, 32,
                 (228 << 10) // (shared_bytes + 1024) if shared_bytes else 32)
    return blocks * warps // 4
