"""A K tile of the block's activation rows in shared memory, for warpgroup MMAs (sm_90a wgmma).

In the prefill kernel the tokens are the N operand of the warpgroup MMA (N = tile_m; `m64nNk16` of
f16 / bf16, or `m64nNk32` of e4m3), read by the tensor cores from shared memory through a matrix
descriptor, once for all the block's warps, while the weights stay in registers as the A operand (each
warp's fragment is the mma.sync one, so the prepared weights of the decode kernels serve unchanged).

K order.  The weights are prepared for the mma.sync K order of moe_codegen/layouts.py: in each
K32 step, lane t of a warp holds actual k 8t .. 8t + 7 (a "t piece" of a row).  wgmma reads its k
slots from shared memory in order, so the activations are stored permuted to match:
  16-bit MMA elements: MMA u (k16) puts k 8t + 4u + i in its k slot 2t + i and k 8t + 4u + 2 + i in
    slot 2t + 8 + i, so 32-bit word 4t + j of a row's step (k 8t + 2j, + 1) goes to 16-byte chunk j,
    word t: a t piece becomes four 4-byte stores, one per chunk.
  8-bit (e4m3) elements: the one k32 MMA of a step puts k 8t + i in slot 4t + i and k 8t + 4 + i in
    slot 16 + 4t + i, so word 2t + j of the step goes to chunk j of the step's 32 bytes, word t; a
    16-byte unit (t pieces t0, t0 + 1) becomes two 8-byte stores.
16-bit: a warp's 32 stores to one chunk cover 8 rows x 4 words (128 consecutive bytes), no bank
conflict; 8-bit: its 8-byte stores cover 8 rows x 2 chunks of two K32 steps, two passes of 128 bytes.  A
16-byte copy cannot permute words, so the tile reaches this layout through registers: either loaded
from global memory one K tile ahead (`issue` / `store`), or, with a ring of `stages` K tiles, copied
asynchronously (cp.async, each thread its own 16-byte pieces, zero-filled for padding rows) and
permuted from the ring by the same thread (`issue_async` / `permute`), which keeps global latency out
of registers.

MMA slot layout (K-major rows of 64 bytes, a "row step": one K32 step of 16-bit elements or two of
8-bit ones, in the 64-byte swizzle):
  slot s, row step st, chunk c, row n, word t  ->  s*slot + st*(tile_m*64) + n*64 + (c ^ (n//2 % 4))*16 + t*4
so every MMA reads 32 bytes of a row: MMA u of 16-bit K32 step st, or the MMA of 8-bit K32 step
2st + u, starts at st*tile_m*64 + 32u, stride (N) byte offset 512 between groups of 8 rows
(descriptor layout 2).  A warp's 32 stores to one chunk still hit 32 distinct banks, and the MMAs'
reads of 8 rows at one K offset spread over the banks (unswizzled core matrices cost 3-4x the ideal
shared-memory wavefronts on the H100).  The activations are stored as loaded (fp8 tokens on the e4m3
MMA, bf16 on the bf16 one): no conversion.
"""
from __future__ import annotations

from .smem_operands import PTR, SMEM, descriptor_base

SWIZZLE = 64   # bytes per row step (a K32 step of 16-bit activations, two of 8-bit): the 64-byte swizzle


class ActStaging:
    def __init__(self, e, *, tile_m: int, tile_k: int, threads: int, tid, row_start, esize: int, load,
                 stages: int = 0, smem_base: int = 0):
        """row_start(n) -> (byte offset of tile row n's activations at k = 0, validity);
        load(base, off, valid, type, uniform_off) emits a moe.load.  esize: bytes of an activation (the
        MMA reads them as stored: 2 for f16 / bf16, 1 for e4m3).  The staging owns the shared memory
        from byte smem_base on: the ring (with stages) then the two MMA slots."""
        self.e, self.tm, self.esize = e, tile_m, esize
        self.kstep = SWIZZLE // esize                           # k per row step (64-byte swizzled row)
        if tile_k % self.kstep:
            raise ValueError(f"tile_k {tile_k} is not whole rows of {self.kstep} k of the MMA slot")
        self.steps = tile_k // self.kstep
        self.load, self.stages, self.threads = load, stages, threads
        self.step_bytes = tile_m * SWIZZLE
        self.slot_bytes = self.steps * self.step_bytes
        self.raw_slot = tile_k * tile_m * esize                 # one K tile as stored in global memory
        self.mma_base = smem_base + stages * self.raw_slot
        if self.mma_base % (8 * SWIZZLE):
            raise ValueError(f"the MMA slots at byte {self.mma_base} are not aligned to the swizzle's {8 * SWIZZLE} bytes")
        self.smem = e.op(f"llvm.mlir.addressof @moe_smem : {SMEM}")
        # per thread: 16-byte units of (row n, first t piece), `per` t pieces of 8 activations each
        per = 2 if esize == 1 else 1
        self.unit_bytes = 16
        units = self.kstep * esize // self.unit_bytes              # per row and row step: 4
        u = e.op(f"arith.remui {tid}, {e.c(units)} : i32")
        n0 = e.op(f"arith.divui {tid}, {e.c(units)} : i32")
        q0 = e.mulc(u, per)                                   # the unit's first t piece in the row step
        # 8-bit: t pieces 4h .. of K32 step h of the row step, at chunks 2h, 2h + 1
        t0, h2 = (e.op(f"arith.remui {q0}, {e.c(4)} : i32"), e.mulc(e.op(f"arith.divui {q0}, {e.c(4)} : i32"), 2)) \
            if esize == 1 else (q0, None)
        self.rows = []   # (global byte offset of the unit at k = 0, validity, shared offset of row n, word t0)
        self.n_units = tile_m * units // threads
        for j in range(self.n_units):
            n = e.addc(n0, j * threads // units)
            start, valid = row_start(n)
            # row n's swizzled chunk 0 (the swizzle, n // 2 % 4, is the same for all of the thread's rows:
            # they are 8k apart); chunk c is then that address XOR 16c (bits 4-5, zero elsewhere in it)
            swz = e.op(f"arith.remui {e.op(f'arith.divui {n}, {e.c(2)} : i32')}, {e.c(4)} : i32")
            if h2 is not None:
                swz = e.op(f"arith.xori {swz}, {h2} : i32")
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
        return [[self.load("%x", off, valid, "vector<4xi32>", e.mulc(e.addc(k0, self.kstep * st), self.esize))
                 for off, valid, _ in self.rows] for st in range(self.steps)]

    def _raw(self, slot, st, j):
        e = self.e
        return e.addc(e.add(self.raw_lane, e.mulc(slot, self.raw_slot)), (st * self.n_units + j) * self.threads * 16)

    def issue_async(self, k0, slot):
        """cp.async of the K tile at k0 into ring slot `slot` (the caller commits the group)."""
        e = self.e
        for st in range(self.steps):
            uoff = e.mulc(e.addc(k0, self.kstep * st), self.esize)
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
                if self.esize == 1:   # words 0, 2 (t pieces t0, t0 + 1 of chunk 2h) and 1, 3 (of 2h + 1)
                    off = e.addc(e.add(base, soff), st * self.step_bytes)
                    w = [e.op(f"vector.extract {v}[{i}] : i32 from vector<4xi32>") for i in range(4)]
                    for c in range(2):
                        pair = e.op(f"vector.from_elements {w[c]}, {w[2 + c]} : vector<2xi32>")
                        self._put(pair, "vector<2xi32>", 8, off, c)
                    continue
                off = e.addc(e.add(base, soff), st * self.step_bytes)   # one t piece: 8 activations -> 4 words
                for c in range(4):
                    w = e.op(f"vector.extract {v}[{c}] : i32 from vector<4xi32>")
                    self._put(w, "i32", 4, off, c)
        # the MMAs read shared memory through the async proxy: fence the generic-proxy writes, then
        # wait for every thread's
        e.line('"moe.async_proxy_fence"() : () -> ()')
        e.line("gpu.barrier")

    def _put(self, value, type_, align, off, chunk):
        e = self.e
        # (an XOR, not an add: the chunk offsets stay out of the loop-invariant addresses LLVM would
        # otherwise hoist, one register each)
        ptr = e.op(f"llvm.getelementptr {self.smem}[{e.op(f'arith.xori {off}, {e.c(16 * chunk)} : i32')}] "
                   f": ({SMEM}, i32) -> {SMEM}, i8")
        e.line(f"llvm.store {value}, {ptr} {{alignment = {align} : i64}} : {type_}, {SMEM}")

    def descriptors(self, slot, step: int):
        """The descriptors of the MMAs of K32 step `step` of MMA slot `slot`: two k16 MMAs (16-bit) or
        one k32 MMA (8-bit), each reading 32 bytes of every row."""
        e = self.e
        base = e.op(f"arith.extui {e.mulc(slot, self.slot_bytes >> 4)} : i32 to i64")
        d = e.op(f"arith.addi {self.desc0}, {base} : i64")
        row_step, inrow = divmod(step * 32 * self.esize, SWIZZLE)
        n_mma = self.esize   # 32 bytes each: a 16-bit K32 step is two MMAs
        return [e.op(f"arith.addi {d}, {e.c((row_step * self.step_bytes + inrow + 32 * u) >> 4, 'i64')} : i64")
                for u in range(n_mma)]
