"""benchmarks/sass_loop_mix.py: the K loop is the largest backward branch of the SASS listing."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from sass_loop_mix import loop_mix  # noqa: E402

SASS = """
        /*0000*/                   MOV R1, c[0x0][0x28] ;                       /* 0x00000a0000017a02 */
        /*0010*/                   LDG.E R2, desc[UR4][R6.64] ;                 /* 0x0 */
        /*0020*/                   FFMA R4, R5, R6, R4 ;                        /* 0x0 */
        /*0030*/              @!P0 LDG.E.128 R8, desc[UR4][R2.64] ;             /* 0x0 */
        /*0040*/                   HGMMA.64x64x16.F32.BF16 R24, gdesc[UR8], R24 ;
        /*0050*/                   FFMA R4, R5, R6, R4 ;                        /* 0x0 */
        /*0060*/               @P2 BRA 0x50 ;                                  /* an inner loop of 2 */
        /*0070*/               @P1 BRA 0x20 ;                                  /* 0x0 */
        /*0080*/                   BRA 0xa0 ;                                  /* forward */
        /*0090*/                   NOP ;
        /*00a0*/                   EXIT ;
"""


def test_the_largest_backward_branch_is_the_loop():
    mix = loop_mix(SASS)
    assert mix == {"FFMA": 2, "LDG.E.128": 1, "HGMMA.64x64x16.F32.BF16": 1, "BRA": 2}


def test_no_loop_no_mix():
    assert sum(loop_mix("        /*0000*/                   EXIT ;\n").values()) == 0
