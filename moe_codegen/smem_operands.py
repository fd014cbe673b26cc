"""Both operands of a warpgroup MMA in shared memory (sm_90a wgmma, the prefill kernel of weights
used as stored: fp8, bf16, f16): a ring of K tiles filled by cp.async, no register staging.

Weights (the MMA's A operand, 64 weight columns per MMA).  The prepared layout of these dtypes is
the decode kernels' (moe_codegen/weight_layout.py, family nvptx): per block of 8 columns and K chunk
of 128, `pieces` x 32 lanes x 16 bytes, lane 4g + t holding column g, k 8t .. 8t + 7 of each of the
piece's K32 steps (one step of 16-bit weights, two of fp8).  Each 16-byte piece is copied whole to
its row, at K bytes 16t of its steps' group, so the shared K order is
  group of a piece's steps G, step in piece q, k 8t .. 8t + 7  ->  byte G * 64 + 16t + q * 8 * esize
which is the natural order for 16-bit weights and, for fp8, keeps a lane's two steps side by side
(k 8t.. and 32 + 8t..): full 16-byte copies and 32-byte sectors instead of 8-byte halves.  The MMA
sums over K in whatever order both operands share.  Row order inside each 16-row warp slab is the
one the mma.sync epilogue reads (layouts.py, MmaSyncTLayout): MMA row r < 8 is column 2r of the
warp's 16, row r + 8 column 2r + 1.  The MMA of column tile `sub` of warpgroup q reads slab
q * subs + sub: warp w's 16 rows of its block.

Tokens (the N operand, tile_m of them): 8 k per copy (16 bytes of 16-bit activations, 8 of fp8)
from their natural order into the same K order, padding rows zero-filled (a 0-byte source).

Both use K-major rows with the 128-byte swizzle (the wgmma descriptor's layout 1): a K tile is
split into atoms of 128 bytes of K; in atom a, row n's 16-byte chunk c (of 8) sits at
  a * rows * 128 + n * 128 + ((c ^ (n % 8)) * 16)
so the eight rows of one 8-row group read by the MMA at one K offset spread over all 32 banks.  (The
unswizzled core-matrix layout cost 3-4x the ideal shared-memory wavefronts on the H100: ncu, bf16
stage 1, 70% excessive.)  An MMA over K bytes [kb, kb + 32) of rows r.. starts at
a * rows * 128 + r * 128 + kb % 128, stride byte offset 1024 (8 rows); each ring region starts
1024-byte aligned, as the swizzle repeats every 8 rows.
"""
from __future__ import annotations

SMEM = "!llvm.ptr<3>"
PTR = "!llvm.ptr<1>"


SWIZZLE_ATOM = 128   # bytes of K per swizzled row


def descriptor_base(e, smem, offset: int, rows: int = 0, swizzle: int = 0):
    """i64 matrix descriptor of the region at byte `offset` of @moe_smem: start address >> 4 (bits 0-13),
    leading byte offset >> 4 (16-29), stride byte offset >> 4 (32-45), layout (62-63).  Unswizzled
    core matrices (`rows` rows per 16-byte K chunk): leading offset rows * 16, stride 128.  K-major rows
    of `swizzle` (128 or 64) bytes, swizzled: leading offset unused (1), stride 8 rows, layout 1 / 2."""
    addr = e.addc(e.op(f"llvm.ptrtoint {smem} : {SMEM} to i32"), offset)
    start = e.op(f"arith.extui {e.op(f'arith.shrui {addr}, {e.c(4)} : i32')} : i32 to i64")
    if swizzle:
        fields = 1 << 16 | (8 * swizzle >> 4) << 32 | {128: 1, 64: 2}[swizzle] << 62
    else:
        fields = ((rows * 16) >> 4 << 16) | ((128 >> 4) << 32)
    return e.op(f"arith.ori {start}, {e.c(fields, 'i64')} : i64")


class _Ring:
    """`stages` K tiles of `rows` K-major rows in atoms of `atom` bytes of K (128: the 128-byte swizzle,
    descriptor layout 1; 64: the 64-byte swizzle, layout 2), atom a of a slot at a * rows * atom."""

    def __init__(self, e, smem, rows: int, tile_k: int, esize: int, stages: int, smem_base: int,
                 atom: int = SWIZZLE_ATOM):
        row_bytes = tile_k * esize
        if row_bytes % atom or rows % 8 or smem_base % 1024:
            raise ValueError(f"a swizzled K tile needs a multiple of {atom} bytes of K per row (got "
                             f"{row_bytes}), rows in groups of 8 (got {rows}) and a 1024-byte aligned region")
        self.e, self.smem, self.rows, self.esize, self.atom = e, smem, rows, esize, atom
        self.cpa = atom // 16   # 16-byte chunks per atom
        self.slot_bytes = rows * row_bytes
        self.chunks = row_bytes // 16
        self.bytes = stages * self.slot_bytes
        self.desc0 = descriptor_base(e, smem, smem_base, swizzle=atom)
        self.base = smem_base

    def place(self, chunk, row):
        """Byte offset of 16-byte K chunk `chunk` of row `row` (i32 values) in a slot (128-byte atoms)."""
        assert self.atom == SWIZZLE_ATOM
        e = self.e
        atom = e.mulc(e.op(f"arith.divui {chunk}, {e.c(8)} : i32"), self.rows * SWIZZLE_ATOM)
        c8, r8 = (e.op(f"arith.remui {v}, {e.c(8)} : i32") for v in (chunk, row))
        return e.add(e.add(atom, e.mulc(row, SWIZZLE_ATOM)), e.mulc(e.op(f"arith.xori {c8}, {r8} : i32"), 16))

    def place_const(self, chunk: int, row: int) -> int:
        """Offset added to place(c, r) by chunk + `chunk`, row + `row` (whole atoms, rows in groups of 8: the
        swizzle is kept)."""
        assert chunk % self.cpa == 0 and row % 8 == 0
        return chunk // self.cpa * self.rows * self.atom + row * self.atom

    def dst(self, slot, const):
        e = self.e
        return e.addc(e.mulc(slot, self.slot_bytes), self.base + const)

    def desc(self, slot, chunk: int, row=None):
        """Descriptor of the MMA reading chunks chunk, chunk + 1 from row `row` (i32 value, a multiple of
        8) on, in ring slot `slot`."""
        e = self.e
        off = e.mulc(slot, self.slot_bytes >> 4)
        if row is not None:
            off = e.add(off, e.mulc(row, self.atom >> 4))
        d = e.op(f"arith.addi {self.desc0}, {e.op(f'arith.extui {off} : i32 to i64')} : i64")
        const = (chunk // self.cpa * self.rows * self.atom + chunk % self.cpa * 16) >> 4
        return e.op(f"arith.addi {d}, {e.c(const, 'i64')} : i64")


def weight_split(geo, tile_n: int, tile_k: int, threads: int):
    """How the K tile's weight copies (one per lane and piece of the prepared layout: 16 bytes, one K32
    step of 16-bit weights or two of fp8) spread over the threads: (copies per 8-column block and K
    chunk (`unit`), threads per unit (`D`), whether a thread's D index steps K chunks (else 8-column
    blocks)), or None where the copies would not keep static offsets (see WeightTiles)."""
    steps = min(geo.steps, tile_k // 32)   # K32 steps of a chunk inside one K tile
    if steps % geo.steps_per_piece:
        return None
    unit = 32 * (steps // geo.steps_per_piece)   # copies per (8-column block, K chunk): one per lane and piece
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


def shared_k(e, group, t, spp: int, esize: int, q=None):
    """Where 8 k sit in a row of the shared K order (module doc): (16-byte chunk, byte in it) of lane
    part t's k of step q (None: the whole piece) of the group of a piece's `spp` steps."""
    # a group spans 32 * spp * esize bytes (2 * spp * esize chunks); lane part t's piece is chunk t of it,
    # step q its 8 * esize bytes at q * 8 * esize (a piece is 16 bytes: spp * 8 * esize = 16)
    chunk = e.add(e.mulc(group, 2 * spp * esize), t)
    return chunk, (None if q is None else e.mulc(q, 8 * esize))


class WeightTiles(_Ring):
    """Thread tid copies piece (tid % unit) of 8-column block / K chunk i * D + tid // unit, for each i:
    the thread's lane, piece and D index are fixed, so every copy's source and destination is one of two
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
        pieces = unit // 32                  # a K tile may hold part of a chunk (tile_k 64)
        n_kk, t8 = max(1, tile_k // geo.k_chunk), tile_n // 8
        self.geo, self.tile_k = geo, tile_k
        self.chunk_bytes = geo.pieces * 512          # one (8-column block, K chunk) of the prepared layout
        row_bytes = (K // geo.k_chunk) * self.chunk_bytes   # one 8-column block, all of K
        lane = e.op(f"arith.remui {tid}, {e.c(32)} : i32")
        piece = e.op(f"arith.remui {e.op(f'arith.divui {tid}, {e.c(32)} : i32')}, {e.c(pieces)} : i32")
        d = e.op(f"arith.divui {tid}, {e.c(unit)} : i32")
        g, t = e.op(f"arith.divui {lane}, {e.c(4)} : i32"), e.op(f"arith.remui {lane}, {e.c(4)} : i32")
        # per thread: the source (expert base, block n0 / 8, piece, lane, D step) ...
        src = e.add(e.mulc(e.op(f"arith.divui {n0}, {e.c(8)} : i32"), row_bytes),
                    e.add(e.mulc(piece, 512), e.mulc(lane, 16)))
        src = e.add(src, e.mulc(d, self.chunk_bytes if d_steps_k else row_bytes))
        # ... and the destination: the piece's 16 bytes of K (kept whole), column (g, or 8 d + g) in its 16-block
        kchunk, _ = shared_k(e, piece, t, geo.steps_per_piece, esize)
        if d_steps_k:
            kchunk = e.add(kchunk, e.mulc(d, geo.k_chunk * esize // 16))
        kk_chunks = geo.k_chunk * esize // 16   # 16-byte chunks of one prepared K chunk (a multiple of 8)
        dyn = {}
        # a D step of 8-column blocks: 8 columns further in the warp's 16, or (D = 4) the next warp
        d_col, d_warp = (e.c(0), None) if d_steps_k else (d, None) if D <= 2 else \
            (e.op(f"arith.remui {d}, {e.c(2)} : i32"), e.op(f"arith.divui {d}, {e.c(2)} : i32"))
        for half in (0, 8):   # the static column's place in its 16-column block
            c16 = e.addc(e.add(g, e.mulc(d_col, 8)), half)
            r = e.add(e.op(f"arith.divui {c16}, {e.c(2)} : i32"), e.mulc(e.op(f"arith.remui {c16}, {e.c(2)} : i32"), 8))
            if d_warp is not None:
                r = e.add(r, e.mulc(d_warp, 16))
            dyn[half] = self.place(kchunk, r)
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
            dst = e.addc(dyn[half], self.place_const(kk * kk_chunks, row))
            self.copies.append((src_c, dst, geo.piece_bytes))

    def slab_row(self, wg, si: int, subs: int):
        """First row of the 64 read by warpgroup `wg`'s MMA of column tile `si` (of `subs`)."""
        return self.e.mulc(self.e.addc(self.e.mulc(wg, subs), si), 64)

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
    """Tile rows of tokens, 8 k per copy (16 bytes of 16-bit activations, 8 of fp8) from their natural
    order into the weights' K order in shared memory (see the module's doc)."""

    def __init__(self, e, smem, *, tile_m: int, tile_k: int, tid, threads: int, row_start, esize: int,
                 stages: int, smem_base: int, steps_per_piece: int = 1):
        """row_start(n) -> (byte offset of tile row n at k = 0, validity)."""
        super().__init__(e, smem, tile_m, tile_k, esize, stages, smem_base)
        per_row = tile_k // 8
        if (tile_m * per_row) % threads or threads % per_row or (threads // per_row) % 8:
            raise ValueError(f"{tile_m * per_row} activation pieces per K tile do not divide over {threads} threads "
                             "in whole groups of 8 rows")
        self.unit_bytes = 8 * esize
        u = e.op(f"arith.remui {tid}, {e.c(per_row)} : i32")
        n0 = e.op(f"arith.divui {tid}, {e.c(per_row)} : i32")
        # the unit's place in the row (8 k at k = 8u), computed once per thread
        span = 4 * steps_per_piece                       # units per group of a piece's steps
        grp, j = e.op(f"arith.divui {u}, {e.c(span)} : i32"), e.op(f"arith.remui {u}, {e.c(span)} : i32")
        q, t = e.op(f"arith.divui {j}, {e.c(4)} : i32"), e.op(f"arith.remui {j}, {e.c(4)} : i32")
        chunk, within = shared_k(e, grp, t, steps_per_piece, esize, q)
        dst0 = e.add(self.place(chunk, n0), within)
        self.copies = []
        for i in range(tile_m * per_row // threads):
            n = e.addc(n0, i * threads // per_row)
            start, valid = row_start(n)
            self.copies.append((e.add(start, e.mulc(u, self.unit_bytes)), valid,
                                e.addc(dst0, self.place_const(0, i * threads // per_row))))

    def issue(self, k0, slot):
        e = self.e
        uoff = e.mulc(k0, self.esize)
        for src, valid, dst in self.copies:
            e.line(f'"moe.async_copy"({self.smem}, {e.add(self.dst(slot, 0), dst)}, %x, {src}, {uoff}, {valid}) '
                   f'{{bytes = {self.unit_bytes} : i64}} : ({SMEM}, i32, {PTR}, i32, i32, i1) -> ()')
