"""Launch one benchmark case a few times, for a profiler (ncu) to look at.

    ncu -k regex:moe_stage --launch-skip 2 --launch-count 1 --section SpeedOfLight ... \\
        python benchmarks/profile_case.py --artifacts artifacts/bench --shape kimi_e64 --tokens 1 --stage 1
"""
import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from moe_codegen.runtime.cuda import ArtifactSet  # noqa: E402
from moe_codegen.runtime.selfcheck import run_stage1, run_stage2, verdict  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--artifacts", default="artifacts/bench")
    p.add_argument("--shape", required=True)
    p.add_argument("--tokens", type=int, required=True)
    p.add_argument("--stage", type=int, choices=(1, 2), required=True)
    p.add_argument("--dtype", default="int4_fp8")
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    kern = ArtifactSet(a.artifacts).find(shape=a.shape, stage=a.stage, tokens_hint=a.tokens, dtype=a.dtype)
    for _ in range(a.repeat):
        out, ref, _ = (run_stage1 if a.stage == 1 else run_stage2)(kern, a.tokens, seed=0)
    torch.cuda.synchronize()
    print(a.shape, a.tokens, a.stage, verdict(out, ref)[1])


if __name__ == "__main__":
    main()
