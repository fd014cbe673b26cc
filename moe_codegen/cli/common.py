"""Shared CLI plumbing: one-line errors, exit codes."""
from __future__ import annotations

import argparse
import sys


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line and exits 2."""

    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


def fail(prog: str, message: str, code: int = 1):
    first, *rest = str(message).splitlines() or [""]
    sys.stderr.write(f"{prog}: error: {first}\n" if not first.startswith(("-", "/", ".")) and ": error:" not in first
                     else f"{first}\n")
    for line in rest:
        sys.stderr.write(line + "\n")
    sys.exit(code)
