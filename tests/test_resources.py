"""The sm_90 occupancy figure of the resource report, against Nsight Compute's theoretical occupancy of
kernels measured on the H100 (docs/perf/peer_ncu_h100.txt, docs/PERFORMANCE.md)."""
import pytest

from moe_codegen.resources import sm90_warps_per_scheduler


@pytest.mark.parametrize("regs,threads,shared,warps", [
    (220, 256, 201_392, 2),   # bf16 prefill stage 1: one 8-warp block (registers and shared memory)
    (246, 256, 201_360, 2),   # fp8 prefill stage 2
    (120, 256, 98_304, 4),    # the Triton peer's fp8 128 x 128 x 128 block: two blocks
    (159, 256, 98_328, 2),    # an fp8 128 x 128 tile: shared memory would take two, registers one
    (72, 128, 0, 7),          # a decode kernel of 4 warps: 28 warps by registers (44% of 64)
    (255, 128, 0, 2),         # 255 registers: two 4-warp blocks
])
def test_sm90_occupancy_counts_whole_blocks(regs, threads, shared, warps):
    assert sm90_warps_per_scheduler(regs, threads, shared) == warps


def test_sm90_occupancy_unknown_registers():
    assert sm90_warps_per_scheduler(None, 256, 0) is None
