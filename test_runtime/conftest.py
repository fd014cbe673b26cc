import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

BUILD = "moe-codegen build-artifacts --target sm_90 --out artifacts/sm_90 --suite runtime"
ARTIFACTS_ENV = "MOE_CODEGEN_ARTIFACTS"


@pytest.fixture(scope="session")
def artifacts():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip(f"no CUDA GPU here; on an H100 machine run these after `{BUILD}` on the CPU machine")
    try:
        import cupy  # noqa: F401
    except ImportError:
        pytest.skip("cupy is not installed (pip install -e '.[cuda]'); the CUDA launcher needs it")
    folder = os.environ.get(ARTIFACTS_ENV, os.path.join(os.path.dirname(os.path.dirname(__file__)),
                                                        "artifacts", "sm_90"))
    from moe_codegen.runtime.cuda import ArtifactSet
    try:
        return ArtifactSet(folder)
    except FileNotFoundError:
        pytest.skip(f"no artifacts at {folder}; build them on the CPU machine with `{BUILD}` "
                    f"(or point {ARTIFACTS_ENV} at the folder)")
