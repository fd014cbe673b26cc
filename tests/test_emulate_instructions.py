"""Instruction semantics of the CPU executor, each against hand-worked values from the ISA's definition."""
import numpy as np
import pytest

from moe_codegen.emulate import fp8
from moe_codegen.emulate.executor import EmulationError, Launch, Memory
from moe_codegen.emulate.mfma import MFMA, mfma_f32_16x16x32_fp8, run_mfma
from moe_codegen.emulate.runner import UNUSED_BYTES, EmulatedKernel, gemm_tensors
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


# -- the 16x16xK MFMA family: one layout, K / 4 elements a lane ----------------------------------
MFMA_OPS = {   # name: (container the kernel loads, operand type, element type, C/D type)
    "rocdl.mfma.f32.16x16x32.fp8.fp8": ("i64", "i64", "fp8", "vector<4xf32>"),
    "rocdl.mfma.i32.16x16x32.i8": ("i64", "i64", "i8", "vector<4xi32>"),
    "rocdl.mfma.f32.16x16x16bf16.1k": ("i64", "vector<4xi16>", "bf16", "vector<4xf32>"),
    "rocdl.mfma.f32.16x16x16f16": ("i64", "vector<4xf16>", "f16", "vector<4xf32>"),
    "rocdl.mfma.f32.16x16x32.bf16": ("vector<4xi32>", "vector<8xbf16>", "bf16", "vector<4xf32>"),
    "rocdl.mfma.f32.16x16x32.f16": ("vector<4xi32>", "vector<8xf16>", "f16", "vector<4xf32>"),
}
MFMA_PROPS = "<{abid = 0 : i32, blgp = #rocdl<mfma_perm_b none>, cbsz = 0 : i32}>"


def element_bytes(vals: np.ndarray, elem: str, target="gfx950") -> np.ndarray:
    """(64, kl) values -> (64, bytes) of a lane's operand, element j at the j-th position."""
    if elem == "fp8":
        return fp8.encode(vals, fp8.FLAVOURS[target])
    if elem == "i8":
        return vals.astype(np.int8).view(np.uint8)
    if elem == "f16":
        return vals.astype(np.float16).view(np.uint8).reshape(64, -1)
    bits = (vals.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)   # bf16: exact values only
    return bits.view(np.uint8).reshape(64, -1)


def mfma_kernel(name, a_bytes, b_bytes, c, target="gfx950"):
    """Run `name` on one wave: lane l's A / B bytes and C elements are loaded from buffers, bitcast to
    the instruction's operand types as the kernels do, and D is stored (4 words a lane)."""
    cont, opt, _, ct = MFMA_OPS[name]
    nbytes = a_bytes.shape[1]
    cast = "" if cont == opt else f"""
  %a = llvm.bitcast %araw : {cont} to {opt}
  %b = llvm.bitcast %braw : {cont} to {opt}"""
    names = ("%araw", "%braw") if cont == opt else ("%a", "%b")
    body = f"""
  %h0 = arith.constant 0 : i16
  %nrec = arith.constant 65536 : i64
  %flags = arith.constant 159744 : i32
  %ra = "rocdl.make.buffer.rsrc"(%in0, %h0, %nrec, %flags) : (!llvm.ptr<1>, i16, i64, i32) -> !llvm.ptr<8>
  %rb = "rocdl.make.buffer.rsrc"(%in1, %h0, %nrec, %flags) : (!llvm.ptr<1>, i16, i64, i32) -> !llvm.ptr<8>
  %rc = "rocdl.make.buffer.rsrc"(%in2, %h0, %nrec, %flags) : (!llvm.ptr<1>, i16, i64, i32) -> !llvm.ptr<8>
  %opbytes = arith.constant {nbytes} : i32
  %sixteen = arith.constant 16 : i32
  %zero = arith.constant 0 : i32
  %aoff = arith.muli %tid, %opbytes : i32
  %coff = arith.muli %tid, %sixteen : i32
  %araw = "rocdl.raw.ptr.buffer.load"(%ra, %aoff, %zero) <{{aux = 0 : i32}}> : (!llvm.ptr<8>, i32, i32) -> {cont}
  %braw = "rocdl.raw.ptr.buffer.load"(%rb, %aoff, %zero) <{{aux = 0 : i32}}> : (!llvm.ptr<8>, i32, i32) -> {cont}
  %c = "rocdl.raw.ptr.buffer.load"(%rc, %coff, %zero) <{{aux = 0 : i32}}> : (!llvm.ptr<8>, i32, i32) -> {ct}{cast}
  %d = "{name}"({names[0]}, {names[1]}, %c) {MFMA_PROPS} : ({opt}, {opt}, {ct}) -> {ct}
  llvm.store %d, %optr : {ct}, !llvm.ptr<1>"""
    return run_kernel(body, 4, target=target, inputs=[a_bytes, b_bytes, c])


@pytest.mark.parametrize("name", list(MFMA_OPS))
def test_mfma_16x16_family_lane_layout(name):
    """Every instruction of the family through the executor, against D = A x B + C from the
    documented layout (lane l: row / column l % 16, k = kl * (l // 16) + j; D rows 4 * (l // 16) + v)."""
    _, _, elem, ct = MFMA_OPS[name]
    kl = MFMA[name].k_per_lane
    K = 4 * kl
    # small distinct integers: exact in fp8, int8, bf16 and f16
    A = np.array([[((i + k) % 7) - 3 for k in range(K)] for i in range(16)], dtype=np.float64)
    B = np.array([[((2 * k + n) % 5) - 2 for n in range(16)] for k in range(K)], dtype=np.float64)
    a = np.zeros((64, kl))
    b = np.zeros((64, kl))
    for lane in range(64):
        for j in range(kl):
            a[lane, j] = A[lane % 16, kl * (lane // 16) + j]
            b[lane, j] = B[kl * (lane // 16) + j, lane % 16]
    integer = ct.endswith("i32>")
    c = np.zeros((64, 4), np.int32 if integer else np.float32)
    c[5, 2] = 7 if integer else 0.5                 # C element (row 2, column 5) is added to D
    d = mfma_kernel(name, element_bytes(a, elem), element_bytes(b, elem), c)
    d = d if integer else d.view(np.float32)
    for lane in range(64):
        for v in range(4):
            row, col = 4 * (lane // 16) + v, lane % 16
            want = sum(A[row, k] * B[k, col] for k in range(K)) + c[lane, v]
            assert d[lane, v] == want, (lane, v)
    # hand-worked: D[0][0] = sum_k ((k % 7) - 3) * ((2k % 5) - 2): -2 over k < 16, -3 over k < 32
    assert d[0, 0] == {16: -2, 32: -3}[K]


def test_mfma_i8_is_signed_and_wraps_at_32_bits():
    # every A byte -128 (0x80), every B byte 127: each D element is 32 * -16256 = -520192
    a = np.full((1, 64), 0x8080808080808080 - (1 << 64), dtype=np.int64)
    b = np.full((1, 64), 0x7F7F7F7F7F7F7F7F, dtype=np.int64)
    c = np.zeros((1, 64, 4), np.int32)
    c[0, 0, 0] = -(1 << 31) + 100
    d = run_mfma("rocdl.mfma.i32.16x16x32.i8", a, b, c)
    assert d.dtype == np.int32
    assert (d.reshape(-1)[1:] == -520192).all()
    assert d[0, 0, 0] == 2146963556      # -2^31 + 100 - 520192 + 2^32


def test_mfma_f16_bf16_round_once_to_f32():
    """Products and sums exact, one rounding at the end (the model's choice, as for fp8): row 0 x column 0
    is 2^12 * 2^12 + 1 + 1 = 2^24 + 2, which f32 holds; adding in f32 one term at a time gives 2^24."""
    for name in ("rocdl.mfma.f32.16x16x16f16", "rocdl.mfma.f32.16x16x32.bf16"):
        kl = MFMA[name].k_per_lane
        a = np.zeros((1, 64, kl))
        b = np.zeros((1, 64, kl))
        a[0, 0, :3] = [4096.0, 1.0, 1.0]      # lane 0: row 0, k 0..2
        b[0, 0, :3] = [4096.0, 1.0, 1.0]      # lane 0: column 0, k 0..2
        dt = np.float16 if name.endswith("f16") else np.float32
        d = run_mfma(name, a.astype(dt), b.astype(dt), np.zeros((1, 64, 4), np.float32))
        assert d[0, 0, 0] == 2.0 ** 24 + 2


def test_mfma_bf16_1k_reads_bf16_bits_from_i16():
    a = np.zeros((1, 64, 4), np.int16)
    b = np.zeros((1, 64, 4), np.int16)
    a[0, 16, 1] = 0x3FC0      # lane 16, element 1: row 0, k = 4 + 1;  bf16 0x3FC0 = 1.5
    b[0, 17, 1] = -0x3F80     # lane 17, element 1: column 1, k = 5;   bf16 0xC080 = -4.0
    d = run_mfma("rocdl.mfma.f32.16x16x16bf16.1k", a, b, np.zeros((1, 64, 4), np.float32))
    assert d[0, 1, 0] == -6.0                          # D[0][1] lives in lane 1, element 0
    assert np.count_nonzero(d) == 1


def test_mfma_rejects_cbsz_abid():
    body = """
  %a = arith.constant 0 : i64
  %c = arith.constant dense<0.0> : vector<4xf32>
  %d = "rocdl.mfma.f32.16x16x32.fp8.fp8"(%a, %a, %c) <{abid = 0 : i32, blgp = #rocdl<mfma_perm_b none>, cbsz = 1 : i32}> : (i64, i64, vector<4xf32>) -> vector<4xf32>"""
    with pytest.raises(EmulationError, match="cbsz"):
        run_kernel(body, 1)


# -- scalar / vector ops the new dtypes use ----------------------------------------------------
def store(values, words_per_value=1):
    """IR storing %v0, %v1, ... one after another from %optr (each `words_per_value` words)."""
    lines = []
    for i, (v, t) in enumerate(values):
        lines.append(f"  %sp{i} = llvm.getelementptr %optr[{4 * words_per_value * i}] : (!llvm.ptr<1>) -> !llvm.ptr<1>, i8")
        lines.append(f"  llvm.store {v}, %sp{i} : {t}, !llvm.ptr<1>")
    return "\n".join(lines)


def test_bitcasts_between_same_size_types_are_little_endian():
    body = """
  %q = arith.constant 0x0004000300020001 : i64
  %w2 = llvm.bitcast %q : i64 to vector<2xi32>
  %h4 = llvm.bitcast %q : i64 to vector<4xi16>
  %h1 = vector.extract %h4[1] : i16 from vector<4xi16>
  %h1w = arith.extsi %h1 : i16 to i32
  %w1 = vector.extract %w2[1] : i32 from vector<2xi32>
  %pair = arith.constant 0x3F804000 : i32
  %bf = llvm.bitcast %pair : i32 to vector<2xbf16>
  %bf32 = arith.extf %bf : vector<2xbf16> to vector<2xf32>
  %hpair = arith.constant 0x3C004000 : i32
  %hf = llvm.bitcast %hpair : i32 to vector<2xf16>
  %hf32 = arith.extf %hf : vector<2xf16> to vector<2xf32>
  %back = llvm.bitcast %bf : vector<2xbf16> to i32
  %one = arith.constant 1.0 : f32
  %onebits = llvm.bitcast %one : f32 to i32
  %seven = arith.constant 0x40E00000 : i32
  %sevenf = llvm.bitcast %seven : i32 to f32
  %q4 = arith.constant 0x4400C000 : i64
  %f16x4 = llvm.bitcast %q4 : i64 to vector<4xf16>
  %f16x4w = arith.extf %f16x4 : vector<4xf16> to vector<4xf32>
  %f0 = vector.extract %f16x4w[0] : f32 from vector<4xf32>
  %f1 = vector.extract %f16x4w[1] : f32 from vector<4xf32>
  %v4 = arith.constant dense<[0x3F803F80, 0x40004000, 0x40404040, 0x3C003C00]> : vector<4xi32>
  %b8 = llvm.bitcast %v4 : vector<4xi32> to vector<8xbf16>
  %b8f = arith.extf %b8 : vector<8xbf16> to vector<8xf32>
  %b8e5 = vector.extract %b8f[5] : f32 from vector<8xf32>
  %h8 = llvm.bitcast %v4 : vector<4xi32> to vector<8xf16>
  %h8f = arith.extf %h8 : vector<8xf16> to vector<8xf32>
  %h8e7 = vector.extract %h8f[7] : f32 from vector<8xf32>
  %l2 = llvm.bitcast %v4 : vector<4xi32> to vector<2xi64>
  %l2b = llvm.bitcast %l2 : vector<2xi64> to vector<4xi32>
  %l2e3 = vector.extract %l2b[3] : i32 from vector<4xi32>
  %vb = vector.bitcast %v4 : vector<4xi32> to vector<8xi16>
  %vbe6 = vector.extract %vb[6] : i16 from vector<8xi16>
  %vbe6w = arith.extui %vbe6 : i16 to i32
  %m2 = arith.constant -2.0 : f32
  %abits = arith.bitcast %m2 : f32 to i32
""" + store([("%w1", "i32"), ("%h1w", "i32"), ("%bf32", "vector<2xf32>"), ("%hf32", "vector<2xf32>"),
             ("%back", "i32"), ("%onebits", "i32"), ("%sevenf", "f32"), ("%f0", "f32"), ("%f1", "f32"),
             ("%b8e5", "f32"), ("%h8e7", "f32"), ("%l2e3", "i32"), ("%vbe6w", "i32"), ("%abits", "i32")], 2)
    r = run_kernel(body, 28)[0].reshape(14, 2)
    f = r.view(np.float32)
    assert r[0, 0] == 0x00040003 and r[1, 0] == 2          # element 0 is the low part
    assert f[2].tolist() == [2.0, 1.0]                     # bf16 0x4000 (low half) = 2, 0x3F80 = 1
    assert f[3].tolist() == [2.0, 1.0]                     # f16 0x4000 = 2, 0x3C00 = 1
    assert r[4, 0] == 0x3F804000 and r[5, 0] == 0x3F800000 and f[6, 0] == 7.0
    assert f[7, 0] == -2.0 and f[8, 0] == 4.0              # f16 0xC000 = -2, 0x4400 = 4
    assert f[9, 0] == 3.0                                  # word 2 high half: bf16 0x4040 = 3
    assert f[10, 0] == 1.0                                 # word 3 high half: f16 0x3C00 = 1
    assert r[11, 0] == 0x3C003C00 and r[12, 0] == 0x3C00
    assert r[13, 0].view(np.uint32) == 0xC0000000            # arith.bitcast f32 -> i32


def test_sitofp_vector():
    body = """
  %v = arith.constant dense<[-3, 0, 7, 16777217]> : vector<4xi32>
  %f = arith.sitofp %v : vector<4xi32> to vector<4xf32>
  llvm.store %f, %optr : vector<4xf32>, !llvm.ptr<1>"""
    # 2^24 + 1 is halfway between two f32 values: ties to the even one, 2^24
    assert run_kernel(body, 4)[0].view(np.float32).tolist() == [-3.0, 0.0, 7.0, 16777216.0]


def test_truncf_to_bf16_and_f16_rounds_to_nearest_even_and_keeps_nan():
    body = """
  %x = arith.constant dense<[1.00390625, 1.01171875, 0x7FC00000, -3.0e+38]> : vector<4xf32>
  %b = arith.truncf %x : vector<4xf32> to vector<4xbf16>
  %y = arith.constant dense<[1.00048828125, 1.00146484375, 0x7FC00000, 70000.0]> : vector<4xf32>
  %h = arith.truncf %y : vector<4xf32> to vector<4xf16>
  %s = arith.constant 1.00390625 : f32
  %sb = arith.truncf %s : f32 to bf16
""" + store([("%b", "vector<4xbf16>"), ("%h", "vector<4xf16>"), ("%sb", "bf16")], 2)
    r = run_kernel(body, 6)[0].view(np.uint16)
    # bf16 (ulp 2^-7 at 1): 1 + 2^-8 ties to 1.0 (0x3F80); 1 + 3 x 2^-8 ties to 1 + 2^-6 (0x3F82);
    # -3e38 is f32 0xFF61B1E6: the dropped half 0xB1E6 is above 0x8000, so it rounds up to 0xFF62
    assert r[0] == 0x3F80 and r[1] == 0x3F82
    assert (r[2] & 0x7FC0) == 0x7FC0                          # NaN stays a (quiet) NaN
    assert r[3] == 0xFF62
    # f16 (ulp 2^-10 at 1): 1 + 2^-11 ties to 1.0 (0x3C00); 1 + 3 x 2^-11 to 1 + 2^-9 (0x3C02);
    # 70000 is past the largest f16 (65504): +inf (0x7C00)
    assert r[4] == 0x3C00 and r[5] == 0x3C02
    assert (r[6] & 0x7E00) == 0x7E00 and r[7] == 0x7C00
    assert r[8] == 0x3F80                                     # scalar truncf


def test_packed_f16_bf16_arithmetic_rounds_to_the_type():
    body = """
  %h = arith.constant 0x640A6400 : i32
  %hp = llvm.bitcast %h : i32 to vector<2xf16>
  %k = arith.constant dense<1032.0> : vector<2xf16>
  %hs = arith.subf %hp, %k : vector<2xf16>
  %b = arith.constant 0x43054300 : i32
  %bp = llvm.bitcast %b : i32 to vector<2xbf16>
  %kb = arith.constant dense<136.0> : vector<2xbf16>
  %bs = arith.subf %bp, %kb : vector<2xbf16>
  %ha = arith.constant dense<[1.0, 2048.0]> : vector<2xf16>
  %hb = arith.constant dense<[4.8828125E-4, 1.0]> : vector<2xf16>
  %hsum = arith.addf %ha, %hb : vector<2xf16>
  %ba = arith.constant dense<[1.0, 256.0]> : vector<2xbf16>
  %bb = arith.constant dense<[0.01171875, 1.0]> : vector<2xbf16>
  %bsum = arith.addf %ba, %bb : vector<2xbf16>
  %hm = arith.constant dense<[65504.0, 6.103515625E-5]> : vector<2xf16>
  %hn = arith.constant dense<[2.0, 9.765625E-4]> : vector<2xf16>
  %hprod = arith.mulf %hm, %hn : vector<2xf16>
  %bm = arith.constant dense<[3.0, 1.5]> : vector<2xbf16>
  %bn = arith.constant dense<1.0078125> : vector<2xbf16>
  %bprod = arith.mulf %bm, %bn : vector<2xbf16>
""" + "\n".join(f"  %w{i} = arith.extf {v} : vector<2x{t}> to vector<2xf32>" for i, (v, t) in enumerate(
        [("%hs", "f16"), ("%bs", "bf16"), ("%hsum", "f16"), ("%bsum", "bf16"), ("%hprod", "f16"), ("%bprod", "bf16")])
    ) + "\n" + store([(f"%w{i}", "vector<2xf32>") for i in range(6)], 2)
    f = run_kernel(body, 12)[0].view(np.float32).reshape(6, 2)
    assert f[0].tolist() == [-8.0, 2.0]        # f16 pair [1024, 1034] - 1032 (the int4 unpack trick)
    assert f[1].tolist() == [-8.0, -3.0]       # bf16 pair [128, 133] - 136
    assert f[2].tolist() == [1.0, 2048.0]      # 1 + 2^-11 and 2049: ties to even
    assert f[3].tolist() == [1.015625, 256.0]  # 1 + 3 x 2^-8 ties up to 1 + 2^-6; 257 ties down to 256
    assert f[4].tolist() == [np.inf, 2.0 ** -24]   # overflow; 2^-14 x 2^-10 = the smallest subnormal
    assert f[5].tolist() == [3.03125, 1.515625]    # 3.0234375 and 1.51171875 tie to the even bf16


def test_fma_rounds_once():
    body = """
  %a = arith.constant 0x39800001 : f32
  %b = arith.constant 0x397FFFFE : f32
  %c = arith.constant 0x3F800001 : f32
  %r = llvm.intr.fma(%a, %b, %c) : (f32, f32, f32) -> f32
  %x = arith.constant 0x3F800008 : f32
  %m1 = arith.constant -1.0 : f32
  %xs = vector.broadcast %x : f32 to vector<2xf32>
  %m1s = vector.broadcast %m1 : f32 to vector<2xf32>
  %r2 = llvm.intr.fma(%xs, %xs, %m1s) : (vector<2xf32>, vector<2xf32>, vector<2xf32>) -> vector<2xf32>
  %hp = arith.constant 0x64F06400 : i32
  %pair = llvm.bitcast %hp : i32 to vector<2xf16>
  %sc = arith.constant dense<0.0625> : vector<2xf16>
  %bi = arith.constant dense<-72.0> : vector<2xf16>
  %r3 = llvm.intr.fma(%pair, %sc, %bi) : (vector<2xf16>, vector<2xf16>, vector<2xf16>) -> vector<2xf16>
  %r3w = arith.extf %r3 : vector<2xf16> to vector<2xf32>
  %y = arith.constant dense<1.015625> : vector<2xf16>
  %m1h = arith.constant dense<-1.0> : vector<2xf16>
  %r4 = llvm.intr.fma(%y, %y, %m1h) : (vector<2xf16>, vector<2xf16>, vector<2xf16>) -> vector<2xf16>
  %r4w = arith.extf %r4 : vector<2xf16> to vector<2xf32>
""" + store([("%r", "f32"), ("%r2", "vector<2xf32>"), ("%r3w", "vector<2xf32>"), ("%r4w", "vector<2xf32>")], 2)
    r = run_kernel(body, 8)[0].reshape(4, 2)
    # a x b = 2^-24 (1 - 2^-46) exactly; + (1 + 2^-23) lies just below the midpoint 1 + 2^-23 + 2^-24:
    # the fused result is 1 + 2^-23 (0x3F800001); an f64 sum rounded again would tie up to 0x3F800002
    assert r[0, 0] == 0x3F800001
    f = r.view(np.float32)
    # (1 + 2^-20)^2 - 1 = 2^-19 + 2^-40, exact in f32 only when the product is not rounded first
    assert f[1].tolist() == [2.0 ** -19 + 2.0 ** -40] * 2
    assert f[2].tolist() == [-8.0, 7.0]        # f16 [1024, 1264] x 1/16 - 72: the int4 unpack trick
    assert f[3].tolist() == [2.0 ** -5 + 2.0 ** -12] * 2   # (1 + 2^-6)^2 - 1, fused


def test_integer_bit_ops_on_i32():
    body = """
  %x = arith.constant 0x88888888 : i32
  %s4 = arith.constant 4 : i32
  %s28 = arith.constant 28 : i32
  %shl = arith.shli %x, %s4 : i32
  %sra = arith.shrsi %x, %s28 : i32
  %srl = arith.shrui %x, %s28 : i32
  %m = arith.constant 0x000F000F : i32
  %and = arith.andi %x, %m : i32
  %magic = arith.constant 0x64006400 : i32
  %or = arith.ori %and, %magic : i32
  %xor = arith.xori %x, %x : i32
""" + store([(v, "i32") for v in ("%shl", "%sra", "%srl", "%and", "%or", "%xor")])
    r = run_kernel(body, 6)[0].view(np.uint32)
    assert r.tolist() == [0x88888880, 0xFFFFFFF8, 0x8, 0x00080008, 0x64086408, 0]


def test_signed_min_max_on_i32():
    body = """
  %a = arith.constant -5 : i32
  %b = arith.constant 3 : i32
  %mn = arith.minsi %a, %b : i32
  %mx = arith.maxsi %a, %b : i32
""" + store([(v, "i32") for v in ("%mn", "%mx")])
    r = run_kernel(body, 2)[0].view(np.int32)
    assert r.tolist() == [-5, 3]


def test_vector_i32_arithmetic_wraps():
    body = """
  %a = arith.constant dense<[2147483647, -1, 3, 65536]> : vector<4xi32>
  %b = arith.constant dense<[2, -1, -4, 65536]> : vector<4xi32>
  %p = arith.muli %a, %b : vector<4xi32>
  %one = arith.constant dense<1> : vector<4xi32>
  %s = arith.addi %a, %one : vector<4xi32>
""" + store([("%p", "vector<4xi32>"), ("%s", "vector<4xi32>")], 4)
    r = run_kernel(body, 8)[0]
    assert r[:4].tolist() == [-2, 1, -12, 0]                       # 2^32 wraps to 0
    assert r[4:].tolist() == [-(1 << 31), 0, 4, 65537]


def test_vector_extract_insert_slice_shuffle():
    body = """
  %v = arith.constant dense<[10, 11, 12, 13]> : vector<4xi32>
  %three = arith.constant 3 : i32
  %lane = arith.remui %tid, %three : i32
  %li = arith.index_cast %lane : i32 to index
  %dyn = vector.extract %v[%li] : i32 from vector<4xi32>
  %sta = vector.extract %v[3] : i32 from vector<4xi32>
  %ins = vector.insert %tid, %v[%li] : i32 into vector<4xi32>
  %ins0 = vector.insert %sta, %ins[0] : i32 into vector<4xi32>
  %sl = vector.extract_strided_slice %v {offsets = [1], sizes = [2], strides = [1]} : vector<4xi32> to vector<2xi32>
  %w = vector.from_elements %three, %three : vector<2xi32>
  %isl = vector.insert_strided_slice %w, %v {offsets = [2], strides = [1]} : vector<2xi32> into vector<4xi32>
  %sh = vector.shuffle %sl, %w [3, 0, 1, 2] : vector<2xi32>, vector<2xi32>
""" + store([("%dyn", "i32"), ("%sta", "i32"), ("%ins0", "vector<4xi32>"), ("%sl", "vector<2xi32>"),
             ("%isl", "vector<4xi32>"), ("%sh", "vector<4xi32>")], 4)
    r = run_kernel(body, 24).reshape(64, 6, 4)
    lanes = np.arange(64)
    assert (r[:, 0, 0] == 10 + lanes % 3).all()                   # dynamic position: per lane
    assert (r[:, 1, 0] == 13).all()
    want = np.tile([10, 11, 12, 13], (64, 1))
    want[lanes, lanes % 3] = lanes
    want[:, 0] = 13
    assert (r[:, 2] == want).all()
    assert r[0, 3, :2].tolist() == [11, 12]
    assert r[0, 4].tolist() == [10, 11, 3, 3]
    assert r[0, 5].tolist() == [3, 11, 12, 3]                      # indices 0..1 from %sl, 2..3 from %w


# -- runner: dtypes without scales ---------------------------------------------------------------
def test_gemm_without_scales_passes_placeholder_buffers():
    import dataclasses
    from types import SimpleNamespace

    import torch

    routing = SimpleNamespace(sorted_token_ids=torch.arange(4, dtype=torch.int32),
                              sorted_weights=torch.ones(4), sorted_expert_ids=torch.zeros(1, dtype=torch.int32),
                              num_valid_ids=torch.tensor([4], dtype=torch.int32), tokens=3, max_padded=4)
    x, w, sw = torch.zeros(2, 4, dtype=torch.bfloat16), torch.zeros(8, dtype=torch.uint8), torch.ones(2)
    out = torch.zeros(64, dtype=torch.int32)
    args = gemm_tensors(x, w, None, sw, routing, out)
    assert args[0] is x and args[1] is w and args[3] is sw and args[8] is out and len(args) == 9
    assert args[2].dtype == torch.uint8 and args[2].numel() == UNUSED_BYTES and not args[2].any()
    assert gemm_tensors(x, w, None, None, routing, out)[3].numel() == UNUSED_BYTES

    # the whole call, on a stand-in kernel that stores tokens + its sx / sw buffers' first words
    @dataclasses.dataclass
    class Spec:
        target: str = "gfx942"
        kernel: str = "gemm"

    ptrs = ", ".join(f"%{n}: !llvm.ptr<1>" for n in ("x", "w", "sx", "sw", "ids", "sws", "eids", "nv", "out"))
    ir_text = ("gpu.module @m {\n gpu.func @k(" + ptrs + ", %tokens: i32) kernel {\n"
               "  %tidx = gpu.thread_id x\n  %tid = arith.index_cast %tidx : index to i32\n"
               "  %four = arith.constant 4 : i32\n  %o = arith.muli %tid, %four : i32\n"
               "  %p = llvm.getelementptr %out[%o] : (!llvm.ptr<1>, i32) -> !llvm.ptr<1>, i8\n"
               "  %h0 = arith.constant 0 : i16\n  %n = arith.constant 16 : i64\n  %f = arith.constant 159744 : i32\n"
               "  %r = \"rocdl.make.buffer.rsrc\"(%sx, %h0, %n, %f) : (!llvm.ptr<1>, i16, i64, i32) -> !llvm.ptr<8>\n"
               "  %z = arith.constant 0 : i32\n"
               "  %v = \"rocdl.raw.ptr.buffer.load\"(%r, %z, %z) <{aux = 0 : i32}> : (!llvm.ptr<8>, i32, i32) -> i32\n"
               "  %t = arith.addi %tokens, %v : i32\n  llvm.store %t, %p : i32, !llvm.ptr<1>\n"
               "  gpu.return\n }\n}\n")
    compiled = SimpleNamespace(spec=Spec(), launch={"tile_m": 4, "grid_y": 1, "block": 64},
                               ir_after=lambda stage: ir_text)
    k = EmulatedKernel(compiled)
    assert k(x, w, None, None, routing, out) is out
    assert (out == 3).all()                     # tokens + 0 read from the placeholder sx
