"""Per-lane layouts of the MMA atoms: which rows, K bytes and columns each lane holds.

The kernel outline (moe-to-kernel) is the same for every target; what differs
is where a lane's operand bytes come from and where its accumulator elements
go.  That is data about the instruction, kept here, one class per atom.

Both atoms use a K order of our choosing inside each K32 group: a lane's 8
A bytes are 8 consecutive k of the activation row, so A is read with one
8-byte load per row and K32 step.  The prepared weight layouts
(moe_codegen/host/packing.py) put the matching 8 k of a weight column in one
32-bit word of nibbles, so B is one word per lane and K32 step.
"""
from __future__ import annotations


class _Layout:
    def __init__(self, atom):
        self.atom = atom

    def _split_lane(self, e, lane, div, names):
        """(lane // div, lane % div) under the given names: every atom's lane decomposition."""
        hi, lo = names
        return {hi: e.op(f"arith.divui {lane}, {e.c(div)} : i32"), lo: e.op(f"arith.remui {lane}, {e.c(div)} : i32")}


class MfmaLayout(_Layout):
    """gfx942/gfx950 `v_mfma_f32_16x16x32_fp8_fp8`, wave64.

    A: lane l holds row l%16, k = 8*(l//16) .. +7 (i64).  B: column l%16, same k.
    C: 4 f32, rows 4*(l//16) + i, column l%16.  Weight blocks of 32 columns
    hold two MMA tiles whose columns interleave (tile r, column c -> 2c + r),
    so a lane's accumulators of tiles 0 and 1 are two adjacent columns.
    """

    a_load_type = "i64"
    b_type = "i64"
    block_cols = 32          # output columns per prepared weight block
    tiles_per_block = 2
    k_chunk = 64             # K per prepared weight load
    lane_bytes = 8           # bytes per lane per weight load (buffer_load_dwordx2)

    def lane_parts(self, e, lane):
        return self._split_lane(e, lane, 16, ("q", "c"))

    def a_rows(self, e, parts):
        return [parts["c"]]

    def a_k_offset(self, e, parts):
        return e.mulc(parts["q"], 8)

    def a_operand(self, e, loads):
        return loads[0]

    def c_rows(self, e, parts):
        """Row (within the m tile) of each row slot, and the accumulator elements of each slot's pairs."""
        q4 = e.mulc(parts["q"], 4)
        return [(e.addc(q4, i), [((0, i), (1, i))]) for i in range(4)]

    def pair_col(self, e, parts):
        return e.mulc(parts["c"], 2)

    def scale_vec(self, e, pair, r, acc_t):
        s = e.op(f"vector.extract {pair}[{r}] : f32 from vector<2xf32>")
        return e.op(f"vector.broadcast {s} : f32 to {acc_t}")


class MmaSyncLayout(_Layout):
    """sm_90 `mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32`, warp32.

    g = lane//4, t = lane%4.  A regs a0..a3: (row g, k 4t..), (row g+8, k 4t..),
    (row g, k 16+4t..), (row g+8, k 16+4t..); B regs b0, b1: column g, k 4t.. and
    16+4t..; C: c0, c1 row g, columns 2t, 2t+1; c2, c3 row g+8.  MMA k index
    4t+j and 16+4t+j both map to actual k 8t + (0..7), so each row is one
    8-byte load.
    """

    a_load_type = "vector<2xi32>"
    b_type = "vector<2xi32>"
    block_cols = 8
    tiles_per_block = 1
    k_chunk = 128
    lane_bytes = 16          # one 16-byte load: 4 K32 words of one column

    def lane_parts(self, e, lane):
        return self._split_lane(e, lane, 4, ("g", "t"))

    def a_rows(self, e, parts):
        return [parts["g"], e.addc(parts["g"], 8)]

    def a_k_offset(self, e, parts):
        return e.mulc(parts["t"], 8)

    def a_operand(self, e, loads):
        lo = [e.op(f"vector.extract {v}[0] : i32 from vector<2xi32>") for v in loads]
        hi = [e.op(f"vector.extract {v}[1] : i32 from vector<2xi32>") for v in loads]
        return e.op(f"vector.from_elements {lo[0]}, {lo[1]}, {hi[0]}, {hi[1]} : vector<4xi32>")

    def c_rows(self, e, parts):
        return [(parts["g"], [((0, 0), (0, 1))]), (e.addc(parts["g"], 8), [((0, 2), (0, 3))])]

    def pair_col(self, e, parts):
        return e.mulc(parts["t"], 2)

    def scale_vec(self, e, pair, r, acc_t):
        s0 = e.op(f"vector.extract {pair}[0] : f32 from vector<2xf32>")
        s1 = e.op(f"vector.extract {pair}[1] : f32 from vector<2xf32>")
        return e.op(f"vector.from_elements {s0}, {s1}, {s0}, {s1} : {acc_t}")


LAYOUTS = {"mfma": MfmaLayout, "mma_sync": MmaSyncLayout}
