"""Weight tiles of the prefill kernel through the tensor memory accelerator (sm_90 TMA).

The kernel of weights used as stored (fp8, bf16, f16; both wgmma operands in shared memory, see
smem_operands.py) needs the weight columns of its K tile in shared memory as K-major rows.  With
cp.async every thread copies 16-byte pieces (ncu, H100: the copies' issue and the registers holding
their addresses were the kernels' largest stall).  Here one thread issues a few bulk tensor copies
per K tile: per gate / up half and 64 bytes of K, all the tile's columns in one box.

The prepared layout (weight_layout.py, family nvptx) stores, per 8-column block `cb` (all experts in
a row: expert e's block j is cb = e * N / 8 + j) and 512-byte piece plane h (h = K chunk * pieces +
piece; a piece holds one K32 step of 16-bit weights or two of fp8), lane 4g + t's 16 bytes at
    cb * row_bytes + h * 512 + g * 64 + t * 16,
so the map's dimensions, innermost first, are
    d0  64 bytes  (t, byte)                    stride 1
    d1  h         K * esize / 64 planes        stride 512
    d2  g         8                            stride 64
    d3  cb        E * N / 8                    stride row_bytes = 8 * K * esize
and the box (64, 1, 8, tile_n / 8) at (0, h, 0, cb0) lands as tile_n rows in natural column order,
each the plane's 64 bytes (16-byte chunk t: the K order of smem_operands.shared_k, one 64-byte atom
per plane).  The map's 64-byte swizzle (chunk XOR address bits 7-8: row // 2 within 4) is the wgmma
descriptor's layout 2 (stride 512 bytes per 8 rows); the MMA reads a weight plane and the tokens'
128-byte atoms through descriptors of their own layouts, K in the same order.  (A 128-byte atom of two
planes would need a box whose inner 64 bytes are narrower than its swizzle: what lands is not that
layout.)  Rows in column order are not the mma.sync epilogue's pairs (MMA rows g, g + 8 are columns
g, g + 8): the kernel swaps a token with the neighbouring column's lane after the K loop.  Columns
kept in the epilogue's order instead (2g, 2g + 1 in rows g, g + 8) would cap a box at 16 columns:
32 boxes per K tile, whose issue alone ran the fp8 kernel 1.7x slower than cp.async (H100).

Pairs of blocks (plan field `multicast`): two blocks of a cluster whose token tiles are one expert's
need the same boxes.  Each issues every other 64-byte atom with the multicast mask, landing at the
same offset of both blocks' shared memory and completing on both blocks' slot barrier (which expects
the whole tile, so a block cannot tell whose copy filled it).  A slot is refilled only after both
blocks are done reading it: a free mbarrier per slot takes one arrival from every warp of both.
"""
from __future__ import annotations

from .smem_operands import SMEM, PTR, _Ring
from .spec import ACT_BYTES, DTYPES

ATOM = 64                    # bytes of K per swizzled row of the weights' ring
MAP_BYTES = 128              # a CUtensorMap
MULTICAST = 2                # blocks of a cluster sharing the weight boxes (plan field `multicast`)


def weight_map(spec, tile_n: int) -> dict:
    """The tensor map of a stage's prepared weights (all experts) for tiles of tile_n columns: what the
    host encodes (cuTensorMapEncodeTiled, uint8 elements, 64-byte swizzle) and the kernel's copies address."""
    esize = ACT_BYTES[DTYPES[spec.dtype].weight]
    K, N = spec.k_dim, spec.n_dim
    return {"dims": [ATOM, K * esize // ATOM, 8, spec.experts * N // 8],
            "strides": [512, 64, 8 * K * esize],   # bytes, dimensions 1 .. 3
            "box": [ATOM, 1, 8, tile_n // 8], "swizzle": ATOM}


class TmaWeightTiles(_Ring):
    """The ring of weight K tiles, rows in natural column order per gate / up half (row gu * tile_n + c), in
    64-byte atoms, filled by one thread's bulk tensor copies (one per half and atom); each ring slot's
    copies complete on its own mbarrier (8 bytes at `bar_base` + 8 * slot).  Warpgroup q's MMA of its
    16-column block b (of `blocks` per warp) and half gu reads the 64 columns (q * blocks + b) * 64 ..:
    warp w of the group owns columns + (w % 4) * 16 of each (`block_col`)."""

    def __init__(self, e, smem, *, wmap, tile_n: int, tile_k: int, waves: int, gate_up: int, inter: int,
                 n_rows: int, eid, n0, esize: int, stages: int, bar_base: int, smem_base: int = 0):
        """eid: the block's expert, n0: its first output column (i32 values); n_rows: weight rows per expert."""
        super().__init__(e, smem, tile_n * gate_up, tile_k, esize, stages, smem_base, atom=ATOM)
        self.wmap, self.bar_base, self.esize = wmap, bar_base, esize
        self.tile_n, self.gate_up, self.inter, self.warpgroups = tile_n, gate_up, inter, waves // 4
        self.atoms = tile_k * esize // ATOM
        self.cb0 = e.add(e.mulc(eid, n_rows // 8), e.op(f"arith.divui {n0}, {e.c(8)} : i32"))
        self.tile_bytes = self.rows * tile_k * esize

    def slab_row(self, wg, si: int, subs: int):
        """First row of the 64 read by warpgroup `wg`'s MMA of sub-tile `si` (block b, half gu: si = b *
        gate_up + gu, of `subs`)."""
        b, gu = divmod(si, self.gate_up)
        blocks = subs // self.gate_up
        return self.e.addc(self.e.mulc(self.e.addc(self.e.mulc(wg, blocks), b), 64), gu * self.tile_n)

    @staticmethod
    def block_col(e, tile0, wave, b: int, blocks: int):
        """First column of warp `wave`'s 16-column block b (tile0: the tile's first column)."""
        q, w4 = e.op(f"arith.divui {wave}, {e.c(4)} : i32"), e.op(f"arith.remui {wave}, {e.c(4)} : i32")
        return e.add(tile0, e.add(e.mulc(e.addc(e.mulc(q, blocks), b), 64), e.mulc(w4, 16)))

    @staticmethod
    def barrier_bytes(stages: int, shared: bool) -> int:
        """Shared memory of the ring's mbarriers: a full barrier per slot, and a free one where a pair of
        blocks shares the slots (multicast)."""
        return 8 * stages * (2 if shared else 1)

    def bar(self, slot):
        return self.e.addc(self.e.mulc(slot, 8), self.bar_base)

    def init_barriers(self, stages: int, sharers: int = 0):
        """One arrival per phase of a slot's full barrier (the issuing thread's expect-tx); with `sharers`
        (warps of both blocks of a sharing pair), the slots' free barriers after them; run by one thread
        before any copy."""
        e = self.e
        for s in range(stages):
            e.line(f'"moe.mbarrier_init"({self.smem}, {e.c(self.bar_base + 8 * s)}) {{count = 1 : i64}} '
                   f': ({SMEM}, i32) -> ()')
        for s in range(stages if sharers else 0):
            e.line(f'"moe.mbarrier_init"({self.smem}, {e.c(self.bar_base + 8 * (stages + s))}) '
                   f'{{count = {sharers} : i64}} : ({SMEM}, i32) -> ()')
        e.line('"moe.mbarrier_init_fence"() : () -> ()')
        e.line(f'"moe.tensormap_acquire"({self.wmap}) : ({PTR}) -> ()')

    def issue(self, k0, slot, rank=None):
        """The copies of the K tile at k0 into ring slot `slot` (one thread).  With `rank` (the block's i32
        index in a sharing pair): only every other box, the rank's (one 64-byte atom of each two), into the
        same place of both blocks' shared memory (multicast), the partner the others; each block's barrier
        expects the whole tile either way."""
        e = self.e
        bar = self.bar(slot)
        e.line(f'"moe.mbarrier_expect_tx"({self.smem}, {bar}) {{bytes = {self.tile_bytes} : i64}} '
               f': ({SMEM}, i32) -> ()')
        h0 = e.op(f"arith.divui {e.mulc(k0, self.esize)}, {e.c(ATOM)} : i32")
        zero = e.c(0)
        atoms = range(self.atoms) if rank is None else range(0, self.atoms, MULTICAST)
        if rank is not None:   # atom 2j + rank: its place in the slot and its plane move by rank atoms
            h0 = e.add(h0, rank)
            moved, mask = e.mulc(rank, self.place_const(self.cpa, 0)), e.c(2 ** MULTICAST - 1, "i16")
        for gu in range(self.gate_up):
            cb = e.addc(self.cb0, gu * self.inter // 8)
            for a in atoms:
                dst = self.dst(slot, self.place_const(self.cpa * a, gu * self.tile_n))
                if rank is None:
                    e.line(f'"moe.tma_load"({self.smem}, {dst}, {self.wmap}, {bar}, {zero}, {e.addc(h0, a)}, '
                           f'{zero}, {cb}) : ({SMEM}, i32, {PTR}, i32, i32, i32, i32, i32) -> ()')
                else:
                    e.line(f'"moe.tma_load_multicast"({self.smem}, {e.add(dst, moved)}, {self.wmap}, {bar}, {zero}, '
                           f'{e.addc(h0, a)}, {zero}, {cb}, {mask}) '
                           f': ({SMEM}, i32, {PTR}, i32, i32, i32, i32, i32, i16) -> ()')

    def free_bar(self, slot, stages: int):
        return self.e.addc(self.e.mulc(slot, 8), self.bar_base + 8 * stages)

    def release(self, slot, stages: int):
        """A warp of a sharing pair is done reading ring slot `slot`: one arrival on the slot's free barrier
        of each block (its own and the partner's, which multicast into it)."""
        e = self.e
        for r in range(MULTICAST):
            e.line(f'"moe.mbarrier_arrive_cluster"({self.smem}, {self.free_bar(slot, stages)}, {e.c(r)}) '
                   f': ({SMEM}, i32, i32) -> ()')

    def wait_free(self, slot, stages: int, parity):
        """The issuing thread of a sharing pair: until every warp of both blocks has released the slot's
        previous fill (phase `parity` (mod 2) of its free barrier; a slot's first fill waits for nothing:
        parity 1 of a barrier still in phase 0)."""
        e = self.e
        e.line(f'"moe.mbarrier_wait"({self.smem}, {self.free_bar(slot, stages)}, {parity}) : ({SMEM}, i32, i32) -> ()')

    def wait(self, slot, parity):
        """Every thread: until the slot's copies of fill number `parity` (mod 2) have landed."""
        e = self.e
        e.line(f'"moe.mbarrier_wait"({self.smem}, {self.bar(slot)}, {parity}) : ({SMEM}, i32, i32) -> ()')
