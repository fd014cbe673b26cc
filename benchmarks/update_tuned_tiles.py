"""Write the winners of a tile search (bench.json from `bench_sm90.py --sweep`) into moe_codegen/tuned_tiles.json.

    python benchmarks/update_tuned_tiles.py bench_results/bench.json [--table moe_codegen/tuned_tiles.json]
    python benchmarks/update_tuned_tiles.py raster_results/bench.json --raster

The winner of a case is its fastest correct row (among the re-timed ones where the search re-timed its
finalists), K splits up to --max-split only.

Entries of the same (target, dtype, group, stage, dims, tile_m, token bucket) are replaced; others are kept.
With --raster (a block-order search, `build-artifacts --suite raster`) only the block order of the entries
whose tile was searched is set, to the fastest group size and weight sharing (multicast, with its
bulk copies: tma) and the MMA's operand roles of the kernel it ran (tokens_m).
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from moe_codegen.artifacts import BENCH_SHAPES, best_tiles  # noqa: E402

KEY = ("target", "dtype", "group_size", "stage", "model_dim", "inter_dim", "experts", "topk", "tile_m", "tokens_max")


def entries_from(bench: dict, target: str = "sm_90"):
    out = []
    for b in bench["best_tiles"]:
        dtype, _, g = b["dtype"].rpartition("_")
        group = -1 if g == "row" else int(g[1:])
        _, md, inter, e, k = BENCH_SHAPES[b["shape"]]
        out.append(dict(target=target, dtype=dtype, group_size=group, stage=b["stage"], model_dim=md, inter_dim=inter,
                        experts=e, topk=k, tokens_max=b["tokens"], tile_m=b["tile_m"], tile_n=b["tile_n"],
                        tile_k=b["tile_k"], waves=b.get("waves"), prefetch=b.get("prefetch", 0), stages=b.get("stages", 0),
                        wgmma=b.get("wgmma", 0), split_k=b.get("split_k", 1), k_waves=b.get("k_waves", 1),
                        trim_m=b.get("trim_m", 0), tma=b.get("tma", 0), raster=b.get("raster", 0),
                        multicast=b.get("multicast", 0), tokens_m=b.get("tokens_m", 0),
                        measured_us=round(b["us"], 1),
                        bw_frac=round(b["bw_frac"], 3)))
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bench_json")
    p.add_argument("--table", default=str(Path(__file__).resolve().parents[1] / "moe_codegen" / "tuned_tiles.json"))
    p.add_argument("--raster", action="store_true", help="set the block order of the searched tiles only")
    p.add_argument("--max-split", type=int, default=2,
                   help="fastest tile among K splits up to this (default %(default)s: each split adds one more "
                        "rounding of a 16-bit output per slot)")
    a = p.parse_args()
    bench = json.loads(Path(a.bench_json).read_text())
    bench["best_tiles"] = best_tiles([r for r in bench["rows"] if r.get("split_k", 1) <= a.max_split])
    table = json.loads(Path(a.table).read_text())
    if a.raster:
        tile = ("tile_n", "tile_k", "waves", "stages")
        done = 0
        for n in entries_from(bench):
            for e in table["entries"]:
                if all(e.get(k) == n[k] for k in KEY) and all(e.get(k, 0) == n[k] for k in tile):
                    # (the weights shared by pairs of blocks need their bulk copies: tma comes with it)
                    e.update({k: n[k] for k in ("raster", "multicast", "tma", "tokens_m")})
                    done += 1
        Path(a.table).write_text(json.dumps(table, indent=1) + "\n")
        print(f"block order of {done} entries from {a.bench_json}, table {a.table}")
        return
    new = entries_from(bench)
    for n in new:   # a tile search runs the plan's block order: the entry keeps deciding nothing about it
        del n["raster"], n["multicast"]
    keys = {tuple(n[k] for k in KEY) for n in new}
    kept = [e for e in table["entries"] if tuple(e.get(k) for k in KEY) not in keys]
    table["entries"] = kept + new
    Path(a.table).write_text(json.dumps(table, indent=1) + "\n")
    print(f"{len(new)} entries from {a.bench_json}, {len(kept)} kept, table {a.table}")


if __name__ == "__main__":
    main()
