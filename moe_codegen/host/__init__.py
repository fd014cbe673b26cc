"""Host-side data preparation: routing, quantization, weight packing and the torch reference."""
from .packing import PreparedWeights, prepare_fp8_weights, prepare_weights, unpack_prepared
from .quant import FP8_MAX, dequant_int4, fp8_dtype, quantize_int4, quantize_rows, random_int4
from .reference import ref_stage1, ref_stage2, rel_l2, worst_row_rel
from .routing import Routing, make_topk, moe_sorting

__all__ = [
    "FP8_MAX", "PreparedWeights", "Routing", "dequant_int4", "fp8_dtype", "make_topk", "moe_sorting",
    "prepare_fp8_weights", "prepare_weights", "quantize_int4", "quantize_rows", "random_int4", "ref_stage1", "ref_stage2",
    "rel_l2", "unpack_prepared", "worst_row_rel",
]
