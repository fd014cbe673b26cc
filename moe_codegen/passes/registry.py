"""Pass registry: every project pass is a python-defined MLIR pass with a stable name."""
from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Callable

from ..errors import DiagnosedError, MoeCodegenError  # noqa: F401  (DiagnosedError: passes import it here)


@dataclass(frozen=True)
class PassInfo:
    name: str
    description: str
    run: Callable   # run(module_op) -> None; raises DiagnosedError on bad input


PASSES: dict = {}


def register(name: str, description: str):
    def deco(fn):
        PASSES[name] = PassInfo(name, description, fn)
        return fn
    return deco


def as_mlir_pass(info: PassInfo):
    """Adapt a project pass to PassManager.add: diagnostics on the op, then pass failure."""

    def run(op, pass_):
        try:
            info.run(op)
        except DiagnosedError as e:
            (e.op if e.op is not None else op).location.emit_error(str(e))
            pass_.signal_pass_failure()
        except MoeCodegenError as e:
            op.location.emit_error(str(e))
            pass_.signal_pass_failure()
        except Exception as e:  # a compiler bug: keep it out of MLIR, say which pass
            op.location.emit_error(f"internal error in pass {info.name}: {e!r}\n{traceback.format_exc()}")
            pass_.signal_pass_failure()

    return run
