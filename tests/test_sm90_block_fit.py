"""An sm_90 kernel's block must fit one SM: a kernel of 16 warps (4 waves x k_waves 4) cannot hold more than 128
registers a thread, however the spill-free reassembly would like to raise them."""
import pytest

from moe_codegen.compiler import compile
from moe_codegen.resources import sm90_warps_per_scheduler
from moe_codegen.spec import KernelSpec


@pytest.mark.parametrize("dtype", ("bf16", "fp8"))
def test_sixteen_warp_block_fits_the_register_file(dtype):
    spec = KernelSpec(stage=1, dtype=dtype, group_size=-1, out_dtype="bf16", mode="atomic", target="sm_90",
                      model_dim=7168, inter_dim=256, experts=256, topk=8, tile_m=16, tile_n=64, tile_k=128,
                      waves=4, prefetch=2, k_waves=4)
    k = compile(spec, use_cache=False)
    assert k.launch["block"] == 512
    r = k.resources
    assert r["registers"] * 512 <= 65536, r
    assert sm90_warps_per_scheduler(r["registers"], 512, r["shared_bytes"]) >= 4, r
