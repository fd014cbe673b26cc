"""Execute one kernel launch of the IR after moe-to-flydsl on the CPU, every lane of the grid at once.

Values are numpy arrays with one row per lane (all workgroups x all threads); divergent `scf.if`
runs its region under a lane mask; side effects (stores, atomics) honour the mask; wave-level
instructions (readfirstlane, MFMA) regroup the lanes into waves of 64.  Global memory is a set of
numpy byte buffers at virtual addresses.  An op without modelled semantics stops the run with an
error naming it.

Not modelled: LDS (no generated kernel uses it; an LDS access stops the run with the op's name).

Semantics follow the CDNA3 ISA guide (buffer addressing and range checking, V_CVT_PK_FP8_F32,
V_MFMA_*, V_READFIRSTLANE_B32, V_EXP_F32, GLOBAL_ATOMIC_PK_ADD_BF16) and the MLIR dialect
definitions of arith / vector / llvm / scf / gpu.
"""
from __future__ import annotations

import re

import numpy as np

from . import fp8
from .mfma import MFMA, run_mfma

WAVE = 64
ADDR_SHIFT = 40   # buffer i lives at virtual address (i + 1) << 40

INT = {"i1": np.bool_, "i8": np.int8, "i16": np.int16, "i32": np.int32, "i64": np.int64, "index": np.int64}
UINT = {np.int8: np.uint8, np.int16: np.uint16, np.int32: np.uint32, np.int64: np.uint64}
SIZE = {"i1": 1, "i8": 1, "i16": 2, "i32": 4, "i64": 8, "f16": 2, "bf16": 2, "f32": 4, "index": 8}


class EmulationError(Exception):
    pass


def parse_type(t: str):
    """(element, count or None) of an MLIR type string; pointers are ('ptr<N>', None)."""
    m = re.fullmatch(r"vector<(\d+)x(\w+)>", t)
    if m:
        return m.group(2), int(m.group(1))
    m = re.fullmatch(r"!llvm\.ptr<(\d+)>", t)
    if m:
        return f"ptr{m.group(1)}", None
    return t, None


def np_dtype(elem):
    if elem in INT:
        return INT[elem]
    if elem in ("f32", "bf16"):
        return np.float32      # bf16 values are held as the f32 they represent exactly
    if elem == "f16":
        return np.float16
    if elem.startswith("ptr"):
        return np.int64
    raise EmulationError(f"no representation for element type {elem}")


def bf16_round(x: np.ndarray) -> np.ndarray:
    """f32 -> bf16 (round to nearest even, NaN kept quiet), returned as f32."""
    u = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    nan = np.isnan(np.asarray(x, dtype=np.float32))
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) & 0xFFFF
    r = np.where(nan, (u >> 16) | 0x40, r)
    return (r.astype(np.uint32) << 16).view(np.float32)


def round_to(x: np.ndarray, elem: str) -> np.ndarray:
    """f32/f64 values -> the held representation of float type `elem`, rounding to nearest even
    (NaN kept): f16 as numpy float16, bf16 as the f32 it represents, f32 as float32."""
    if elem == "bf16":
        return bf16_round(np.asarray(x, dtype=np.float32))
    if elem in ("f16", "f32"):
        with np.errstate(all="ignore"):
            return np.asarray(x).astype(np_dtype(elem))
    raise EmulationError(f"no float representation for {elem}")


def float_from_bits(bits: int, elem: str) -> float:
    """The value of a float type's bit pattern (MLIR prints NaN and some constants in hex)."""
    if elem == "bf16":
        return float(np.array([bits << 16], dtype=np.uint32).view(np.float32)[0])
    width = {"f16": np.uint16, "f32": np.uint32}[elem]
    return float(np.array([bits], dtype=width).view(np_dtype(elem))[0])


def to_bytes(v: np.ndarray, type_: str) -> np.ndarray:
    elem, n = parse_type(type_)
    L = v.shape[0]
    if elem == "bf16":
        raw = (np.ascontiguousarray(v, dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16)
    else:
        raw = np.ascontiguousarray(v.astype(np_dtype(elem)))
    return raw.view(np.uint8).reshape(L, -1)


def from_bytes(b: np.ndarray, type_: str) -> np.ndarray:
    elem, n = parse_type(type_)
    L = b.shape[0]
    b = np.ascontiguousarray(b)
    if elem == "bf16":
        v = (b.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
    else:
        v = b.view(np_dtype(elem))
    return v.reshape(L, n) if n else v.reshape(L)


def type_size(type_: str) -> int:
    elem, n = parse_type(type_)
    return SIZE[elem] * (n or 1)


class Memory:
    def __init__(self):
        self.buffers: list = []

    def add(self, data: np.ndarray) -> int:
        self.buffers.append(data.view(np.uint8).reshape(-1))
        return (len(self.buffers)) << ADDR_SHIFT

    def _split(self, addr):
        addr = np.asarray(addr, dtype=np.int64)
        return (addr >> ADDR_SHIFT) - 1, addr & ((1 << ADDR_SHIFT) - 1)

    def read(self, addr, size: int, mask=None) -> np.ndarray:
        buf, off = self._split(addr)
        out = np.zeros((len(off), size), dtype=np.uint8)
        live = np.ones(len(off), bool) if mask is None else mask
        for b in np.unique(buf[live]):
            sel = live & (buf == b)
            data = self.buffers[int(b)]
            idx = off[sel][:, None] + np.arange(size)
            if idx.size and (idx.min() < 0 or idx.max() >= data.size):
                raise EmulationError(f"global load outside buffer {int(b)} (size {data.size})")
            out[sel] = data[idx]
        return out

    def write(self, addr, raw: np.ndarray, mask) -> None:
        buf, off = self._split(addr)
        for lane in np.nonzero(mask)[0]:
            data = self.buffers[int(buf[lane])]
            o = int(off[lane])
            if o < 0 or o + raw.shape[1] > data.size:
                raise EmulationError(f"global store outside buffer {int(buf[lane])}")
            data[o:o + raw.shape[1]] = raw[lane]


class Launch:
    """One launch: grid x block lanes, run over the gpu.func `func`."""

    def __init__(self, func, grid, block, args, memory: Memory, target: str):
        self.func, self.mem, self.target = func, memory, target
        self.flavour = fp8.FLAVOURS[target]
        gx, gy, gz = (*grid, 1)[:3]
        self.block = block
        self.L = gx * gy * gz * block
        lane = np.arange(self.L)
        self.tid = (lane % block).astype(np.int64)
        blk = lane // block
        self.bid = {"x": (blk % gx).astype(np.int64), "y": (blk // gx % gy).astype(np.int64),
                    "z": (blk // (gx * gy)).astype(np.int64)}
        if block % WAVE:
            raise EmulationError(f"block size {block} is not a whole number of {WAVE}-lane waves")
        self.env: dict = {}
        entry = func.regions[0].blocks[0]
        if len(entry.arguments) != len(args):
            raise EmulationError(f"kernel takes {len(entry.arguments)} arguments, got {len(args)}")
        for a, v in zip(entry.arguments, args):
            self.env[a] = np.full(self.L, v, dtype=np_dtype(parse_type(str(a.type))[0]))
        self.counts: dict = {}

    # -- driver ------------------------------------------------------------------------------
    def run(self):
        self.exec_block(self.func.regions[0].blocks[0], np.ones(self.L, dtype=bool))

    def exec_block(self, block, mask):
        for op in block.operations:
            op = op.operation
            name = op.name
            self.counts[name] = self.counts.get(name, 0) + 1
            if name in ("scf.yield", "gpu.return"):
                return [self.env[v] for v in op.operands]
            handler = HANDLERS.get(name)
            if handler is None:
                raise EmulationError(f"no semantics for op '{name}' (at {op.location})")
            res = handler(self, op, mask)
            if res is not None:
                for r, v in zip(op.results, res if isinstance(res, list) else [res]):
                    self.env[r] = v
        return []

    def val(self, v):
        return self.env[v]

    def waves(self, x):
        return x.reshape(self.L // WAVE, WAVE, *x.shape[1:])


# -- helpers ----------------------------------------------------------------------------------
def _t(v):
    return str(v.type)


def _uns(x):
    return x.view(UINT[x.dtype.type]) if x.dtype.type in UINT else x


def _binop(fn, unsigned=False):
    def h(ex, op, mask):
        a, b = (ex.val(v) for v in op.operands)
        if unsigned:
            r = fn(_uns(a), _uns(b))
            return r.astype(_uns(a).dtype).view(a.dtype)
        with np.errstate(all="ignore"):
            return fn(a, b).astype(a.dtype)
    return h


def _const(ex, op, mask):
    t = _t(op.results[0])
    elem, n = parse_type(t)
    text = str(op.attributes["value"])
    m = re.match(r"dense<(.+?)>", text)
    lit = m.group(1) if m else text.split(":")[0].strip()
    lits = [x.strip() for x in lit.strip("[]").split(",")]    # dense<[a, b, ...]>: one per element

    def value(x):
        if x in ("true", "false"):
            return x == "true"
        if elem in INT:
            return int(x, 0)
        return float_from_bits(int(x, 16), elem) if x.lower().startswith("0x") else float(x)

    vals = [value(x) for x in lits]
    if len(vals) not in (1, n or 1):
        raise EmulationError(f"arith.constant: {len(vals)} values for {t}")
    dt = np_dtype(elem)
    if elem in INT and elem != "i1":
        vals = np.array(vals).astype(np.int64).astype(dt)   # wrap as the type's width
    elif elem not in INT:
        vals = round_to(np.array(vals, dtype=np.float64), elem)
    else:
        vals = np.array(vals, dtype=dt)
    shape = (ex.L, n) if n else (ex.L,)
    return np.broadcast_to(vals if n else vals[0], shape).astype(dt)


PRED = {0: np.equal, 1: np.not_equal, 2: np.less, 3: np.less_equal, 4: np.greater, 5: np.greater_equal,
        6: np.less, 7: np.less_equal, 8: np.greater, 9: np.greater_equal}


def _cmpi(ex, op, mask):
    p = op.attributes["predicate"].value
    a, b = (ex.val(v) for v in op.operands)
    if p >= 6:
        a, b = _uns(a), _uns(b)
    return PRED[p](a, b)


def _select(ex, op, mask):
    c, a, b = (ex.val(v) for v in op.operands)
    if isinstance(a, tuple):
        return tuple(np.where(c, x, y) for x, y in zip(a, b))
    if a.ndim > 1 and c.ndim == 1:
        c = c[:, None]
    return np.where(c, a, b)


def _cast(kind):
    def h(ex, op, mask):
        x = ex.val(op.operands[0])
        elem, n = parse_type(_t(op.results[0]))
        dt = np_dtype(elem)
        if kind == "zext":
            return _uns(x).astype(np.uint64).astype(dt) if x.dtype != np.bool_ else x.astype(dt)
        if kind == "sext":
            return x.astype(np.int64).astype(dt) if x.dtype != np.bool_ else np.where(x, -1, 0).astype(dt)
        if kind == "itof":
            r = x.astype(np.float64).astype(np.float32)
            return round_to(r, elem)
        if kind == "uitof":
            return round_to(_uns(x).astype(np.float64).astype(np.float32), elem)
        if kind == "extf":        # f16 / bf16 -> f32: exact
            return x.astype(dt)
        if kind == "truncf":      # f32 -> f16 / bf16: round to nearest even, NaN kept
            return round_to(x, elem)
        if kind == "trunc":
            return x.astype(np.int64).astype(dt)
        raise AssertionError(kind)
    return h


def _float(fn):
    """f32, f16 and bf16 (scalars or vectors): computed in f32, rounded once to the type (RNE).  For
    f16 that is the correctly rounded result (f32 has more than 2 x 11 + 2 bits); for bf16 it is
    what LLVM's promotion to f32 computes on targets without bf16 arithmetic."""
    def h(ex, op, mask):
        args = [ex.val(v).astype(np.float32) for v in op.operands]
        elem, _ = parse_type(_t(op.results[0]))
        with np.errstate(all="ignore"):
            return round_to(fn(*args), elem)
    return h


def _ints(attr):
    """The integers of an array attribute (`array<i64: 1, 2>`, `[1, 2]`, `[1 : i64]`)."""
    text = re.sub(r":\s*i\d+", "", str(attr))
    return [int(x) for x in re.findall(r"-?\d+", text.split("array<i64")[-1].split("array<i32")[-1])]


DYNAMIC = -(1 << 63)   # ShapedType::kDynamic: the position is the next operand


def _index(ex, op, first_dynamic):
    """Per-lane element index of a 1-D vector.extract / vector.insert (static or dynamic)."""
    pos = _ints(op.attributes["static_position"])
    if len(pos) != 1:
        raise EmulationError(f"{op.name}: only 1-D vectors (one position) are modelled")
    if pos[0] == DYNAMIC:
        return ex.val(op.operands[first_dynamic]).astype(np.int64)
    return np.full(ex.L, pos[0], dtype=np.int64)


def _extract(ex, op, mask):
    x = ex.val(op.operands[0])
    if x.ndim != 2:
        raise EmulationError("vector.extract: only 1-D vectors are modelled")
    i = _index(ex, op, 1)
    if ((i < 0) | (i >= x.shape[1]))[mask].any():
        raise EmulationError(f"vector.extract: position outside vector of {x.shape[1]}")
    return x[np.arange(ex.L), np.clip(i, 0, x.shape[1] - 1)]


def _insert(ex, op, mask):
    src, dest = ex.val(op.operands[0]), ex.val(op.operands[1])
    if dest.ndim != 2 or src.ndim != 1:
        raise EmulationError("vector.insert: only a scalar into a 1-D vector is modelled")
    i = _index(ex, op, 2)
    if ((i < 0) | (i >= dest.shape[1]))[mask].any():
        raise EmulationError(f"vector.insert: position outside vector of {dest.shape[1]}")
    out = dest.copy()
    out[np.arange(ex.L), np.clip(i, 0, dest.shape[1] - 1)] = src
    return out


def _extract_strided_slice(ex, op, mask):
    x = ex.val(op.operands[0])
    (off,), (size,), (stride,) = (_ints(op.attributes[k]) for k in ("offsets", "sizes", "strides"))
    return x[:, off:off + size * stride:stride].copy()


def _insert_strided_slice(ex, op, mask):
    src, dest = ex.val(op.operands[0]), ex.val(op.operands[1])
    (off,), (stride,) = (_ints(op.attributes[k]) for k in ("offsets", "strides"))
    out = dest.copy()
    out[:, off:off + src.shape[1] * stride:stride] = src
    return out


def _shuffle(ex, op, mask):
    a, b = (ex.val(v) for v in op.operands)
    if a.ndim != 2 or b.ndim != 2:
        raise EmulationError("vector.shuffle: only 1-D vectors are modelled")
    idx = _ints(op.attributes["mask"])
    return np.concatenate([a, b.astype(a.dtype)], axis=1)[:, idx]


def _from_elements(ex, op, mask):
    return np.stack([ex.val(v) for v in op.operands], axis=1)


def _broadcast(ex, op, mask):
    _, n = parse_type(_t(op.results[0]))
    x = ex.val(op.operands[0])
    return np.repeat(x[:, None], n, axis=1)


def _bitcast(ex, op, mask):
    """llvm / vector / arith.bitcast: the same bytes, little-endian, element 0 lowest."""
    src, dst = _t(op.operands[0]), _t(op.results[0])
    if type_size(src) != type_size(dst):
        raise EmulationError(f"{op.name}: {src} and {dst} differ in size")
    return from_bytes(to_bytes(ex.val(op.operands[0]), src), dst)


def _gep(ex, op, mask):
    base = ex.val(op.operands[0])
    elem = str(op.attributes["elem_type"])
    raw = [int(x) for x in re.findall(r"-?\d+", str(op.attributes["rawConstantIndices"]).split(":")[-1])]
    dyn = iter(op.operands[1:])
    if len(raw) != 1:
        raise EmulationError("llvm.getelementptr: only one index is modelled")
    idx = ex.val(next(dyn)).astype(np.int64) if raw[0] == -2147483648 else np.int64(raw[0])
    return base + idx * type_size(elem)


def fma_f64_round_to_odd(a, b, c):
    """a * b + c for f32 or f16 inputs, as an f64 rounded to odd: the product is exact in f64, the
    sum's rounding error is recovered exactly (TwoSum) and folded into the last bit, so one further
    round-to-nearest-even to f32 / f16 (< 53 - 2 bits) gives the correctly rounded fused result."""
    a, b, c = (np.asarray(x, dtype=np.float64) for x in (a, b, c))
    with np.errstate(all="ignore"):
        p = a * b
        s = p + c
        bb = s - p
        err = (p - (s - bb)) + (c - bb)
        even = (s.view(np.uint64) & 1) == 0
        bump = np.isfinite(s) & (err != 0) & even
        return np.where(bump, np.nextafter(s, np.where(err > 0, np.inf, -np.inf)), s)


def _fma(ex, op, mask):
    """llvm.intr.fma: one rounding (V_FMA_F32, V_FMA_F16 / V_PK_FMA_F16).  bf16 has no fused
    instruction on these chips: LLVM promotes it to an f32 fma and rounds the result to bf16."""
    a, b, c = (ex.val(v) for v in op.operands)
    elem, _ = parse_type(_t(op.results[0]))
    r = fma_f64_round_to_odd(a, b, c)
    if elem == "bf16":
        return round_to(round_to(r, "f32"), "bf16")
    return round_to(r, elem)


def _store(ex, op, mask):
    v, p = (ex.val(x) for x in op.operands)
    ex.mem.write(p, to_bytes(v, _t(op.operands[0])), mask)


def _atomicrmw(ex, op, mask):
    p, v = (ex.val(x) for x in op.operands)
    t = _t(op.operands[1])
    if op.attributes["bin_op"].value != 11:   # fadd
        raise EmulationError("llvm.atomicrmw: only fadd is modelled")
    size = type_size(t)
    # GLOBAL_ATOMIC_PK_ADD_BF16 / _F16 / ADD_F32: each lane's read-modify-write is indivisible; the
    # sum is rounded to the element type at every add.  Lanes are applied in lane order.
    old = np.zeros_like(v)
    for lane in np.nonzero(mask)[0]:
        cur = from_bytes(ex.mem.read(p[lane:lane + 1], size), t)
        old[lane] = cur[0]
        new = cur.astype(np.float32) + v[lane:lane + 1].astype(np.float32)
        if parse_type(t)[0] == "bf16":
            new = bf16_round(new)
        ex.mem.write(p[lane:lane + 1], to_bytes(new.astype(v.dtype), t), np.ones(1, bool))
    return old


def _thread_id(ex, op, mask):
    d = str(op.attributes["dimension"])
    if not d.endswith("x>"):
        return np.zeros(ex.L, np.int64)
    return ex.tid.copy()


def _block_id(ex, op, mask):
    d = str(op.attributes["dimension"])
    return ex.bid[d[-2]].copy()


def _if(ex, op, mask):
    if len(op.results):
        raise EmulationError("scf.if with results is not modelled")
    cond = ex.val(op.operands[0])
    inner = mask & cond
    if inner.any():
        ex.exec_block(op.regions[0].blocks[0], inner)
    if len(op.regions) > 1 and len(op.regions[1].blocks):
        outer = mask & ~cond
        if outer.any():
            ex.exec_block(op.regions[1].blocks[0], outer)


def _for(ex, op, mask):
    lb, ub, step = (ex.val(v) for v in op.operands[:3])
    live = mask
    for name, x in (("lower bound", lb), ("upper bound", ub), ("step", step)):
        if live.any() and np.unique(x[live]).size != 1:
            raise EmulationError(f"scf.for: {name} differs between active lanes")
    lo, hi, st = (int(x[live][0]) if live.any() else 0 for x in (lb, ub, step))
    carried = [ex.val(v) for v in op.operands[3:]]
    body = op.regions[0].blocks[0]
    iv, iters = body.arguments[0], list(body.arguments)[1:]
    for k in range(lo, hi, st):
        ex.env[iv] = np.full(ex.L, k, dtype=np_dtype(parse_type(str(iv.type))[0]))
        for a, v in zip(iters, carried):
            ex.env[a] = v
        carried = ex.exec_block(body, mask)
    return carried


# -- ROCDL --------------------------------------------------------------------------------------
def _barrier(ex, op, mask):
    """Every op runs for all lanes of the grid before the next one starts, so all waves of a workgroup
    have reached any barrier together: nothing to wait for."""
    return None


def _make_rsrc(ex, op, mask):
    base, _stride, nrec, _flags = (ex.val(v) for v in op.operands)
    return (base.astype(np.int64), nrec.astype(np.int64))


def _buffer_load(ex, op, mask):
    """Raw buffer load (stride 0): address = base + voffset + soffset; per the CDNA3 range check the
    access is out of range when voffset + inst_offset + size > num_records (soffset is not part of
    the check), and out-of-range dwords read as zero."""
    (base, nrec), voff, soff = ex.val(op.operands[0]), ex.val(op.operands[1]), ex.val(op.operands[2])
    t = _t(op.results[0])
    size = type_size(t)
    v = _uns(voff).astype(np.int64)
    inside = v + size <= nrec
    raw = ex.mem.read(base + v + soff.astype(np.int64), size, mask & inside)
    raw[~inside] = 0
    return from_bytes(raw, t)


def _readfirstlane(ex, op, mask):
    x = ex.val(op.operands[0])
    w, m = ex.waves(x), ex.waves(mask)
    first = np.argmax(m, axis=1)            # first active lane of each wave (0 if none active)
    pick = w[np.arange(w.shape[0]), first]
    return np.repeat(pick[:, None], WAVE, axis=1).reshape(x.shape)


def _cvt_pk_fp8(ex, op, mask):
    a, b, old = (ex.val(v) for v in op.operands)
    hi = op.attributes["wordSel"].value
    lo_byte = fp8.encode(a, ex.flavour).astype(np.uint32)
    hi_byte = fp8.encode(b, ex.flavour).astype(np.uint32)
    pair = lo_byte | (hi_byte << 8)
    o = old.view(np.uint32)
    r = (o & 0x0000FFFF) | (pair << 16) if hi else (o & 0xFFFF0000) | pair
    return r.astype(np.uint32).view(np.int32)


def _mfma(ex, op, mask):
    """Any instruction of mfma.MFMA (the 16x16xK family: one layout, see mfma.py)."""
    a, b, c = (ex.val(v) for v in op.operands)
    for k in ("cbsz", "abid"):
        if k in op.attributes and str(op.attributes[k]).split(":")[0].strip() != "0":
            raise EmulationError(f"{op.name}: {k} = {op.attributes[k]} (nonzero) is not modelled")
    if "blgp" in op.attributes and "none" not in str(op.attributes["blgp"]):
        raise EmulationError(f"{op.name}: a B-lane permutation (blgp) is not modelled")
    d = run_mfma(op.name, ex.waves(a), ex.waves(b), ex.waves(c), ex.flavour)
    return d.reshape(ex.L, 4)


def _exp2(ex, op, mask):
    with np.errstate(all="ignore"):
        return np.exp2(ex.val(op.operands[0]).astype(np.float64)).astype(np.float32)


HANDLERS = {
    "arith.constant": _const,
    "arith.addi": _binop(np.add), "arith.subi": _binop(np.subtract), "arith.muli": _binop(np.multiply),
    "arith.andi": _binop(np.bitwise_and), "arith.ori": _binop(np.bitwise_or),
    "arith.xori": _binop(np.bitwise_xor), "arith.shli": _binop(np.left_shift),
    "arith.shrsi": _binop(np.right_shift), "arith.shrui": _binop(np.right_shift, unsigned=True),
    "arith.divui": _binop(np.floor_divide, unsigned=True), "arith.remui": _binop(np.remainder, unsigned=True),
    "arith.minsi": _binop(np.minimum), "arith.maxsi": _binop(np.maximum),
    "arith.cmpi": _cmpi, "arith.select": _select,
    "arith.index_cast": _cast("sext"), "arith.extsi": _cast("sext"), "arith.extui": _cast("zext"),
    "arith.trunci": _cast("trunc"), "arith.sitofp": _cast("itof"), "arith.uitofp": _cast("uitof"),
    "arith.extf": _cast("extf"), "arith.truncf": _cast("truncf"),
    "arith.mulf": _float(np.multiply), "arith.addf": _float(np.add), "arith.subf": _float(np.subtract),
    "arith.divf": _float(np.divide), "arith.negf": _float(np.negative),
    "vector.extract": _extract, "vector.from_elements": _from_elements, "vector.broadcast": _broadcast,
    "vector.insert": _insert, "vector.extract_strided_slice": _extract_strided_slice,
    "vector.insert_strided_slice": _insert_strided_slice, "vector.shuffle": _shuffle,
    "vector.bitcast": _bitcast, "llvm.bitcast": _bitcast, "arith.bitcast": _bitcast, "llvm.getelementptr": _gep, "llvm.intr.fma": _fma,
    "llvm.store": _store, "llvm.atomicrmw": _atomicrmw,
    "gpu.thread_id": _thread_id, "gpu.block_id": _block_id, "gpu.barrier": _barrier, "rocdl.s.barrier": _barrier,
    "scf.if": _if, "scf.for": _for,
    "rocdl.make.buffer.rsrc": _make_rsrc, "rocdl.raw.ptr.buffer.load": _buffer_load,
    "rocdl.readfirstlane": _readfirstlane, "rocdl.cvt.pk.fp8.f32": _cvt_pk_fp8,
    "rocdl.exp2": _exp2,
}
HANDLERS.update({name: _mfma for name in MFMA})
