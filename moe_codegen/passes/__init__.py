"""The project's passes (one file each) and the named pipelines built from them."""
from . import (  # noqa: F401  (importing registers the passes)
    verify, plan, to_kernel, unpack_int4, group_accumulate, epilogue, to_flydsl, to_nvvm,
)
from .registry import PASSES, DiagnosedError, PassInfo, register  # noqa: F401

TARGET_NEUTRAL = [
    "moe-verify",
    "moe-plan",
    "moe-to-kernel",
    "moe-unpack-int4",
    "moe-group-accumulate",
    "moe-epilogue",
]
