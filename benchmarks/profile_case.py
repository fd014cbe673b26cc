"""Launch one benchmark case a few times, for a profiler (ncu) to look at.

    ncu -k regex:moe_stage --launch-skip 2 --launch-count 1 --section SpeedOfLight ... \\
        python benchmarks/profile_case.py --artifacts artifacts/bench --shape kimi_e64 --tokens 1 --stage 1

With --peer BMxBNxBK,WARPS,STAGES,GROUP_M the benchmark's Triton peer runs the case instead, in that block
configuration (ncu -k regex:_moe_gemm).
"""
import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from moe_codegen.runtime.cuda import ArtifactSet  # noqa: E402
from moe_codegen.host import make_topk  # noqa: E402
from moe_codegen.runtime.selfcheck import activations, run_stage1, run_stage2, stage_weights, verdict  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--artifacts", default="artifacts/bench")
    p.add_argument("--shape", required=True)
    p.add_argument("--tokens", type=int, required=True)
    p.add_argument("--stage", type=int, choices=(1, 2), required=True)
    p.add_argument("--dtype", default="int4_fp8")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--id", help="the artifact folder's kernel of this id (default: the case's first match)")
    p.add_argument("--peer", help="run the Triton peer in this block configuration, e.g. 128x256x64,8,3,8")
    a = p.parse_args()
    arts = ArtifactSet(a.artifacts)
    kern = arts.find(id=a.id) if a.id else arts.find(shape=a.shape, stage=a.stage, tokens_hint=a.tokens, dtype=a.dtype)
    if a.peer:
        return run_peer(kern.spec, a)
    for _ in range(a.repeat):
        out, ref, _ = (run_stage1 if a.stage == 1 else run_stage2)(kern, a.tokens, seed=0)
    torch.cuda.synchronize()
    print(a.shape, a.tokens, a.stage, verdict(out, ref)[1])


def run_peer(s, a):
    from peer_triton import PeerWeights, peer_activations, peer_call, peer_routing   # needs triton
    blocks, warps, stages, group_m = a.peer.split(",")
    cfg = (*map(int, blocks.split("x")), int(warps), int(stages), int(group_m))
    gen = torch.Generator(device="cuda").manual_seed(0)
    n, k = (2 * s["inter_dim"], s["model_dim"]) if a.stage == 1 else (s["model_dim"], s["inter_dim"])
    pw = PeerWeights(stage_weights(s, n, k, gen, "sm_90")[0])
    ids, tw = make_topk(a.tokens, s["experts"], s["topk"], generator=torch.Generator().manual_seed(0))
    x, sx = peer_activations(pw.kind, *activations(s, a.stage, a.tokens, gen, "sm_90"))
    call, _ = peer_call(pw, x, sx, peer_routing(ids, tw, s["experts"], cfg[0]), a.tokens, s["topk"], a.stage, cfg)
    for _ in range(a.repeat):
        call()
    torch.cuda.synchronize()
    print("peer", a.shape, a.tokens, a.stage, a.peer)


if __name__ == "__main__":
    main()
