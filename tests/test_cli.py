"""moe-codegen compile: the files it writes, its summary, its one-line errors."""
import json

import pytest

from moe_codegen.cli.main import main

S = ["--model-dim", "256", "--inter-dim", "128", "--experts", "4", "--topk", "2", "--tokens", "64"]


@pytest.mark.parametrize("target,isa", [("gfx942", "kernel.s"), ("gfx950", "kernel.s"), ("sm_90", "kernel.ptx")])
def test_compile_writes_ir_assembly_and_resources(tmp_path, capsys, target, isa):
    assert main(["compile", "--target", target, "--dump-ir", str(tmp_path), *S]) == 0
    for stage in (1, 2):
        d = tmp_path / f"stage{stage}"
        assert (d / "01-moe-verify.mlir").exists() and (d / isa).exists()
        res = json.loads((d / "resources.json").read_text())
        for field in ("vgpr", "agpr", "sgpr", "lds_bytes", "vgpr_spill", "sgpr_spill", "scratch_bytes",
                      "occupancy_waves_per_simd"):
            assert field in res
        assert res["vgpr_spill"] == 0 and res["scratch_bytes"] == 0
    out = capsys.readouterr().out
    assert out.count(f"[{target}]") == 2


@pytest.mark.parametrize("tma", [0, 1])
def test_compile_prefill_weight_path(tmp_path, capsys, tma):
    """--tma picks how the fp8 prefill kernel's weight tiles reach shared memory; the summary says which."""
    argv = ["compile", "--target", "sm_90", "--dtype", "fp8", "--stage", "1", "--model-dim", "256", "--inter-dim",
            "128", "--experts", "4", "--topk", "2", "--tokens", "512", "--tma", str(tma), "--dump-ir", str(tmp_path)]
    assert main(argv) == 0
    ptx = (tmp_path / "stage1" / "kernel.ptx").read_text()
    assert ("cp.async.bulk.tensor" in ptx) == bool(tma)
    head = capsys.readouterr().out.splitlines()[0]
    assert " wgmma" in head and (" tma " in head) == bool(tma), head


def test_compile_prefill_multicast(tmp_path, capsys):
    """--multicast 2: the fp8 prefill kernel in clusters of two blocks sharing their weight boxes."""
    argv = ["compile", "--target", "sm_90", "--dtype", "fp8", "--stage", "2", "--model-dim", "256", "--inter-dim",
            "256", "--experts", "4", "--topk", "2", "--tokens", "512", "--multicast", "2", "--dump-ir", str(tmp_path)]
    assert main(argv) == 0
    ptx = (tmp_path / "stage2" / "kernel.ptx").read_text()
    assert ".reqnctapercluster 1, 2, 1" in ptx and ".multicast::cluster" in ptx
    assert " tma multicast " in capsys.readouterr().out.splitlines()[0]


@pytest.mark.parametrize("argv,msg", [
    (["compile", "--dtype", "nope"], "invalid choice: 'nope'"),
    (["compile", "--group-size", "48"], "group size 48 not supported"),
    (["compile", "--mode", "scatter"], "invalid choice: 'scatter'"),
    (["compile", "--mode", "reduce", "--stage", "2", "--out-dtype", "f32"], "reduce mode writes 16-bit"),
    (["compile", "--tile-m", "64", "--tile-n", "256", "--stage", "1", "--target", "gfx942"], "accumulator registers"),
    (["compile", "--tma", "1", "--target", "sm_90", "--stage", "1", *S], "tma: only the prefill kernel"),
    (["compile", "--split-k", "2", "--stage", "1", "--target", "sm_90", *S], "split_k 2: only stage 2"),
    (["compile", "--k-waves", "2", "--stage", "1", "--target", "gfx942", *S], "k_waves 2: the shared-memory sum"),
    (["compile", "--k-waves", "2", "--stage", "1", "--target", "sm_90", *S, "--tokens", "512"],
     "k_waves 2: the per-warp kernel"),
    (["compile", "--trim-m", "1", "--stage", "1", "--target", "sm_90", *S, "--tokens", "8"],
     "trim_m: tile_m 8 is one MMA token tile"),
    (["compile", "--trim-m", "1", "--stage", "2", "--target", "sm_90", *S, "--tokens", "512"],
     "trim_m: the warpgroup-MMA kernel"),
    (["compile", "--bulk-out", "1", "--stage", "2", "--target", "gfx942", *S, "--tokens", "512"],
     "bulk_out 1: only the warpgroup-MMA kernels of a target with a bulk copy engine (gfx942: none)"),
    (["compile", "--multicast", "2", "--tma", "0", "--stage", "1", "--target", "sm_90", *S, "--tokens", "512"],
     r"multicast 2: only the weights' bulk copies"),
])
def test_bad_flags_exit_nonzero_with_one_line(tmp_path, capsys, argv, msg):
    with pytest.raises(SystemExit) as e:
        main([*argv, "--dump-ir", str(tmp_path)])
    assert e.value.code != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and msg in err[0], err
