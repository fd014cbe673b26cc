"""runtime/cuda.py argument rules, without cupy or a GPU."""
import dataclasses

import pytest
import torch

from moe_codegen import KernelSpec, MoeCodegenError
from moe_codegen.host import make_topk, moe_sorting, prepare_dtype_weights, random_weights
from moe_codegen.runtime.cuda import CudaKernel, check_tensors, expected_args, pointers
from moe_codegen.spec import DTYPES

T, MD, INTER, E, TOPK, TILE_M = 5, 256, 128, 4, 2, 16
X_DTYPE = {"fp8": torch.float8_e4m3fn, "i8": torch.int8, "bf16": torch.bfloat16, "f16": torch.float16}
BITS = {"int4": 4, "fp8": 8, "i8": 8, "bf16": 16, "f16": 16}


def spec(dtype, stage, **kw):
    G = kw.pop("group_size", 32 if DTYPES[dtype].weight == "int4" else -1)
    return dataclasses.asdict(KernelSpec(stage=stage, dtype=dtype, target="sm_90", model_dim=MD, inter_dim=INTER,
                                         experts=E, topk=TOPK, group_size=G, **kw).validate())


@pytest.mark.parametrize("dtype", sorted(DTYPES))
@pytest.mark.parametrize("stage", [1, 2])
def test_expected_args(dtype, stage):
    info = DTYPES[dtype]
    want = expected_args(spec(dtype, stage), TILE_M, T, 100)
    N, K = (2 * INTER, MD) if stage == 1 else (MD, INTER)
    rows = TOPK * T if (stage == 1 and info.slot_major) else T
    assert want["x"] == (((rows, K) if stage == 1 else (T, TOPK, K)), X_DTYPE[info.act])
    assert want["w"] == ((E, N * K * BITS[info.weight] // 8), torch.uint8)
    if info.act_scaled:
        assert want["sx"] == (((rows,) if stage == 1 else (T, TOPK)), torch.float32)
    else:
        assert want["sx"] is None
    if info.weight == "int4":
        assert want["sw"] == ((E, K // 32, N), torch.bfloat16)
    elif info.weight_scaled:
        assert want["sw"] == ((E, N), torch.float32)
    else:
        assert want["sw"] is None
    assert want["expert_ids"] == ((7,), torch.int32)
    assert want["out"][0] == ((T, TOPK, INTER) if stage == 1 else (T, MD))


def test_int4_row_scales_and_reduce_out():
    want = expected_args(spec("int4_bf16", 2, group_size=-1, mode="reduce"), TILE_M, T, 100)
    assert want["sw"] == ((E, MD), torch.float32) and want["out"][0] == (T, TOPK, MD)
    assert want["x"][1] == torch.bfloat16 and want["sx"] is None


def _args(dtype, stage):
    """Arguments as selfcheck builds them (on CPU), the prepared weight flattened as __call__ does."""
    info = DTYPES[dtype]
    g = torch.Generator().manual_seed(0)
    N, K = (2 * INTER, MD) if stage == 1 else (MD, INTER)
    q, s, _ = random_weights(E, N, K, info.weight, target="sm_90", group_size=32 if info.weight == "int4" else -1,
                             generator=g)
    p = prepare_dtype_weights(q, s, target="sm_90", dtype=dtype, group_size=32 if info.weight == "int4" else -1)
    ids, tw = make_topk(T, E, TOPK, generator=g)
    r = moe_sorting(ids, tw, E, TILE_M)
    rows = TOPK * T if (stage == 1 and info.slot_major) else T
    x = torch.zeros((rows, K) if stage == 1 else (T, TOPK, K)).to(X_DTYPE[info.act])
    sx = torch.ones(x.shape[:-1]) if info.act_scaled else None
    out = torch.zeros((T, TOPK, INTER) if stage == 1 else (T, MD), dtype=torch.bfloat16)
    args = {"x": x, "w": p.w.reshape(E, -1), "sx": sx, "sw": p.scale, "sorted_ids": r.sorted_token_ids,
            "sorted_weights": r.sorted_weights, "expert_ids": r.sorted_expert_ids, "num_valid": r.num_valid_ids[:1],
            "out": out}
    return args, expected_args(spec(dtype, stage), TILE_M, T, r.max_padded)


@pytest.mark.parametrize("dtype", sorted(DTYPES))
@pytest.mark.parametrize("stage", [1, 2])
def test_prepared_data_fits_expected(dtype, stage):
    args, want = _args(dtype, stage)
    check_tensors(args, want, "cpu")


def test_check_tensors_messages():
    args, want = _args("bf16", 1)
    with pytest.raises(MoeCodegenError, match="sx: this kernel's dtype has no sx; pass None"):
        check_tensors({**args, "sx": torch.ones(T)}, want, "cpu")
    with pytest.raises(MoeCodegenError, match="sw: .* pass None"):
        check_tensors({**args, "sw": torch.ones(E, 2 * INTER)}, want, "cpu")
    args, want = _args("int8smooth", 1)
    with pytest.raises(MoeCodegenError, match=r"sx: expected a torch.float32 tensor of shape \(10,\), got None"):
        check_tensors({**args, "sx": None}, want, "cpu")
    with pytest.raises(MoeCodegenError, match=r"x: expected shape \(10, 256\), got \(5, 256\)"):
        check_tensors({**args, "x": args["x"][:T]}, want, "cpu")
    with pytest.raises(MoeCodegenError, match="x: expected dtype torch.int8"):
        check_tensors({**args, "x": args["x"].float()}, want, "cpu")
    with pytest.raises(MoeCodegenError, match="sw: expected shape"):
        check_tensors({**args, "sw": args["sw"][:, :3]}, want, "cpu")
    with pytest.raises(MoeCodegenError, match="w: expected shape"):
        check_tensors({**args, "w": args["w"][:, :-1]}, want, "cpu")
    with pytest.raises(MoeCodegenError, match="x: expected a tensor on meta"):
        check_tensors(args, want, "meta")


def test_pointers_null_for_none():
    t = torch.ones(3)
    assert [int(p) for p in pointers([t, None])] == [t.data_ptr(), 0]


def test_kernel_without_cupy():
    k = CudaKernel.__new__(CudaKernel)   # no cubin, no cupy: only the argument rules
    k.spec, k.tile_m, k.meta = spec("f16", 2), TILE_M, {"grid_y": 1}
    assert k.expected(T, 100)["sw"] is None and k.expected(T, 100)["x"][1] == torch.float16
    args, _ = _args("f16", 2)
    r = moe_sorting(*make_topk(T, E, TOPK), E, TILE_M)
    with pytest.raises(MoeCodegenError, match="out: expected a CUDA tensor"):
        k(args["x"], args["w"], None, None, r, args["out"])
