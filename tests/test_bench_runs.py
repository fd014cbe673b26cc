"""The benchmark's merge of whole-suite runs (bench_sm90.py --runs N): each row its fastest run, the peer's time
its own fastest, fractions against the runs' highest ceilings, correctness from every run."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
bench = pytest.importorskip("bench_sm90")


def row(us, bytes_per_s, flops, peer_us=None, peer_config=None, ok=True, rel=1e-3):
    r = dict(us=us, weight_gb_s=bytes_per_s / 1e9, tflops=flops / 1e12, mma_ceiling="fp8", copy_same_us=us * 0.9,
             ok=ok, rel_l2=rel, bw_frac=0.0, mma_frac=0.0, of_same_copy=0.0)
    if peer_us is not None:
        r.update(peer_us=peer_us, peer_config=peer_config, peer_rel_l2=2e-3)
    return r


def test_fastest_runs_per_row():
    ceil1 = {"copy_bytes_per_s": 3.0e12, "bf16_flops": 780e12, "fp8_flops": 1400e12}
    ceil2 = {"copy_bytes_per_s": 2.5e12, "bf16_flops": 790e12, "fp8_flops": 1440e12}
    run1 = [row(100.0, 2.0e12, 10e12, 120.0, "a"), row(50.0, 1.0e12, 5e12, 40.0, "b")]
    run2 = [row(80.0, 2.5e12, 12.5e12, 130.0, "c"), row(60.0, 0.8e12, 4e12, 45.0, "d", ok=False, rel=5e-2)]
    ceil, rows = bench.fastest_runs([(ceil1, run1), (ceil2, run2)])
    assert ceil == {"copy_bytes_per_s": 3.0e12, "bf16_flops": 790e12, "fp8_flops": 1440e12}
    first, second = rows
    # the kernel's fastest run, its rates; the peer's fastest run, its configuration
    assert first["us"] == 80.0 and first["runs_us"] == [100.0, 80.0]
    assert first["bw_frac"] == pytest.approx(2.5e12 / 3.0e12) and first["mma_frac"] == pytest.approx(12.5e12 / 1440e12)
    assert first["peer_us"] == 120.0 and first["peer_config"] == "a" and first["peer_runs_us"] == [120.0, 130.0]
    assert first["vs_peer"] == pytest.approx(120.0 / 80.0)
    assert first["peer_bw_frac"] == pytest.approx(first["bw_frac"] * 80.0 / 120.0)
    assert first["of_same_copy"] == pytest.approx(72.0 / 80.0) and first["ok"]
    # a run that failed its check fails the row, whichever run was fastest; the worst error is kept
    assert second["us"] == 50.0 and not second["ok"] and second["rel_l2"] == 5e-2
    assert second["peer_us"] == 40.0 and second["peer_config"] == "b"


def test_rows_without_a_peer_stay_without():
    ceil = {"copy_bytes_per_s": 3.0e12, "bf16_flops": 780e12, "fp8_flops": 1400e12}
    _, rows = bench.fastest_runs([(ceil, [row(10.0, 1e12, 1e12)]), (ceil, [row(9.0, 1e12, 1e12)])])
    assert rows[0]["us"] == 9.0 and "peer_us" not in rows[0]
