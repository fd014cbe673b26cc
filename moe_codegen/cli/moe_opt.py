"""moe-opt: parse a .mlir file with moe ops, run named passes or a pipeline, print the result.

  moe-opt FILE --pipeline moe-to-gfx950            IR after the whole pipeline
  moe-opt FILE --passes moe-verify,moe-plan        IR after these passes
  moe-opt FILE --pipeline moe-to-gfx942 --emit isa the assembly
"""
from __future__ import annotations

import sys

from ..errors import MoeCodegenError
from .common import Parser, fail

PROG = "moe-opt"


def build_parser():
    from ..passes import PASSES
    from ..pipeline import pipeline_names

    p = Parser(prog=PROG, description=__doc__.splitlines()[0])
    p.add_argument("file", help="input .mlir file, or - for stdin")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--pipeline", help=f"named pipeline: {', '.join(pipeline_names())}")
    g.add_argument("--passes", help="comma-separated passes: project passes "
                   f"({', '.join(PASSES)}) or upstream/FlyDSL pass names")
    p.add_argument("--emit", choices=("mlir", "isa"), default="mlir",
                   help="print IR (default) or, after a moe-to-<target> pipeline, the assembly")
    p.add_argument("--dump-ir", metavar="DIR", help="write NN-<pass>.mlir after every pass")
    p.add_argument("-o", "--output", help="write here instead of stdout")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    from ..mlir import format_mlir_error, ir, new_context
    from ..pipeline import extract_assembly, pipeline, run_stages

    try:
        binary = None
        if args.pipeline:
            stages, binary = pipeline(args.pipeline)
        elif args.passes:
            stages = [s.strip() for s in args.passes.split(",") if s.strip()]
        else:
            stages = []
        if args.emit == "isa" and binary is None:
            raise MoeCodegenError("--emit isa needs a --pipeline moe-to-<target>")
        with new_context() as ctx:
            filename = "<stdin>" if args.file == "-" else args.file
            try:
                if args.file == "-":
                    module = ir.Module.parse(sys.stdin.read(), ctx)
                else:
                    module = ir.Module.parseFile(args.file, ctx)
            except ir.MLIRError as e:
                raise MoeCodegenError(format_mlir_error(e, filename)) from None
            except (FileNotFoundError, OSError) as e:
                raise MoeCodegenError(f"cannot read {filename}: {e}") from None
            run_stages(module, stages, dump_dir=args.dump_ir, filename=filename)
            if args.emit == "isa":
                run_stages(module, [binary], dump_dir=args.dump_ir, filename=filename,
                           first_index=len(stages) + 1)
                text = extract_assembly(module)
            else:
                text = str(module)
    except MoeCodegenError as e:
        fail(PROG, str(e))
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
