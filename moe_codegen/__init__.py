"""moe-codegen: one fused-MoE GEMM op, compiled by the project's own MLIR passes."""
from .errors import MoeCodegenError
from .spec import DTYPES, KernelSpec, supported_summary

__all__ = ["KernelSpec", "MoeCodegenError", "DTYPES", "supported_summary", "compile"]


def compile(spec, **kw):
    from .compiler import compile as _compile
    return _compile(spec, **kw)
