"""Per-lane layouts of the MMA atoms: which rows, K bytes and columns each lane holds.

The kernel outline (moe-to-kernel) is the same for every target; what differs
is where a lane's operand bytes come from and where its accumulator elements
go.  That is data about the instruction, kept here, one class per atom.

Every atom uses a K order of our choosing inside each K32 step: a lane's A
data is 8 consecutive k of the activation row (one 8- or 16-byte load per row
and step), and the prepared weights (moe_codegen/weight_layout.py) hold the
same 8 k of the lane's weight column.  The sum over k does not depend on how
the step's k are spread over the MMA's k slots, as long as A and B agree, so a
16-bit step feeds two k16 MMAs (first and second half of each lane's 8 k) or
one k32 MMA with the same data.
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
    """gfx942/gfx950 16x16 MFMAs, wave64: fp8 / i8 (k32), bf16 / f16 (k32 on gfx950, k16 on gfx942).

    A: lane l holds row l%16, k = 8*(l//16) .. +7 of the step (4 of them, k = 4*(l//16) ..,
    for a k16 MFMA, which then takes each half of the step data in turn).  B: column l%16,
    same k.  C: 4 f32 (i32), rows 4*(l//16) + i, column l%16.  Weight blocks of 32 columns
    hold two MMA tiles whose columns interleave (tile r, column c -> 2c + r),
    so a lane's accumulators of tiles 0 and 1 are two adjacent columns.
    """

    block_cols = 32          # output columns per prepared weight block
    tiles_per_block = 2

    @staticmethod
    def data_type(nbytes):
        """Container of a lane's step data (A row or B column): 8 or 16 bytes."""
        return {8: "i64", 16: "vector<4xi32>"}[nbytes]

    def operands(self, e, data, n_mma):
        """Split step data into the operands of n_mma MMAs (A and B share the layout)."""
        if n_mma == 1:
            return [data]
        halves = e.op(f"llvm.bitcast {data} : vector<4xi32> to vector<2xi64>")
        return [e.op(f"vector.extract {halves}[{u}] : i64 from vector<2xi64>") for u in range(2)]

    def b_operands(self, e, data, n_mma):
        return self.operands(e, data, n_mma)

    def lane_parts(self, e, lane):
        return self._split_lane(e, lane, 16, ("q", "c"))

    def a_rows(self, e, parts):
        return [parts["c"]]

    def a_k_offset(self, e, parts):
        return e.mulc(parts["q"], 8)

    def a_operands(self, e, loads, n_mma):
        return self.operands(e, loads[0], n_mma)

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
    4t+j and 16+4t+j map to actual k 8t + j and 8t + 4 + j, so each row is one
    8-byte load.  The k16 16-bit atoms (m16n8k16 bf16/f16) have the same
    register roles with 2-element registers: MMA u of a step takes words 2u and
    2u + 1 of each row's 16 bytes (actual k 8t + 4u ..).
    """

    block_cols = 8
    tiles_per_block = 1

    @staticmethod
    def data_type(nbytes):
        return {8: "vector<2xi32>", 16: "vector<4xi32>"}[nbytes]


    def lane_parts(self, e, lane):
        return self._split_lane(e, lane, 4, ("g", "t"))

    def a_rows(self, e, parts):
        return [parts["g"], e.addc(parts["g"], 8)]

    def a_k_offset(self, e, parts):
        return e.mulc(parts["t"], 8)

    def a_operands(self, e, loads, n_mma):
        """Rows g and g + 8 (2 words each per MMA) -> a0..a3 of each MMA."""
        n = 2 * n_mma
        w = [[e.op(f"vector.extract {v}[{i}] : i32 from vector<{n}xi32>") for i in range(n)] for v in loads]
        return [e.op(f"vector.from_elements {w[0][2 * u]}, {w[1][2 * u]}, {w[0][2 * u + 1]}, {w[1][2 * u + 1]} "
                     ": vector<4xi32>") for u in range(n_mma)]

    def b_operands(self, e, data, n_mma):
        if n_mma == 1:
            return [data]
        w = [e.op(f"vector.extract {data}[{i}] : i32 from vector<4xi32>") for i in range(4)]
        return [e.op(f"vector.from_elements {w[2 * u]}, {w[2 * u + 1]} : vector<2xi32>") for u in range(2)]

    def c_rows(self, e, parts):
        return [(parts["g"], [((0, 0), (0, 1))]), (e.addc(parts["g"], 8), [((0, 2), (0, 3))])]

    def pair_col(self, e, parts):
        return e.mulc(parts["t"], 2)

    scale_cols = (0, 1, 0, 1)   # column of the lane's pair each accumulator element belongs to

    def scale_vec(self, e, pair, r, acc_t):
        s = [e.op(f"vector.extract {pair}[{i}] : f32 from vector<2xf32>") for i in range(2)]
        return e.op(f"vector.from_elements {', '.join(s[c] for c in self.scale_cols)} : {acc_t}")


class MmaSyncTLayout(MmaSyncLayout):
    """sm_90 mma.sync m16n8k16 with the weights as the 16-row operand (decode: 16 columns x 8 tokens).

    MMA row g / g + 8 is weight column 2g / 2g + 1 of a 16-column block, so a lane's two accumulator
    rows are adjacent output columns; MMA column 2t / 2t + 1 is token row 2t / 2t + 1.  A lane holds one
    activation row (token g) and, per K32 step, 8 k of each of its two weight columns (k 8t ..);
    MMA u of the step takes words 2u, 2u + 1 of each.  The 8-bit form (one k32 MMA per step, the
    fragment of m16n8k32) takes both words of each column: k slots 4t .. and 16 + 4t .. hold actual
    k 8t .. and 8t + 4 .., as in MmaSyncLayout.  C: c0, c1 column 2g, tokens 2t, 2t + 1;
    c2, c3 column 2g + 1.
    """

    block_cols = 16

    def a_rows(self, e, parts):
        return [parts["g"]]

    def a_operands(self, e, loads, n_mma):
        w = [e.op(f"vector.extract {loads[0]}[{i}] : i32 from vector<4xi32>") for i in range(4)]
        return [e.op(f"vector.from_elements {w[2 * u]}, {w[2 * u + 1]} : vector<2xi32>") for u in range(n_mma)]

    def b_operands(self, e, data, n_mma):
        """Two columns' step data (8 k each: 4 words of 16-bit, 2 of 8-bit elements) -> the MMAs' a0..a3:
        rows g / g + 8 are the two columns, 2 words of each per MMA."""
        n = 2 * n_mma
        cols = [[e.op(f"vector.extract {d}[{i}] : i32 from vector<{n}xi32>") for i in range(n)] for d in data]
        a, b = cols
        return [e.op(f"vector.from_elements {a[2 * u]}, {b[2 * u]}, {a[2 * u + 1]}, {b[2 * u + 1]} : vector<4xi32>")
                for u in range(n_mma)]

    def c_rows(self, e, parts):
        r0 = e.mulc(parts["t"], 2)
        return [(r0, [((0, 0), (0, 2))]), (e.addc(r0, 1), [((0, 1), (0, 3))])]

    def pair_col(self, e, parts):
        return e.mulc(parts["g"], 2)

    scale_cols = (0, 0, 1, 1)


LAYOUTS = {"mfma": MfmaLayout, "mma_sync": MmaSyncLayout, "mma_sync_t": MmaSyncTLayout}
