# lit configuration: every test runs moe-opt (this checkout's) and checks with filecheck.
import os
import sys

import lit.formats

config.name = "moe-codegen"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir"]
config.test_source_root = os.path.dirname(__file__)
config.excludes = ["Inputs", "lit.cfg.py"]

root = os.path.dirname(config.test_source_root)
python = sys.executable
config.environment["PYTHONPATH"] = root + os.pathsep + os.environ.get("PYTHONPATH", "")
config.substitutions.append(("%moe-opt", f'"{python}" -m moe_codegen.cli.moe_opt'))
config.substitutions.append(("%moe-codegen", f'"{python}" -m moe_codegen.cli.main'))
# the PyPI `filecheck` package installs `filecheck`; tests spell it FileCheck, as in LLVM
filecheck = os.path.join(os.path.dirname(python), "filecheck")
config.substitutions.append(("FileCheck", f'"{filecheck}"' if os.path.exists(filecheck) else "filecheck"))
