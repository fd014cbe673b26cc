"""Instruction semantics of the CPU executor, each against hand-worked values from the ISA's definition."""
import numpy as np
import pytest

from moe_codegen.emulate import fp8
from moe_codegen.emulate.executor import EmulationError, Launch, Memory
from moe_codegen.emulate.mfma import mfma_f32_16x16x32_fp8
from moe_codegen.mlir import ir, new_context, walk_ops


def run_kernel(body: str, out_words: int, block: int = 64, grid=(1, 1), target="gfx942", inputs=()):
    """Run `body` in a gpu.func(%out, %in0, ...) over the grid; returns out as int32 [lanes, words]."""
    lanes = grid[0] * grid[1] * block
    out = np.zeros(lanes * out_words, dtype=np.int32)
    mem = Memory()
    args = [mem.add(out)] + [mem.add(np.ascontiguousarray(a)) for a in inputs]
    params = ", ".join(f"%in{i}: !llvm.ptr<1>" for i in range(len(inputs)))
    text = ("gpu.module @t {\n gpu.func @k(%out: !llvm.ptr<1>" + (", " + params if params else "") +
            ") kernel {\n  %tidx = gpu.thread_id x\n  %tid = arith.index_cast %tidx : index to i32\n"
            f"  %c{out_words * 4} = arith.constant {out_words * 4} : i32\n"
            f"  %obyte = arith.muli %tid, %c{out_words * 4} : i32\n"
            "  %optr = llvm.getelementptr %out[%obyte] : (!llvm.ptr<1>, i32) -> !llvm.ptr<1>, i8\n"
            + body + "\n  gpu.return\n }\n}\n")
    with new_context():
        m = ir.Module.parse(text)
        func = next(op for op in walk_ops(m, "gpu.func"))
        Launch(func, grid, block, args, mem, target).run()
    return out.reshape(lanes, out_words)


def test_fp8_decode_known_codes():
    fnuz, fn = fp8.decode_table("fnuz"), fp8.decode_table("fn")
    assert fnuz[0x40] == 1.0 and fn[0x38] == 1.0 and fn[0x40] == 2.0    # exponent bias 8 vs 7
    assert fnuz[0x7F] == 240.0 and fn[0x7E] == 448.0                    # largest finite values
    assert np.isnan(fnuz[0x80]) and fnuz[0x00] == 0.0                   # fnuz: 0x80 is the NaN
    assert np.isnan(fn[0x7F]) and np.isnan(fn[0xFF]) and fn[0x80] == 0.0  # fn: S.1111.111 NaN, -0
    assert fnuz[0x01] == 2.0 ** -10 and fn[0x01] == 2.0 ** -9            # smallest subnormals


def test_fp8_encode_rounds_to_nearest_even_and_overflows():
    for fl in ("fn", "fnuz"):
        t = fp8.decode_table(fl)
        one = int(np.nonzero(t == 1.0)[0][0])
        # 1.0625 lies halfway between 1.0 (mantissa 0) and 1.125 (mantissa 1): ties go to the even code
        assert fp8.encode(np.array([1.0625]), fl)[0] == one
        # 1.1875 halfway between 1.125 (m 1) and 1.25 (m 2): even is 1.25
        assert t[fp8.encode(np.array([1.1875]), fl)[0]] == 1.25
        assert t[fp8.encode(np.array([-7.0]), fl)[0]] == -7.0
    assert fp8.encode(np.array([1000.0]), "fnuz")[0] == 0x80                 # no clamp: NaN
    assert fp8.encode(np.array([1000.0]), "fnuz", clamp=True)[0] == 0x7F     # clamp: 240
    assert fp8.encode(np.array([-1000.0]), "fn", clamp=True)[0] == 0xFE      # clamp: -448
    assert all(fp8.decode_table(f)[fp8.encode(np.arange(-8, 8, dtype=float), f)].tolist() == list(range(-8, 8))
               for f in ("fn", "fnuz"))                                      # int4 codes are exact


def test_mfma_16x16x32_fp8_lane_layout():
    # A[i][k] = ((i + k) % 7) - 3 and B[k][n] = ((2k + n) % 5) - 2: distinct small integers, exact in fp8.
    A = np.array([[((i + k) % 7) - 3 for k in range(32)] for i in range(16)], dtype=np.float64)
    B = np.array([[((2 * k + n) % 5) - 2 for n in range(16)] for k in range(32)], dtype=np.float64)
    a = np.zeros((1, 64, 8), np.uint8)
    b = np.zeros((1, 64, 8), np.uint8)
    for lane in range(64):   # documented layout: lane l holds row/col l % 16, k = 8 * (l // 16) + byte
        for j in range(8):
            a[0, lane, j] = fp8.encode(np.array([A[lane % 16, 8 * (lane // 16) + j]]), "fn")[0]
            b[0, lane, j] = fp8.encode(np.array([B[8 * (lane // 16) + j, lane % 16]]), "fn")[0]
    c = np.zeros((1, 64, 4), np.float32)
    c[0, 5, 2] = 0.5                               # C element (row 2, col 5) is added to D
    d = mfma_f32_16x16x32_fp8(a.view(np.uint64).reshape(1, 64), b.view(np.uint64).reshape(1, 64), c, "fn")
    for lane in range(64):
        for v in range(4):
            row, col = 4 * (lane // 16) + v, lane % 16
            want = sum(A[row, k] * B[k, col] for k in range(32)) + (0.5 if (lane, v) == (5, 2) else 0.0)
            assert d[0, lane, v] == want, (lane, v)
    # hand-worked: D[0][0] = sum_k ((k % 7) - 3) * (((2k) % 5) - 2) = -3
    assert d[0, 0, 0] == -3.0


def test_cvt_pk_fp8_fills_the_selected_half_word():
    body = """
  %a = arith.constant 1.0 : f32
  %b = arith.constant -2.0 : f32
  %old = arith.constant 0x11223344 : i32
  %lo = "rocdl.cvt.pk.fp8.f32"(%a, %b, %old) <{wordSel = false}> : (f32, f32, i32) -> i32
  %hi = "rocdl.cvt.pk.fp8.f32"(%a, %b, %old) <{wordSel = true}> : (f32, f32, i32) -> i32
  llvm.store %lo, %optr : i32, !llvm.ptr<1>
  %p1 = llvm.getelementptr %optr[4] : (!llvm.ptr<1>) -> !llvm.ptr<1>, i8
  llvm.store %hi, %p1 : i32, !llvm.ptr<1>"""
    r942 = run_kernel(body, 2, target="gfx942").view(np.uint32)[0]
    r950 = run_kernel(body, 2, target="gfx950").view(np.uint32)[0]
    # src0 -> the low byte of the selected word; fnuz 1.0 = 0x40, -2.0 = 0xC8; fn 1.0 = 0x38, -2.0 = 0xC0
    assert r942.tolist() == [0x1122C840, 0xC8403344]
    assert r950.tolist() == [0x1122C038, 0xC0383344]


def test_buffer_load_out_of_range_reads_zero_and_soffset_is_unchecked():
    data = np.arange(16, dtype=np.int32) + 100
    body = """
  %c0 = arith.constant 0 : i16
  %n = arith.constant 32 : i64
  %f = arith.constant 159744 : i32
  %rs = "rocdl.make.buffer.rsrc"(%in0, %c0, %n, %f) : (!llvm.ptr<1>, i16, i64, i32) -> !llvm.ptr<8>
  %four = arith.constant 4 : i32
  %voff = arith.muli %tid, %four : i32
  %zero = arith.constant 0 : i32
  %sixteen = arith.constant 16 : i32
  %v = "rocdl.raw.ptr.buffer.load"(%rs, %voff, %zero) <{aux = 0 : i32}> : (!llvm.ptr<8>, i32, i32) -> i32
  %s = "rocdl.raw.ptr.buffer.load"(%rs, %zero, %sixteen) <{aux = 0 : i32}> : (!llvm.ptr<8>, i32, i32) -> i32
  llvm.store %v, %optr : i32, !llvm.ptr<1>
  %p1 = llvm.getelementptr %optr[4] : (!llvm.ptr<1>) -> !llvm.ptr<1>, i8
  llvm.store %s, %p1 : i32, !llvm.ptr<1>"""
    r = run_kernel(body, 2, inputs=[data])
    assert r[:8, 0].tolist() == list(range(100, 108))   # bytes 0..31 are in range
    assert (r[8:, 0] == 0).all()                          # voffset >= num_records: zero
    assert (r[:, 1] == 104).all()                         # soffset 16 moves the address, not the check


def test_readfirstlane_takes_the_first_active_lane():
    body = """
  %c3 = arith.constant 3 : i32
  %big = arith.cmpi sgt, %tid, %c3 : i32
  scf.if %big {
    %hund = arith.constant 100 : i32
    %v = arith.addi %tid, %hund : i32
    %u = "rocdl.readfirstlane"(%v) : (i32) -> i32
    llvm.store %u, %optr : i32, !llvm.ptr<1>
  }"""
    r = run_kernel(body, 1, block=128)[:, 0]
    assert (r[:4] == 0).all()          # inactive lanes stored nothing
    assert (r[4:64] == 104).all()      # wave 0: lanes 0-3 are off, lane 4 is first
    assert (r[64:] == 164).all()       # wave 1: lane 64 is first


def test_bf16_packed_atomic_add_rounds_each_add():
    out0 = np.zeros(1, np.int32)
    body = """
  %one = arith.constant 1.0 : bf16
  %tiny = arith.constant 0.00390625 : bf16
  %v = vector.from_elements %one, %tiny : vector<2xbf16>
  %r = "llvm.atomicrmw"(%in0, %v) <{bin_op = 11 : i64, ordering = 2 : i64, syncscope = "agent"}> {rocdl.no_fine_grained_memory, rocdl.no_remote_memory} : (!llvm.ptr<1>, vector<2xbf16>) -> vector<2xbf16>"""
    run_kernel(body, 1, inputs=[out0])
    halves = (out0.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
    # 64 lanes add 1.0: exact up to 64; 64 x 2^-8 = 0.25 exactly (every partial sum is a bf16 value)
    assert halves.tolist() == [64.0, 0.25]


def test_unknown_op_is_named():
    with pytest.raises(EmulationError, match="rocdl.ds_bpermute"):
        run_kernel('  %x = "rocdl.ds_bpermute"(%tid, %tid) : (i32, i32) -> i32', 1)


def test_barrier_is_a_join_point():
    body = """
  %c = arith.constant 7 : i32
  gpu.barrier
  llvm.store %c, %optr : i32, !llvm.ptr<1>"""
    assert (run_kernel(body, 1, block=128)[:, 0] == 7).all()
