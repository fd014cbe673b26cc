"""A K tile of the block's activation rows in shared memory, for warpgroup MMAs (sm_90a wgmma).

In the prefill kernel the tokens are the N operand of `wgmma.m64nNk16` (N = tile_m), read by the
tensor cores from shared memory through a matrix descriptor, once for all the block's warps, while
the weights stay in registers as the A operand (each warp's fragment is the mma.sync one, so the
prepared weights of the decode kernels serve unchanged).

K order.  The weights are prepared for the mma.sync K order of moe_codegen/layouts.py: in each
K32 step, lane t of a warp holds actual k 8t .. 8t + 7, and MMA u (k16) puts k 8t + 4u + i in its
k slot 2t + i and k 8t + 4u + 2 + i in slot 2t + 8 + i.  wgmma reads its k slots from shared memory
in order, so the activations are stored with that permutation: 32-bit word 4t + j of a row's step
(k 8t + 2j, + 1) goes to 16-byte chunk j, word t.  Each "t piece" (8 k of a row) thus becomes four
4-byte stores, one per chunk; a warp's 32 stores to one chunk are 8 rows x 4 words, 128
consecutive bytes: no bank conflict.  A 16-byte copy cannot permute words, so the tile reaches
this layout through registers: either loaded from global memory one K tile ahead (`issue` /
`store`), or, with a ring of `stages` K tiles, copied asynchronously (cp.async, each thread its own
16-byte pieces, zero-filled for padding rows) and permuted from the ring by the same thread
(`issue_async` / `permute`), which keeps global latency out of registers.

MMA slot layout (K-major rows of one K32 step, 64 bytes, in the 64-byte swizzle):
  slot s, step st, chunk c, row n, word t  ->  s*slot + st*(tile_m*64) + n*64 + (c ^ (n//2 % 4))*16 + t*4
so MMA u of step st starts at st*tile_m*64 + 2u*16, stride (N) byte offset 512 between groups of 8
rows (descriptor layout 2).  A warp's 32 stores to one chunk (8 rows x 4 words) still hit 32
distinct banks, and the MMAs' reads of 8 rows at one K offset spread over the banks (unswizzled core
matrices cost 3-4x the ideal shared-memory wavefronts on the H100).  fp8 activations (W4A_FP8 on the
f16 MMA) are converted on the way, exactly.
"""
from __future__ import annotations

from .smem_operands import PTR, SMEM, descriptor_base

SWIZZLE = 64   # bytes per row of a K32 step of 16-bit activations: the descriptor's 64-byte swizzle


class ActStaging:
    def __init__(self, e, *, tile_m: int, tile_k: int, threads: int, tid, row_start, convert: bool,
                 esize: int, load, stages: int = 0, smem_base: int = 0):
        """row_start(n) -> (byte offset of tile row n's activations at k = 0, validity);
        load(base, off, valid, type, uniform_off) emits a moe.load.  The staging owns the shared
        memory from byte smem_base on: the ring (with stages) then the two MMA slots."""
        self.e, self.tm, self.steps, self.convert, self.esize = e, tile_m, tile_k // 32, convert, esize
        self.load, self.stages, self.threads = load, stages, threads
        self.step_bytes = tile_m * 64
        self.slot_bytes = self.steps * self.step_bytes
        self.raw_slot = self.steps * tile_m * 32 * esize        # one K tile as stored in global memory
        self.mma_base = smem_base + stages * self.raw_slot
        if self.mma_base % (8 * SWIZZLE):
            raise ValueError(f"the MMA slots at byte {self.mma_base} are not aligned to the swizzle's {8 * SWIZZLE} bytes")
        self.smem = e.op(f"llvm.mlir.addressof @moe_smem : {SMEM}")
        # per thread: 16-byte units of (row n, first t piece); `per` t pieces of 8 activations each
        self.per = 2 if esize == 1 and stages else 1
        units = 4 // self.per                                   # per row and K32 step
        self.unit_bytes = 8 * esize * self.per
        self.unit_t = "vector<2xi32>" if self.unit_bytes == 8 else "vector<4xi32>"
        u = e.op(f"arith.remui {tid}, {e.c(units)} : i32")
        n0 = e.op(f"arith.divui {tid}, {e.c(units)} : i32")
        t0 = e.mulc(u, self.per)
        self.rows = []   # (global byte offset of the unit at k = 0, validity, shared offset of row n, word t0)
        self.n_units = tile_m * units // threads
        for j in range(self.n_units):
            n = e.addc(n0, j * threads // units)
            start, valid = row_start(n)
            # row n's swizzled chunk 0 (the swizzle, n // 2 % 4, is the same for all of the thread's rows:
            # they are 8k apart); chunk c is then that address XOR 16c (bits 4-5, zero elsewhere in it)
            swz = e.op(f"arith.remui {e.op(f'arith.divui {n}, {e.c(2)} : i32')}, {e.c(4)} : i32")
            self.rows.append((e.add(start, e.mulc(u, self.unit_bytes)), valid,
                              e.add(e.add(e.mulc(n, SWIZZLE), e.mulc(t0, 4)), e.mulc(swz, 16))))
        if (threads // units) % 8:
            raise ValueError(f"{threads} threads do not stage whole groups of 8 rows")
        self.raw_lane = e.addc(e.mulc(tid, 16), smem_base)
        self.desc0 = descriptor_base(e, self.smem, self.mma_base, swizzle=SWIZZLE)

    @property
    def shared_bytes(self) -> int:
        """Bytes from smem_base on: the ring and the two MMA slots."""
        return self.stages * self.raw_slot + 2 * self.slot_bytes

    def issue(self, k0):
        """Global loads of the K tile at element k0: [step][unit] (issued early, stored later)."""
        e = self.e
        return [[self.load("%x", off, valid, self.unit_t, e.mulc(e.addc(k0, 32 * st), self.esize))
                 for off, valid, _ in self.rows] for st in range(self.steps)]

    def _raw(self, slot, st, j):
        e = self.e
        return e.addc(e.add(self.raw_lane, e.mulc(slot, self.raw_slot)), (st * self.n_units + j) * self.threads * 16)

    def issue_async(self, k0, slot):
        """cp.async of the K tile at k0 into ring slot `slot` (the caller commits the group)."""
        e = self.e
        for st in range(self.steps):
            uoff = e.mulc(e.addc(k0, 32 * st), self.esize)
            for j, (off, valid, _) in enumerate(self.rows):
                e.line(f'"moe.async_copy"({self.smem}, {self._raw(slot, st, j)}, %x, {off}, {uoff}, {valid}) '
                       f': ({SMEM}, i32, {PTR}, i32, i32, i1) -> ()')

    def permute(self, slot, mma_slot):
        """The thread's own pieces of ring slot `slot` (complete: the caller waited) into MMA slot
        `mma_slot`, then published."""
        e = self.e
        loaded = []
        for st in range(self.steps):
            row_vals = []
            for j in range(self.n_units):
                ptr = e.op(f"llvm.getelementptr {self.smem}[{self._raw(slot, st, j)}] : ({SMEM}, i32) -> {SMEM}, i8")
                row_vals.append(e.op(f"llvm.load {ptr} {{alignment = 16 : i64}} : {SMEM} -> vector<4xi32>"))
            loaded.append(row_vals)
        self.store(loaded, mma_slot)

    def store(self, loaded, slot):
        """Write loaded units into MMA slot `slot` (0 or 1), then make it visible to the MMAs."""
        e = self.e
        base = e.addc(e.mulc(slot, self.slot_bytes), self.mma_base)
        for st, row_vals in enumerate(loaded):
            for v, (_, _, soff) in zip(row_vals, self.rows):
                for q in range(self.per):   # t pieces of the unit: 8 activations -> 4 words
                    piece = v
                    if self.convert:
                        if self.per > 1:
                            w = [e.op(f"vector.extract {v}[{2 * q + i}] : i32 from vector<4xi32>") for i in range(2)]
                            piece = e.op(f"vector.from_elements {w[0]}, {w[1]} : vector<2xi32>")
                        piece = e.generic("moe.cvt_fp8_f16", [piece], ["vector<2xi32>"], "vector<4xi32>")
                    off = e.addc(e.add(base, soff), st * self.step_bytes + 4 * q)
                    for c in range(4):
                        w = e.op(f"vector.extract {piece}[{c}] : i32 from vector<4xi32>")
                        # (an XOR, not an add: the chunk offsets stay out of the loop-invariant
                        # addresses LLVM would otherwise hoist, one register each)
                        ptr = e.op(f"llvm.getelementptr {self.smem}[{e.op(f'arith.xori {off}, {e.c(16 * c)} : i32')}] "
                                   f": ({SMEM}, i32) -> {SMEM}, i8")
                        e.line(f"llvm.store {w}, {ptr} {{alignment = 4 : i64}} : i32, {SMEM}")
        # the MMAs read shared memory through the async proxy: fence the generic-proxy writes, then
        # wait for every thread's
        e.line('"moe.async_proxy_fence"() : () -> ()')
        e.line("gpu.barrier")

    def descriptors(self, slot, step: int):
        """The two k16 MMAs' descriptors of K32 step `step` of MMA slot `slot`."""
        e = self.e
        base = e.op(f"arith.extui {e.mulc(slot, self.slot_bytes >> 4)} : i32 to i64")
        d = e.op(f"arith.addi {self.desc0}, {base} : i64")
        return [e.op(f"arith.addi {d}, {e.c((step * self.step_bytes + 2 * u * 16) >> 4, 'i64')} : i64")
                for u in range(2)]

