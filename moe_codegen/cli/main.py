"""moe-codegen: compile the fused-MoE kernels of one layer and write their IR, assembly and resources."""
from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from ..artifacts import SUITES
from ..errors import MoeCodegenError
from ..spec import DTYPES, KernelSpec, supported_summary
from ..targets import TARGETS
from .common import Parser, fail

PROG = "moe-codegen"


def build_parser():
    p = Parser(prog=PROG, description=__doc__)
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    c = sub.add_parser("compile", help="compile stage 1 and/or 2; dump IR per pass, assembly, resources",
                       description=f"Supported: {supported_summary()}")
    c.add_argument("--stage", choices=("1", "2", "both"), default="both")
    c.add_argument("--dtype", choices=tuple(DTYPES), default="int4_fp8")
    c.add_argument("--group-size", type=int, help="K group of the int4 scales; -1 = per row "
                   "(default: 32 where the dtype has groups, else per row)")
    c.add_argument("--out-dtype", choices=("f16", "bf16", "f32"), default="bf16")
    c.add_argument("--mode", choices=("atomic", "reduce"), default="atomic")
    c.add_argument("--target", choices=tuple(TARGETS), default="gfx950")
    c.add_argument("--model-dim", type=int, default=7168)
    c.add_argument("--inter-dim", type=int, default=2048)
    c.add_argument("--experts", type=int, default=384)
    c.add_argument("--topk", type=int, default=8)
    c.add_argument("--doweight-stage1", action="store_true", help="apply the routed weight in stage 1")
    c.add_argument("--valid-mask", action="store_true",
                   help="reduce mode: the reduce kernel reads a [tokens, topk] valid_mask (expert parallelism)")
    c.add_argument("--tokens", type=int, help="token count the tiles are planned for (tile_m bucket)")
    c.add_argument("--tile-m", type=int)
    c.add_argument("--tile-n", type=int)
    c.add_argument("--tile-k", type=int)
    c.add_argument("--waves", type=int, help="waves (warps) per block (default: the plan's)")
    c.add_argument("--prefetch", type=int, choices=(0, 1, 2, 3),
                   help="K loop loads one K tile ahead: 1 all, 2 the weights, 3 the activations "
                        "(default: the plan's)")
    c.add_argument("--stages", type=int, help="sm_90: weights through a ring of this many K tiles of shared memory")
    c.add_argument("--wgmma", type=int, choices=(0, 1), help="sm_90: the warpgroup-MMA (prefill) kernel (default: "
                   "the plan's, for tile_m >= 64)")
    c.add_argument("--raster", type=int, help="token tiles per group of the block order; 0: launch order (default: "
                   "the plan's)")
    c.add_argument("--split-k", type=int, help="stage 2, atomic mode: split K over this many blocks per tile")
    c.add_argument("--k-waves", type=int, choices=(1, 2, 4, 8), help="sm_90 decode: split K over this many groups "
                   "of the block's warps, their sums added in shared memory (default: the plan's)")
    c.add_argument("--trim-m", type=int, choices=(0, 1), help="decode kernels of several MMA token tiles: a block "
                   "runs only the token tiles up to its last real row (default: the plan's)")
    c.add_argument("--bulk-out", type=int, choices=(0, 1), help="sm_90 prefill, stage 2 atomic mode: add the tile's "
                   "rows into the output by bulk reductions from shared memory (default: the plan's)")
    c.add_argument("--tma", type=int, choices=(0, 1), help="sm_90 prefill of fp8/bf16/f16 weights: the weight tiles "
                   "by the tensor memory accelerator (1) or cp.async (0) (default: the plan's)")
    c.add_argument("--multicast", type=int, choices=(0, 2), help="sm_90 prefill with weights by TMA: pairs of blocks "
                   "(clusters) share each weight box where both tiles are one expert's (default: the plan's)")
    c.add_argument("--tokens-m", type=int, choices=(0, 1), help="sm_90 prefill with weights by TMA: each warpgroup's "
                   "64 tokens as the MMA's M side, every weight row of the tile as N (default: the plan's)")
    c.add_argument("--dump-ir", metavar="DIR", default="moe_ir")
    b = sub.add_parser("build-artifacts", help="compile a suite of kernels into a folder a GPU machine can run")
    b.add_argument("--target", choices=("sm_90",), default="sm_90")
    b.add_argument("--out", required=True, metavar="DIR")
    b.add_argument("--suite", choices=tuple(SUITES), default="runtime")
    b.add_argument("--dtypes", help="tiles suite: comma-separated dtypes to search (default: all of its dtypes)")
    b.add_argument("--tokens", help="tiles suite: comma-separated token counts of the cases to search, e.g. 4096 "
                                    "for the prefill tiles only (default: all)")
    b.add_argument("--finalists", nargs="+", metavar="BENCH_JSON",
                   help="tiles suite: only the few fastest variants of each case in these earlier search results")
    return p


def compile_command(args) -> int:
    from ..compiler import compile as compile_kernel

    stages = (1, 2) if args.stage == "both" else (int(args.stage),)
    if args.group_size is None:
        args.group_size = 32 if 32 in DTYPES[args.dtype].group_sizes else -1
    out = Path(args.dump_ir)
    rows = []
    for stage in stages:
        spec = KernelSpec(stage=stage, dtype=args.dtype, group_size=args.group_size, out_dtype=args.out_dtype,
                          mode=args.mode, target=args.target, model_dim=args.model_dim,
                          inter_dim=args.inter_dim, experts=args.experts, topk=args.topk,
                          doweight_stage1=args.doweight_stage1, tile_m=args.tile_m, tile_n=args.tile_n,
                          tile_k=args.tile_k, tokens_hint=args.tokens, waves=args.waves, prefetch=args.prefetch,
                          stages=args.stages, wgmma=args.wgmma, raster=args.raster, split_k=args.split_k,
                          k_waves=args.k_waves, trim_m=args.trim_m, bulk_out=args.bulk_out, tma=args.tma,
                          multicast=args.multicast, tokens_m=args.tokens_m)
        k = compile_kernel(spec, dump_ir=out / f"stage{stage}")
        rows.append((stage, k))
        if stage == 2 and args.mode == "reduce":   # the GEMM's per-slot rows are summed by its reduce kernel
            rspec = dataclasses.replace(spec, kernel="reduce", masked=args.valid_mask, tile_m=None, tile_n=None,
                                        tile_k=None, waves=None, prefetch=None, stages=None, wgmma=None,
                                        raster=None, split_k=None, k_waves=None, trim_m=None, bulk_out=None, tma=None,
                                        multicast=None, tokens_m=None)
            rows.append(("2_reduce", compile_kernel(rspec, dump_ir=out / "stage2_reduce")))
    for stage, k in rows:
        r, l = k.resources, k.launch
        shape = (f"tile {l['tile_m']}x{l['tile_n']}x{l['tile_k']}" if k.spec.kernel == "gemm"
                 else f"{l['cols_per_thread']} columns per thread")
        # the prefill kernel, its weight path and weight sharing
        kind = "".join(f" {n}" for n in ("wgmma", "tma") if l.get(n)) + (" multicast" if l.get("cluster_y") else "") \
            + (" tokens-M" if l.get("tokens_m") else "")
        head = f"stage{stage} {k.name} [{args.target}] {shape}{kind} block {l['block']}:"
        if args.target.startswith("gfx"):
            body = (f"vgpr {r['vgpr']} agpr {r['agpr']} sgpr {r['sgpr']} lds {r['lds_bytes']} B "
                    f"spills {r['vgpr_spill']}/{r['sgpr_spill']} scratch {r['scratch_bytes']} B "
                    f"occupancy {r['occupancy_waves_per_simd']} waves/SIMD, "
                    f"K-loop VALU/MFMA {k.stats.get('valu_per_mfma')}")
        else:
            body = (f"registers {r['registers']} shared {r['shared_bytes']} B spill stores/loads "
                    f"{r['spill_store_bytes']}/{r['spill_load_bytes']} B stack {r['stack_bytes']} B "
                    f"occupancy {r['occupancy_waves_per_simd']} warps/scheduler")
        print(f"{head} {body} -> {out / f'stage{stage}'}")
    if args.target.startswith("gfx"):
        print(f"running: no AMD runtime in this project yet; the {args.target} kernels are compiled and "
              "checked, not run")
        return 0
    return run_on_gpu(rows, out, args.tokens or 8)


def run_on_gpu(rows, out, tokens) -> int:
    """sm_90: run each stage on random data against the torch reference when a CUDA GPU is here."""
    try:
        import cupy  # noqa: F401
        import torch
        have_gpu = torch.cuda.is_available()
    except ImportError:
        have_gpu = False
    if not have_gpu:
        print("running: no CUDA GPU (or no cupy) here; on a GPU machine run `pytest test_runtime` "
              "(see README, Running on a GPU)")
        return 0
    from ..runtime.cuda import CudaKernel
    from ..runtime.selfcheck import run_stage1, run_stage2, verdict

    failed = 0
    for stage, k in rows:
        if k.spec.kernel == "reduce" or k.spec.mode == "reduce":
            print(f"ran: stage {stage} (reduce mode) is checked by `pytest test_runtime`, not here")
            continue
        kern = CudaKernel(out / f"stage{stage}")
        res, ref, seed = (run_stage1 if stage == 1 else run_stage2)(kern, tokens)
        ok, msg = verdict(res, ref)
        failed += not ok
        print(f"ran stage{stage} on {torch.cuda.get_device_name()} with {tokens} tokens: {msg} "
              f"(seed {seed}) {'ok' if ok else 'FAILED'}")
    return 1 if failed else 0


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        if args.command == "compile":
            return compile_command(args)
        if args.command == "build-artifacts":
            from ..artifacts import build_artifacts, finalist_variants
            finalists = (finalist_variants(json.loads(Path(f).read_text()) for f in args.finalists)
                         if args.finalists else None)
            out = build_artifacts(args.target, args.out, args.suite,
                                  dtypes=args.dtypes.split(",") if args.dtypes else None,
                                  tokens=[int(t) for t in args.tokens.split(",")] if args.tokens else None,
                                  finalists=finalists)
            print(f"artifacts for {args.target} ({args.suite}) in {out}")
            return 0
    except MoeCodegenError as e:
        fail(PROG, str(e))
    return 0


if __name__ == "__main__":
    sys.exit(main())
