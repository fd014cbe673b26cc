"""Shared CLI plumbing: one-line errors, exit codes."""
from __future__ import annotations

import argparse
import re
import sys


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line and exits 2."""

    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


_LOCATED = re.compile(r"^\S.*?:\d+:\d+: (error|note):")


def fail(prog: str, message: str, code: int = 1):
    """Print the error: diagnostics that carry a location as they are, anything else as `prog: error: ...`."""
    first, *rest = str(message).splitlines() or [""]
    sys.stderr.write(f"{first}\n" if _LOCATED.match(first) else f"{prog}: error: {first}\n")
    for line in rest:
        sys.stderr.write(line + "\n")
    sys.exit(code)
