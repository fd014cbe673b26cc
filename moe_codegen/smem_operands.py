"""Both operands of a warpgroup MMA in shared memory (sm_90a wgmma, the prefill kernel of weights
used as stored: fp8, bf16, f16): a ring of K tiles filled by cp.async, no register staging.

Weights (the MMA's A operand, 64 weight columns per MMA).  The prepared layout of these dtypes is
the decode kernels' (moe_codegen/weight_layout.py, family nvptx): per block of 8 columns and K chunk
of 128, `pieces` x 32 lanes x 16 bytes, lane 4g + t holding column g, k 8t .. 8t + 7 of each K32
step.  That is k in natural order, 8 elements at a time, so each 16 bytes (16-bit weights) or each
half of them (8-bit weights: two K32 steps per piece) is copied as is to its row and K position.
Row order inside each 16-row warp slab is the one the mma.sync epilogue reads (layouts.py,
MmaSyncTLayout): MMA row r < 8 is column 2r of the warp's 16, row r + 8 column 2r + 1.  The MMA of
column tile `sub` of warpgroup q reads slab q * subs + sub: warp w's 16 rows of its block.

Tokens (the N operand, tile_m of them) in natural K order, 16 bytes per copy, padding rows
zero-filled (a 0-byte source).

Both use K-major core matrices (8 rows x 16 bytes) without swizzle:
  chunk c (16 bytes of K), row n  ->  c * rows * 16 + n * 16
so an MMA over K chunks c, c + 1 starts at c * rows * 16 (+ its first row * 16), leading-dimension
byte offset rows * 16, stride byte offset 128 (8 rows).
"""
from __future__ import annotations

SMEM = "!llvm.ptr<3>"
PTR = "!llvm.ptr<1>"


def descriptor_base(e, smem, offset: int, rows: int):
    """i64 matrix descriptor of the region at byte `offset` of @moe_smem with `rows` rows per chunk:
    start address >> 4 (bits 0-13), leading byte offset >> 4 (16-29), stride byte offset >> 4 (32-45);
    no swizzle, base offset 0."""
    addr = e.addc(e.op(f"llvm.ptrtoint {smem} : {SMEM} to i32"), offset)
    start = e.op(f"arith.extui {e.op(f'arith.shrui {addr}, {e.c(4)} : i32')} : i32 to i64")
    return e.op(f"arith.ori {start}, {e.c(((rows * 16) >> 4 << 16) | ((128 >> 4) << 32), 'i64')} : i64")


class _Ring:
    def __init__(self, e, smem, rows: int, tile_k: int, esize: int, stages: int, smem_base: int):
        self.e, self.smem, self.rows, self.esize = e, smem, rows, esize
        self.slot_bytes = rows * tile_k * esize
        self.chunks = tile_k * esize // 16
        self.bytes = stages * self.slot_bytes
        self.desc0 = descriptor_base(e, smem, smem_base, rows)
        self.base = smem_base

    def dst(self, slot, const):
        e = self.e
        return e.addc(e.mulc(slot, self.slot_bytes), self.base + const)

    def desc(self, slot, chunk: int, row=None):
        """Descriptor of the MMA reading chunks chunk, chunk + 1 from row `row` (i32 value) on, in ring
        slot `slot`."""
        e = self.e
        off = e.mulc(slot, self.slot_bytes >> 4)
        if row is not None:
            off = e.add(off, row)   # 16 bytes per row: the row number is its offset >> 4
        d = e.op(f"arith.addi {self.desc0}, {e.op(f'arith.extui {off} : i32 to i64')} : i64")
        return e.op(f"arith.addi {d}, {e.c((chunk * self.rows * 16) >> 4, 'i64')} : i64")


def weight_split(geo, tile_n: int, tile_k: int, threads: int):
    """How the K tile's weight copies (one per lane and K32 step: 8 bytes of fp8, 16 of bf16/f16) spread
    over the threads: (copies per 8-column block and K chunk (`unit`), threads per unit (`D`), whether a thread's D index steps K chunks (else 8-column
    blocks)), or None where the copies would not keep static offsets (see WeightTiles)."""
    steps = min(geo.steps, tile_k // 32)   # K32 steps of a chunk inside one K tile
    unit = 32 * steps                # copies per (8-column block, K chunk): one per lane and K32 step
    n_kk = max(1, tile_k // geo.k_chunk)
    if threads % unit:
        return None
    d = threads // unit
    if n_kk % d == 0:
        return unit, d, True
    if n_kk == 1 and d <= 2 and (tile_n // 8) % d == 0:
        return unit, d, False
    # four 8-column blocks per step: two warps' 16 columns each, inside one warpgroup
    if n_kk == 1 and d == 4 and tile_n // (threads // 32) == 16 and (tile_n // 8) % 4 == 0:
        return unit, d, False
    return None


class WeightTiles(_Ring):
    """Thread tid copies step data (tid % unit) of 8-column block / K chunk i * D + tid // unit, for each i:
    the thread's lane, step and D index are fixed, so every copy's source and destination is one of two
    per-thread offsets plus a constant (the columns of a D step stay inside one 16-column block, or with
    D = 4 inside two warps' blocks of one warpgroup)."""

    def __init__(self, e, smem, *, geo, tile_n: int, tile_k: int, waves: int, gate_up: int, inter: int, K: int,
                 n0, tid, threads: int, esize: int, stages: int, smem_base: int = 0):
        """n0: the block's first output column (i32 value)."""
        rows = tile_n * gate_up
        super().__init__(e, smem, rows, tile_k, esize, stages, smem_base)
        split = weight_split(geo, tile_n, tile_k, threads)
        if split is None:
            raise ValueError(f"tile_n {tile_n}, tile_k {tile_k}: weight pieces do not map onto {threads} threads")
        unit, D, d_steps_k = split
        wave_n = tile_n // waves
        subs = wave_n // 16 * gate_up
        steps = unit // 32                   # a K tile may hold part of a chunk (tile_k 64)
        n_kk, t8 = max(1, tile_k // geo.k_chunk), tile_n // 8
        self.geo, self.tile_k = geo, tile_k
        self.chunk_bytes = geo.pieces * 512          # one (8-column block, K chunk) of the prepared layout
        row_bytes = (K // geo.k_chunk) * self.chunk_bytes   # one 8-column block, all of K
        lane = e.op(f"arith.remui {tid}, {e.c(32)} : i32")
        step = e.op(f"arith.remui {e.op(f'arith.divui {tid}, {e.c(32)} : i32')}, {e.c(steps)} : i32")
        piece = e.op(f"arith.divui {step}, {e.c(geo.steps_per_piece)} : i32")
        h = e.op(f"arith.remui {step}, {e.c(geo.steps_per_piece)} : i32")
        d = e.op(f"arith.divui {tid}, {e.c(unit)} : i32")
        g, t = e.op(f"arith.divui {lane}, {e.c(4)} : i32"), e.op(f"arith.remui {lane}, {e.c(4)} : i32")
        # per thread: the source (expert base, block n0 / 8, piece, lane, D step) ...
        src = e.add(e.mulc(e.op(f"arith.divui {n0}, {e.c(8)} : i32"), row_bytes),
                    e.add(e.add(e.mulc(piece, 512), e.mulc(lane, 16)), e.mulc(h, geo.step_bytes)))
        src = e.add(src, e.mulc(d, self.chunk_bytes if d_steps_k else row_bytes))
        # ... and the destination: K bytes of the piece's steps, column (g, or 8 d + g) in its 16-block
        kdyn = e.add(e.mulc(step, 32 * esize), e.mulc(t, 8 * esize))
        if d_steps_k:
            kdyn = e.add(kdyn, e.mulc(d, geo.k_chunk * esize))
        kchunk = e.op(f"arith.divui {kdyn}, {e.c(16)} : i32")
        within = e.op(f"arith.remui {kdyn}, {e.c(16)} : i32")
        dyn = {}
        # a D step of 8-column blocks: 8 columns further in the warp's 16, or (D = 4) the next warp
        d_col, d_warp = (e.c(0), None) if d_steps_k else (d, None) if D <= 2 else \
            (e.op(f"arith.remui {d}, {e.c(2)} : i32"), e.op(f"arith.divui {d}, {e.c(2)} : i32"))
        for half in (0, 8):   # the static column's place in its 16-column block
            c16 = e.addc(e.add(g, e.mulc(d_col, 8)), half)
            r = e.add(e.op(f"arith.divui {c16}, {e.c(2)} : i32"), e.mulc(e.op(f"arith.remui {c16}, {e.c(2)} : i32"), 8))
            if d_warp is not None:
                r = e.add(r, e.mulc(d_warp, 16))
            dyn[half] = e.add(e.add(e.mulc(kchunk, rows * 16), e.mulc(r, 16)), within)
        self.src_dyn, self.copies = src, []   # (source constant, destination offset, bytes)
        for i in range(n_kk * t8 * gate_up // D):
            base = i * D
            kk, rest = (base % n_kk, base // n_kk) if d_steps_k else (0, base)
            cb8, gu = rest % t8, rest // t8
            col = cb8 * 8
            w, rem = divmod(col, wave_n)
            b16, half = divmod(rem, 16)
            slab = (w // 4) * subs + b16 * gate_up + gu
            row = slab * 64 + (w % 4) * 16
            src_c = gu * inter // 8 * row_bytes + cb8 * row_bytes + kk * self.chunk_bytes
            dst = e.addc(dyn[half], kk * geo.k_chunk * esize // 16 * rows * 16 + row * 16)
            self.copies.append((src_c, dst, geo.step_bytes))

    def issue(self, w_e, k0, slot):
        e, geo = self.e, self.geo
        kc = e.op(f"arith.divui {k0}, {e.c(geo.k_chunk)} : i32")
        uoff = e.add(self.src_dyn, e.mulc(kc, self.chunk_bytes))
        if self.tile_k < geo.k_chunk:   # the tile's first step inside its chunk: whole pieces ahead of it
            s0 = e.op(f"arith.divui {e.op(f'arith.remui {k0}, {e.c(geo.k_chunk)} : i32')}, {e.c(32)} : i32")
            uoff = e.add(uoff, e.mulc(e.op(f"arith.divui {s0}, {e.c(geo.steps_per_piece)} : i32"), 512))
        for src_c, dst, nbytes in self.copies:
            e.line(f'"moe.async_copy"({self.smem}, {e.add(self.dst(slot, 0), dst)}, {w_e}, {e.c(src_c)}, {uoff}) '
                   f'{{bytes = {nbytes} : i64}} : ({SMEM}, i32, {PTR}, i32, i32) -> ()')


class TokenTiles(_Ring):
    def __init__(self, e, smem, *, tile_m: int, tile_k: int, tid, threads: int, row_start, esize: int,
                 stages: int, smem_base: int):
        """row_start(n) -> (byte offset of tile row n at k = 0, validity)."""
        super().__init__(e, smem, tile_m, tile_k, esize, stages, smem_base)
        per_row = self.chunks
        if (tile_m * per_row) % threads or threads % per_row:
            raise ValueError(f"{tile_m * per_row} activation pieces per K tile do not divide over {threads} threads")
        c = e.op(f"arith.remui {tid}, {e.c(per_row)} : i32")
        n0 = e.op(f"arith.divui {tid}, {e.c(per_row)} : i32")
        self.copies = []
        for j in range(tile_m * per_row // threads):
            n = e.addc(n0, j * threads // per_row)
            start, valid = row_start(n)
            self.copies.append((e.add(start, e.mulc(c, 16)), valid,
                                e.add(e.mulc(c, tile_m * 16), e.mulc(n, 16))))

    def issue(self, k0, slot):
        e = self.e
        uoff = e.mulc(k0, self.esize)
        for src, valid, dst in self.copies:
            e.line(f'"moe.async_copy"({self.smem}, {e.add(self.dst(slot, 0), dst)}, %x, {src}, {uoff}, {valid}) '
                   f': ({SMEM}, i32, {PTR}, i32, i32, i1) -> ()')
