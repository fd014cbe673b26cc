"""Host-side data preparation: routing, quantization, weight packing and the torch reference."""
from .packing import (PreparedWeights, prepare_dense_weights, prepare_dtype_weights, prepare_fp8_weights,
                      prepare_weights, unpack_prepared)
from .quant import (FP8_MAX, act_torch_dtype, dequant_int4, dequant_rows, fp8_dtype, quantize_act, quantize_int4,
                    quantize_rows, quantize_weights, random_int4, random_int8, random_weights, weight_torch_dtype)
from .reference import ref_stage1, ref_stage2, rel_l2, worst_row_rel
from .routing import Routing, make_topk, moe_sorting

__all__ = [
    "FP8_MAX", "PreparedWeights", "Routing", "act_torch_dtype", "dequant_int4", "dequant_rows", "fp8_dtype",
    "make_topk", "moe_sorting", "prepare_dense_weights", "prepare_dtype_weights", "prepare_fp8_weights",
    "prepare_weights", "quantize_act", "quantize_int4", "quantize_rows", "quantize_weights", "random_int4",
    "random_int8", "random_weights", "ref_stage1", "ref_stage2", "rel_l2", "unpack_prepared", "weight_torch_dtype",
    "worst_row_rel",
]
