"""A small MLIR text emitter: SSA names, hoisted constants, nested regions.

The kernel outline is easier to read and review as MLIR text than as a wall of
builder calls; the text is parsed right away, so a malformed line fails loudly.
"""
from __future__ import annotations


class Emitter:
    def __init__(self, prefix: str = "v"):
        self.lines: list = []
        self.consts: dict = {}
        self.const_lines: list = []
        self.n = 0
        self.depth = 0
        self.prefix = prefix

    def _name(self, hint: str = "") -> str:
        self.n += 1
        return f"%{hint or self.prefix}{self.n}"

    def c(self, value, type_: str = "i32") -> str:
        """A constant, defined once at function entry so it dominates every use."""
        key = (str(value), type_)
        if key not in self.consts:
            tag = str(value).replace("-", "m").replace(".", "p")
            name = f"%c{tag}_{type_.replace('<', '').replace('>', '').replace(' ', '')}"
            self.consts[key] = name
            typed = "" if type_ == "i1" else f" : {type_}"  # `true : i1` does not parse
            self.const_lines.append(f"{name} = arith.constant {value}{typed}")
        return self.consts[key]

    def line(self, text: str) -> None:
        self.lines.append("  " * self.depth + text)

    def op(self, text: str, hint: str = "") -> str:
        name = self._name(hint)
        self.line(f"{name} = {text}")
        return name

    def multi(self, text: str, count: int, hint: str = "r") -> list:
        name = self._name(hint)
        self.line(f"{name}:{count} = {text}")
        return [f"{name}#{i}" for i in range(count)]

    # arithmetic on i32 unless told otherwise
    def add(self, a, b, t="i32"):
        return self.op(f"arith.addi {a}, {b} : {t}")

    def mul(self, a, b, t="i32"):
        return self.op(f"arith.muli {a}, {b} : {t}")

    def addc(self, a, k: int, t="i32"):
        return a if k == 0 else self.add(a, self.c(k, t), t)

    def mulc(self, a, k: int, t="i32"):
        return a if k == 1 else self.mul(a, self.c(k, t), t)

    def generic(self, name: str, operands, types_in, type_out, attrs: str = "") -> str:
        a = f" {{{attrs}}}" if attrs else ""
        return self.op(f'"{name}"({", ".join(operands)}){a} : ({", ".join(types_in)}) -> {type_out}')

    def body_text(self, indent: int, loc: str | None = None) -> str:
        """The function body; with `loc`, every op is given that location (a region op gets it on
        its closing brace), so diagnostics on generated ops point at the op they came from."""
        pad = " " * indent
        lines = self.const_lines + self.lines
        if loc:
            lines = [ln if ln.rstrip().endswith("{") else f"{ln} {loc}" for ln in lines]
        return "\n".join(pad + ln for ln in lines)
