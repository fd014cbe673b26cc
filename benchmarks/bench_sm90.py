"""H100/H200 benchmark of the sm_90 kernels, with the device's ceilings measured in the same run.

Run on the GPU machine, after `moe-codegen build-artifacts --target sm_90 --suite bench --out DIR`
on the CPU machine:

    python benchmarks/bench_sm90.py --artifacts DIR --out RESULTS_DIR

Method: 5 warm-up calls, then the median of 30 single calls timed with CUDA events, each preceded by a
256 MiB memset so that L2 starts cold.  Weight bandwidth = distinct experts touched x (weight + scale
bytes per expert) / time; FLOP/s counts useful work only (2 x tokens x topk x N x K).  Every timed
configuration is checked once against the torch reference and the error is printed beside its time.
Beside each (unless --sweep or --no-peer), a Triton fused-MoE GEMM on the same inputs (benchmarks/peer_triton.py),
its fastest correct block configuration, timed the same way.  With --runs N the whole suite runs N times and each
row keeps its fastest run (the lent GPUs slow down for seconds now and then; every run's time stays in the JSON).
Beside each, a device-to-device copy moving the same bytes (half read, half written), timed the same way:
the rate a transfer of that size reaches (a few MB do not reach the 1 GiB copy's rate).
With --sweep (every tile variant of the artifacts), each case's --refine fastest variants are then timed
--rounds more times, taking turns, and their time is the median of their runs: a tile search otherwise
crowns whichever variant a slowdown of the device (most runs have some, lasting seconds) happened to spare.
A stage-2 kernel of reduce mode in the artifacts (a hand-built A/B folder) is timed alone, its (token, slot) rows
into a NaN-poisoned buffer whose sum over the slots is checked: the structure of the peer's stage 2.
"""
from __future__ import annotations

import argparse
import functools
import importlib.util
import itertools
import json
import os
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from moe_codegen.artifacts import BENCH_DTYPES, BENCH_SHAPES, bench_tile_m, best_tiles  # noqa: E402
from moe_codegen.host import make_topk, moe_sorting, ref_stage1, ref_stage2, rel_l2  # noqa: E402
from moe_codegen.runtime.cuda import ArtifactSet  # noqa: E402
from moe_codegen.runtime.selfcheck import activations, stage_weights  # noqa: E402
from moe_codegen.spec import DTYPES  # noqa: E402

TARGET = "sm_90"
WARMUP, REPS = 5, 30
REFINE, ROUNDS = 4, 3


def timed(fn, flush, reps=REPS, warmup=WARMUP):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        flush.zero_()
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) * 1e-3)
    return statistics.median(times)


def ceilings(flush):
    n = 1 << 30
    src, dst = torch.empty(n, dtype=torch.uint8, device="cuda"), torch.empty(n, dtype=torch.uint8, device="cuda")
    t = timed(lambda: dst.copy_(src), flush, reps=10, warmup=3)
    copy = 2 * n / t
    del src, dst
    m = 8192
    a = torch.randn(m, m, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(m, m, device="cuda", dtype=torch.bfloat16)
    bf16 = 2 * m ** 3 / timed(lambda: torch.mm(a, b), flush, reps=10, warmup=3)
    a8 = a.to(torch.float8_e4m3fn)
    b8 = b.to(torch.float8_e4m3fn).t()  # column-major second operand, as _scaled_mm wants
    one = torch.tensor(1.0, device="cuda")
    fp8 = 2 * m ** 3 / timed(lambda: torch._scaled_mm(a8, b8, one, one, out_dtype=torch.bfloat16), flush,
                             reps=10, warmup=3)
    return {"copy_bytes_per_s": copy, "bf16_flops": bf16, "fp8_flops": fp8}


def kernels_for(arts, shape, tokens, sweep, dtype):
    """(stage, kernel) pairs to time: the planned kernel of each stage, or every tile variant (sweep)."""
    tm = bench_tile_m(TARGET, shape, dtype, tokens)
    for stage in (1, 2):
        if not sweep:
            yield stage, arts.find(shape=shape, stage=stage, tokens_hint=tokens, dtype=dtype)
            continue
        for e in arts.entries:
            # (prefill: every token tile of the warpgroup kernels, 64, 128 or 192, is a variant)
            if e["shape"] == shape and e["stage"] == stage and e["dtype"] == dtype and (
                    e["tile_m"] == tm or min(e["tile_m"] or 0, tm) >= 64):
                yield stage, arts.load(e)


COPY_TIMES = {}   # bytes copied -> seconds, once per size in a run


def same_bytes_copy(nbytes, flush):
    """Time of a device-to-device copy moving `nbytes` (half read, half written), timed like a kernel: the
    rate a transfer of this size reaches (small ones do not reach the 1 GiB copy's)."""
    half = max(nbytes // 2, 1)
    if half not in COPY_TIMES:
        src, dst = torch.empty(half, dtype=torch.uint8, device="cuda"), torch.empty(half, dtype=torch.uint8, device="cuda")
        COPY_TIMES[half] = timed(lambda: dst.copy_(src), flush)
    return COPY_TIMES[half]


def run(args):
    arts = ArtifactSet(args.artifacts)
    flush = torch.empty(256 << 20, dtype=torch.uint8, device="cuda")
    ceil = ceilings(flush)
    print(f"device {torch.cuda.get_device_name()}: copy {ceil['copy_bytes_per_s'] / 1e12:.2f} TB/s, "
          f"bf16 {ceil['bf16_flops'] / 1e12:.0f} TFLOP/s, fp8 {ceil['fp8_flops'] / 1e12:.0f} TFLOP/s", flush=True)
    rows = []
    peers = None if args.sweep or args.no_peer else {}
    if peers is not None and importlib.util.find_spec("triton") is None:
        print("triton is not installed: no peer column (pip install triton, or pass --no-peer)")
        peers = None
    gen = torch.Generator(device="cuda").manual_seed(args.seed)
    gcpu = torch.Generator().manual_seed(args.seed)
    dtypes = {d: g for d, g in BENCH_DTYPES.items() if not args.dtypes or d in args.dtypes.split(",")}
    for (shape, (token_list, md, inter, E, k)), (dtype, group) in itertools.product(BENCH_SHAPES.items(),
                                                                                  dtypes.items()):
        wspec = {"experts": E, "group_size": group, "dtype": dtype, "topk": k, "model_dim": md, "inter_dim": inter}
        # useful FLOP/s against the MMA ceiling of the dtype's operands (int4 weights are unpacked to them)
        ceil_key = "bf16_flops" if DTYPES[dtype].act in ("bf16", "f16") else "fp8_flops"
        p1, d1 = stage_weights(wspec, 2 * inter, md, gen, TARGET)
        p2, d2 = stage_weights(wspec, md, inter, gen, TARGET)
        label = f"{dtype}_g{group}" if group > 0 else f"{dtype}_row"
        for tokens in token_list:
            ids, tw = make_topk(tokens, E, k, generator=gcpu)
            experts_touched = int(torch.unique(ids).numel())
            ids, tw = ids.cuda(), tw.cuda()
            refs, calls = {}, []
            for stage, kern in kernels_for(arts, shape, tokens, args.sweep, dtype):
                routing = moe_sorting(ids.cpu(), tw.cpu(), E, kern.tile_m).to("cuda")
                if stage not in refs:  # one input and one reference per case, shared by its tile variants
                    x = activations(wspec, stage, tokens, gen, TARGET)
                    if stage == 1:
                        ref = ref_stage1(*x, d1, ids, tw, doweight=False)
                    else:
                        ref = ref_stage2(*x, d2, ids, tw, doweight=True)
                    refs[stage] = (x, ref)
                (x_q, sx), ref = refs[stage]
                p = p1 if stage == 1 else p2
                slot_rows = stage == 2 and kern.spec["mode"] == "reduce"
                if stage == 1:
                    out = torch.empty(tokens, k, inter, dtype=torch.bfloat16, device="cuda")
                    N, K = 2 * inter, md
                elif slot_rows:   # each (token, slot) row stored, summed by another kernel (untimed)
                    out = torch.full((tokens, k, md), float("nan"), dtype=torch.bfloat16, device="cuda")
                    N, K = md, inter
                else:
                    out = torch.zeros(tokens, md, dtype=torch.bfloat16, device="cuda")
                    N, K = md, inter
                call = functools.partial(kern, x_q, p.w, sx, p.scale, routing, out)
                w_bytes = p.w[0].numel() + (0 if p.scale is None else p.scale[0].numel() * p.scale.element_size())
                call()
                torch.cuda.synchronize()
                err = rel_l2(out.float().sum(1) if slot_rows else out.float(), ref)
                t = timed(call, flush)
                bw = experts_touched * w_bytes / t
                t_copy = same_bytes_copy(experts_touched * w_bytes, flush)
                flops = 2 * tokens * k * N * K / t
                row = dict(shape=shape, dtype=label, tokens=tokens, stage=stage, tile_m=kern.tile_m,
                           tile_n=kern.meta["tile_n"], tile_k=kern.meta["tile_k"], prefetch=kern.meta.get("prefetch", 0),
                           stages=kern.meta.get("stages", 0), waves=kern.meta.get("waves"),
                           wgmma=kern.meta.get("wgmma", 0), raster=kern.meta.get("raster", 0),
                           tma=kern.meta.get("tma", 0), multicast=kern.meta.get("cluster_y", 0),
                           split_k=kern.meta.get("grid_z", 1), k_waves=kern.meta.get("k_waves", 1),
                           trim_m=kern.meta.get("trim_m", 0), bulk_out=kern.meta.get("bulk_out", 0),
                           regs=kern.meta.get("resources", {}).get("registers"), artifact=kern.folder.name,
                           mode=kern.spec["mode"], tokens_m=kern.meta.get("tokens_m", 0),
                           us=t * 1e6, weight_gb_s=bw / 1e9,
                           copy_same_us=t_copy * 1e6, of_same_copy=t_copy / t,
                           bw_frac=bw / ceil["copy_bytes_per_s"], tflops=flops / 1e12,
                           mma_frac=flops / ceil[ceil_key], mma_ceiling=ceil_key[:-6], rel_l2=err, ok=err <= 1e-2,
                           experts_touched=experts_touched)
                if peers is not None:
                    add_peer(row, peers, stage, p, x_q, sx, ids, tw, ref, flush)
                rows.append(row)
                calls.append((row, call))
                print(f"{shape:9s} {label:12s} t={tokens:5d} stage{stage} tile {row['tile_m']}x{row['tile_n']}x"
                      f"{row['tile_k']} w{row['waves']}{' pf' if row['prefetch'] else ''}"
                      f"{' st%d' % row['stages'] if row['stages'] else ''}{' wgmma' if row['wgmma'] else ''}"
                      f"{' r%d' % row['raster'] if row['raster'] else ''}{' tma' if row['tma'] else ''}"
                      f"{' mc%d' % row['multicast'] if row['multicast'] else ''}"
                      f"{' sk%d' % row['split_k'] if row['split_k'] > 1 else ''}"
                      f"{' kw%d' % row['k_waves'] if row['k_waves'] > 1 else ''}"
                      f"{' trim' if row['trim_m'] else ''}{' bulk' if row['bulk_out'] else ''}"
                      f"{' tokens-M' if row['tokens_m'] else ''}: "
                      f"{row['us']:9.1f} us  weights {row['weight_gb_s']:7.1f} GB/s "
                      f"({row['bw_frac']:.3f} of copy, {row['of_same_copy']:.2f} of a {t_copy * 1e6:.1f} us same-bytes copy)  "
                      f"{row['tflops']:7.2f} TFLOP/s ({row['mma_frac']:.3f} of {ceil_key[:-6]})  "
                      f"rel_l2 {err:.2e}{peer_text(row)}", flush=True)
            if args.sweep:
                refine(calls, flush, args.refine, args.rounds)
            del refs, calls
        del p1, p2, d1, d2
        if peers is not None:
            peers.clear()
        torch.cuda.empty_cache()
    return ceil, rows


def add_peer(row, peers, stage, prep, x_q, sx, ids, tw, ref, flush):
    """The Triton peer's fastest correct configuration on the same inputs, into the row (peer_*, and the
    compiled kernel's speed over it, vs_peer); none when no configuration ran correctly."""
    from peer_triton import PeerWeights, best_peer   # imports triton: the GPU machine only
    if stage not in peers:
        peers[stage] = PeerWeights(prep)
    res = best_peer(peers[stage], x_q, sx, ids, tw, stage, ref, flush, timed, prefill=row["tokens"] > 256)
    if res is None:
        row.update(peer_us=None)
        return
    row.update(peer_fields(row, res["us"], res["config"], res["rel_l2"]))


def peer_fields(row, us, config, rel_l2):
    """The peer's time and what follows from it beside the row's: its fractions (same work, other time) and
    the compiled kernel's speed over it."""
    return dict(peer_us=us, peer_config=config, peer_rel_l2=rel_l2, vs_peer=us / row["us"],
                peer_bw_frac=row["bw_frac"] * row["us"] / us, peer_mma_frac=row["mma_frac"] * row["us"] / us)


def peer_text(row):
    if "peer_us" not in row:
        return ""
    if row["peer_us"] is None:
        return "  peer: no configuration ran correctly"
    return (f"  peer {row['peer_us']:.1f} us ({row['peer_config']}, rel_l2 {row['peer_rel_l2']:.1e}): "
            f"{row['vs_peer']:.2f}x")


def fastest_runs(runs):
    """Whole-suite runs merged: each row is its fastest run, the peer's time its fastest; the ceilings are
    the runs' highest, and the fractions are taken against them.  The lent H100s slow down now and then for
    seconds (every kernel 20-50% slower), so a row's fastest run is the one such a stretch spared; each
    run's time stays in the row (runs_us, peer_runs_us)."""
    ceil = {k: max(c[k] for c, _ in runs) for k in runs[0][0]}
    rows = []
    for same in zip(*(rows for _, rows in runs)):
        row = dict(min(same, key=lambda r: r["us"]), runs_us=[r["us"] for r in same])
        row.update(bw_frac=row["weight_gb_s"] * 1e9 / ceil["copy_bytes_per_s"],
                   mma_frac=row["tflops"] * 1e12 / ceil[row["mma_ceiling"] + "_flops"],
                   copy_same_us=min(r["copy_same_us"] for r in same),
                   ok=all(r["ok"] for r in same), rel_l2=max(r["rel_l2"] for r in same))
        row["of_same_copy"] = row["copy_same_us"] / row["us"]
        peer = [r for r in same if r.get("peer_us") is not None]
        if peer:
            p = min(peer, key=lambda r: r["peer_us"])
            row.update(peer_fields(row, p["peer_us"], p["peer_config"], max(r["peer_rel_l2"] for r in peer)),
                       peer_runs_us=[r["peer_us"] for r in peer])
        rows.append(row)
    return ceil, rows


def peer_cells(r):
    if r.get("peer_us") is None:
        return " none ran | |"
    return (f" {r['peer_us']:.1f} ({r['peer_bw_frac']:.3f} / {r['peer_mma_frac']:.3f}; {r['peer_config']}) | "
            f"{r['vs_peer']:.2f}x |")


def refine(calls, flush, n=REFINE, rounds=ROUNDS):
    """Re-time each stage's n fastest correct variants `rounds` more times, in turns; their rows get the
    median of all their runs (and the runs themselves)."""
    for stage in {row["stage"] for row, _ in calls}:
        top = sorted(((row, call) for row, call in calls if row["stage"] == stage and row["ok"]),
                     key=lambda rc: rc[0]["us"])[:n]
        runs = {id(row): [row["us"]] for row, _ in top}
        for _ in range(rounds):
            for row, call in top:
                runs[id(row)].append(timed(call, flush) * 1e6)
        for row, _ in top:   # the rates scale with 1 / time
            faster = row["us"] / statistics.median(runs[id(row)])
            row.update({k: row[k] * faster for k in ("weight_gb_s", "bw_frac", "tflops", "mma_frac", "of_same_copy")},
                       us=row["us"] / faster, runs_us=runs[id(row)])
        print(f"  stage {stage} re-timed: " + ", ".join(
            f"{r['tile_n']}x{r['tile_k']} w{r['waves']} pf{r['prefetch']} sk{r['split_k']} kw{r.get('k_waves', 1)}"
            f"{' trim' if r.get('trim_m') else ''} {r['us']:.1f} us"
            for r, _ in sorted(top, key=lambda rc: rc[0]["us"])), flush=True)


def write(out_dir, ceil, rows):
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dev = torch.cuda.get_device_name()
    peered = any("peer_us" in r for r in rows)
    (out / "bench.json").write_text(json.dumps({"device": dev, "ceilings": ceil, "rows": rows,
                                                "best_tiles": best_tiles(rows)}, indent=2) + "\n")
    lines = [f"Device: {dev}. Ceilings measured in the same run: copy {ceil['copy_bytes_per_s'] / 1e12:.2f} TB/s "
             f"(read + write), bf16 mm {ceil['bf16_flops'] / 1e12:.0f} TFLOP/s, fp8 _scaled_mm "
             f"{ceil['fp8_flops'] / 1e12:.0f} TFLOP/s.", "",
             "| shape | dtype | tokens | stage | tile m x n x k | median us | weight GB/s | of copy | same-bytes copy us "
             "(of it) | TFLOP/s | of MMA ceiling | rel L2 |" + (" Triton peer us (of copy / of MMA ceiling; block "
                                                                 "m x n x k) | ours faster by |" if peered else ""),
             "|---|---|---|---|---|---|---|---|---|---|---|---|" + ("---|---|" if peered else "")]
    for r in rows:
        lines.append(f"| {r['shape']} | {r['dtype']} | {r['tokens']} | {r['stage']} | "
                     f"{r['tile_m']}x{r['tile_n']}x{r['tile_k']}{' wgmma' if r.get('wgmma') else ''}"
                     f"{' tma' if r.get('tma') else ''}{' multicast' if r.get('multicast') else ''}"
                     f"{' split %d' % r['split_k'] if r.get('split_k', 1) > 1 else ''}"
                     f"{' k-waves %d' % r['k_waves'] if r.get('k_waves', 1) > 1 else ''}"
                     f"{' trim' if r.get('trim_m') else ''}{' bulk' if r.get('bulk_out') else ''}"
                     f"{' tokens-M' if r.get('tokens_m') else ''} | "
                     f"{r['us']:.1f} | {r['weight_gb_s']:.0f} | {r['bw_frac']:.3f} | "
                     f"{r['copy_same_us']:.1f} ({r['of_same_copy']:.2f}) | {r['tflops']:.2f} | "
                     f"{r['mma_frac']:.3f} ({r['mma_ceiling']}) | {r['rel_l2']:.1e} |" + (peer_cells(r) if peered else ""))
    (out / "bench.md").write_text("\n".join(lines) + "\n")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(9, 5))
        for (dt, shape, stage) in sorted({(r["dtype"], r["shape"], r["stage"]) for r in rows}):
            pts = [(r["tokens"], r["bw_frac"]) for r in rows
                   if r["dtype"] == dt and r["shape"] == shape and r["stage"] == stage]
            ax.plot(*zip(*pts), marker="o", label=f"{dt} {shape} s{stage}")
        ax.set_xscale("log")
        ax.set_xlabel("tokens")
        ax.set_ylabel("weight bandwidth / copy rate")
        ax.set_title(f"weight bandwidth fraction on {dev}")
        ax.legend(fontsize=6, ncol=2)
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / "bench.png", dpi=120)
    except ImportError:
        print("matplotlib not installed: no plot")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--artifacts", default=os.path.join("artifacts", "bench"))
    p.add_argument("--out", default="bench_results")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtypes", help=f"comma-separated subset of {','.join(BENCH_DTYPES)} (default: all)")
    p.add_argument("--sweep", action="store_true",
                   help="time every tile variant in the artifacts (build them with --suite tiles)")
    p.add_argument("--no-peer", action="store_true",
                   help="skip the Triton fused-MoE peer (timed beside each kernel unless --sweep)")
    p.add_argument("--refine", type=int, default=REFINE, help="sweep: variants per case re-timed (default %(default)s)")
    p.add_argument("--rounds", type=int, default=ROUNDS, help="sweep: re-timing rounds (default %(default)s)")
    p.add_argument("--runs", type=int, default=1,
                   help="run the whole suite this many times; each row takes its fastest run (not with --sweep)")
    args = p.parse_args()
    if args.runs > 1 and args.sweep:
        p.error("--runs is for the planned kernels; a sweep re-times its finalists itself (--refine, --rounds)")
    runs = []
    for i in range(args.runs):
        if args.runs > 1:
            print(f"--- run {i + 1} of {args.runs}", flush=True)
        runs.append(run(args))
    ceil, rows = runs[0] if args.runs == 1 else fastest_runs(runs)
    write(args.out, ceil, rows)
    bad = [r for r in rows if not r["ok"]]
    if bad:
        print(f"{len(bad)} configurations failed their correctness check")
        sys.exit(1)


if __name__ == "__main__":
    main()
