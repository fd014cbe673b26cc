"""SASS instruction mix of a kernel's K loop (the largest backward branch), from `cuobjdump -sass` of its cubin.

    python benchmarks/sass_loop_mix.py artifacts/bench/<kernel id>/kernel.cubin [...]

Needs cuobjdump (CUDA toolkit; the GPU machine has it).  Prints per cubin the loop's instruction count and its
opcodes by count: the sm_90 counterpart of the AMD report's VALU-per-MFMA figure, read from the machine code.
"""
import re
import subprocess
import sys
from collections import Counter

LINE = re.compile(r"/\*([0-9a-f]{4,})\*/\s+(@!?U?P\w+\s+)?([A-Z][\w.]*)([^;]*);")


def loop_mix(sass: str):
    insts = [(int(m.group(1), 16), m.group(3), m.group(4)) for m in LINE.finditer(sass)]
    best = None
    for i, (addr, op, args) in enumerate(insts):
        m = re.search(r"0x([0-9a-f]+)", args) if op.startswith("BRA") else None
        if m and int(m.group(1), 16) < addr:
            start = next(j for j, x in enumerate(insts) if x[0] >= int(m.group(1), 16))
            if best is None or i - start > best[1] - best[0]:
                best = (start, i)
    if best is None:
        return Counter()
    return Counter(op for _, op, _ in insts[best[0]:best[1] + 1])


def main():
    for path in sys.argv[1:]:
        sass = subprocess.run(["cuobjdump", "-sass", path], capture_output=True, text=True, check=True).stdout
        mix = loop_mix(sass)
        print(f"{path}: K-loop SASS instructions {sum(mix.values())}")
        print("  " + ", ".join(f"{op} {n}" for op, n in mix.most_common()))


if __name__ == "__main__":
    main()
