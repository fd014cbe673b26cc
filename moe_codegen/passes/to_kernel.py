"""moe-to-kernel: outline each planned `moe.gemm` into a gpu.module kernel.

The kernel is written at lane level in upstream dialects (arith, scf, gpu,
llvm, vector) plus a few mid-level `moe.*` ops that later passes expand:

  moe.load          global load at base + per-lane offset + wave-uniform offset,
                    with a validity bit (invalid lanes read zero)
  moe.uniform       the value is the same in every lane of the wave
  moe.unpack_int4   one 32-bit word of 8 int4 codes -> one MMA operand   (moe-unpack-int4)
  moe.cvt_fp8_f16   8 fp8 activations -> 8 f16 (an f16 MMA fed fp8 data)  (target lowering)
  moe.group_mma     running += (MMA chain over one K group from zero) * s (moe-group-accumulate)
  moe.mma           one wave-level MMA                                  (target lowering)
  moe.wgmma         issue a warpgroup MMA chain (tokens from shared memory); moe.wgmma_wait: its result
  moe.epilogue      activation, scales, routed weight, store or atomic  (moe-epilogue)

Mapping: grid.x walks tile_m blocks of the sorted rows, grid.y walks tile_n
columns of the output (with `raster` the two are swapped and the blocks walked in
groups of token tiles; with `split_k` grid.z splits K); each wave owns tile_n/waves columns, in blocks of the
prepared weight layout.  Which rows, K bytes and columns a lane holds is the
atom's layout (moe_codegen/layouts.py); every lane ends with pairs of
adjacent output columns, the unit of a packed 16-bit store or atomic.
Sentinel rows load zero activations (the warpgroup kernels' staged tiles) or, in the per-warp K loop,
activation row 0, whose data reaches only the sentinel's own outputs; they store nothing.
"""
from __future__ import annotations

from ..act_staging import ActStaging
from ..emitter import Emitter
from ..errors import MoeCodegenError
from ..mlir import ir, walk_ops
from ..ops import OPERAND_NAMES, kernel_name, reduce_spec_from_op, spec_from_op
from ..spec import ACT_BYTES, DTYPES, OUT_BYTES
from ..rewrite import loc_text
from ..layouts import LAYOUTS
from ..smem_operands import TokenTiles, WeightTiles
from ..targets import geometry_of, get_target
from ..weight_layout import unpack_scheme
from ..tma import TmaWeightTiles
from .plan import partial_sum_bytes
from .registry import DiagnosedError, register

PTR = "!llvm.ptr<1>"
TOKEN_MASK = 0xFFFFFF
F32X2 = "vector<2xf32>"
SCALE_CHUNKS = 4   # column chunks of the tokens-as-M epilogue with per-row weight scales


def _plan(op):
    try:
        plan = {k: ir.IntegerAttr(op.attributes[k]).value for k in ("tile_m", "tile_n", "tile_k", "waves")}
        for k in ("prefetch", "stages", "wgmma", "raster", "split_k", "k_waves", "trim_m", "tma", "multicast",
                  "bulk_out", "tokens_m"):
            plan[k] = ir.IntegerAttr(op.attributes[k]).value if k in op.attributes else 0
        return plan
    except KeyError:
        raise DiagnosedError("'moe.gemm' has no plan: run moe-plan before moe-to-kernel", op) from None


# int4 unpack schemes whose operand is a power-of-two multiple of the code (folded into the row scale)
UNPACK_FACTOR = {"i8x16": 16}


def _grouped_order(e, bx, by, group: int, cols: int, tm: int, nvalid):
    """(token tile, column tile, in range) of a grouped-order block.  The launch grid is (column tiles,
    token tiles), so the launch order is lin = bx + by * cols; it is walked in groups of `group` token
    tiles, the token tile changing fastest inside a group, then the column tile.  The blocks resident at
    one time then share a few token tiles and their experts' weight tiles (each read from DRAM about
    once) instead of streaming every token tile once per column tile.  Groups are cut at the last
    valid token tile (num_valid), so the last one may be narrower; a block past it is out of range."""
    lin = e.add(e.mulc(by, cols), bx)
    n_tiles = e.op(f"arith.divui {e.addc(nvalid, tm - 1)}, {e.c(tm)} : i32")
    width = group * cols
    first = e.mulc(e.op(f"arith.divui {lin}, {e.c(width)} : i32"), group)
    left = e.op(f"arith.minsi {e.op(f'arith.subi {n_tiles}, {first} : i32')}, {e.c(group)} : i32")
    size = e.op(f"arith.maxsi {left}, {e.c(1)} : i32")
    r = e.op(f"arith.remui {lin}, {e.c(width)} : i32")
    col = e.op(f"arith.divui {r}, {size} : i32")
    return e.add(first, e.op(f"arith.remui {r}, {size} : i32")), col, e.op(f"arith.cmpi ult, {col}, {e.c(cols)} : i32")


def emit_kernel(spec, plan, module_name: str = "moe_kernels", loc: str | None = None) -> str:
    target = get_target(spec.target)
    info = DTYPES[spec.dtype]
    wgmma = plan.get("wgmma", 0)
    atom = target.wgmma[spec.dtype] if wgmma else target.mma[spec.dtype]
    ss = bool(wgmma) and atom.smem_a   # both MMA operands from shared memory (weights used as stored)
    lay = LAYOUTS[atom.layout](atom)
    geo = geometry_of(target, spec.dtype)
    tm, tn, tk, waves = plan["tile_m"], plan["tile_n"], plan["tile_k"], plan["waves"]
    prefetch = plan.get("prefetch", 0)
    stages = plan.get("stages", 0)
    raster = plan.get("raster", 0)
    split = plan.get("split_k", 0) or 1
    kw = plan.get("k_waves", 0) or 1
    trim = plan.get("trim_m", 0)
    bulk = plan.get("bulk_out", 0)
    tma = plan.get("tma", 0)
    multicast = plan.get("multicast", 0)
    W = target.wave_size
    K, N, inter, topk = spec.k_dim, spec.n_dim, spec.inter_dim, spec.topk
    m_reps = tm // atom.m
    wave_n = tn // waves
    blocks = wave_n // lay.block_cols
    G = spec.group_size
    grouped = G > 0
    gu_count = 2 if spec.stage == 1 else 1
    kc = geo.k_chunk
    n_mma = 32 // atom.k                # MMAs per K32 step
    esize = ACT_BYTES[info.act]
    a_load_t = lay.data_type(8 * esize)  # a lane's 8 activations of one row and step, as stored
    b_data_t = lay.data_type(8 * ACT_BYTES[atom.elem])   # 8 k of a step in the MMA's element type
    int4 = info.weight == "int4"
    convert_a = info.act != atom.elem    # fp8 activations on an f16 MMA (sm_90 W4A_FP8)
    convert_b = not int4 and info.weight != atom.elem   # fp8 weights on an f16 MMA
    for side, elem in (("activations", info.act if convert_a else None), ("weights", info.weight if convert_b else None)):
        if elem is not None and (elem, atom.elem) != ("fp8", "f16"):
            raise MoeCodegenError(f"no conversion of {elem} {side} to the {atom.elem} MMA of {atom.name}")
    step_words = geo.step_bytes // 4    # 32-bit words of a lane's stored weight data per K32 step
    piece_words = geo.piece_bytes // 4
    piece_t = f"vector<{piece_words}xi32>"
    slab = W * geo.piece_bytes          # bytes of one piece of one MMA tile: every lane's load
    block_bytes = slab * geo.pieces * geo.tiles_per_block
    acc_t = atom.c_type                 # MMA chain accumulator (i32 for the i8 atoms)
    run_t = "vector<4xf32>" if grouped else acc_t   # running sum: f32 once group scales apply
    if wgmma:   # one accumulator per weight-column tile holds every token of the tile
        run_t = f"vector<{m_reps * 4}xf32>"
    swap = bool(plan.get("tokens_m", 0))   # the tokens as the warpgroup MMA's M side (moe-plan checked the tile)
    if swap:   # one accumulator per warpgroup: its 64 tokens x every weight row of the tile
        run_t = f"vector<{tn * gu_count // 2}xf32>"
    row_factor = 1.0 / UNPACK_FACTOR.get(geo.scheme, 1)

    e = Emitter()
    i32 = "i32"

    def load(base, off, valid, type_, uniform_off=None):
        soff = uniform_off if uniform_off is not None else e.c(0)
        return e.generic("moe.load", [base, off, soff, valid], [PTR, i32, i32, "i1"], type_)

    true = e.c("true", "i1")

    def cluster_sync(pair, *ops):
        """The cluster barrier ops, in order, where the block shares its weight boxes with its partner."""
        e.line(f"scf.if {pair} {{")
        for op in ops:
            e.line(f'  "{op}"() : () -> ()')
        e.line("}")

    tid = e.op(f"arith.index_cast {e.op('gpu.thread_id x')} : index to i32")
    bx = e.op(f"arith.index_cast {e.op('gpu.block_id x')} : index to i32")
    by = e.op(f"arith.index_cast {e.op('gpu.block_id y')} : index to i32")
    lane = e.op(f"arith.remui {tid}, {e.c(W)} : i32")
    wave = e.generic("moe.uniform", [e.op(f"arith.divui {tid}, {e.c(W)} : i32")], [i32], i32)
    if kw > 1:   # warps kslice * waves .. sum K slice kslice of the columns of wave (see the K loop)
        kslice = e.op(f"arith.divui {wave}, {e.c(waves)} : i32")
        wave = e.op(f"arith.remui {wave}, {e.c(waves)} : i32")
    parts = lay.lane_parts(e, lane)
    nvalid = e.generic("moe.uniform", [load("%num_valid", e.c(0), true, i32)], [i32], i32)
    pair = rank = None
    if multicast:   # clusters of two blocks along y: rank by % 2, the pair's token tiles 2p, 2p + 1 (one
        # column tile), walked in grouped order as tiles of 2 * tm rows
        rank = e.op(f"arith.remui {by}, {e.c(multicast)} : i32")
        p_, by, in_range = _grouped_order(e, bx, e.op(f"arith.divui {by}, {e.c(multicast)} : i32"),
                                          raster // multicast, spec.out_n // tn, multicast * tm, nvalid)
        pair_t0 = e.mulc(p_, multicast)
        bx = e.add(pair_t0, rank)
        # a pair shares its weight boxes where both tiles hold rows of one expert (both blocks compute the
        # same answer: the cluster barriers that follow are taken by both or by neither)
        t1 = e.addc(pair_t0, 1)
        both = e.op(f"arith.andi {in_range}, {e.op(f'arith.cmpi slt, {e.mulc(t1, tm)}, {nvalid} : i32')} : i1")
        ids = [e.generic("moe.uniform", [load("%expert_ids", e.mulc(t, 4), both, i32)], [i32], i32)
               for t in (pair_t0, t1)]
        same = e.op(f"arith.cmpi eq, {ids[0]}, {ids[1]} : i32")
        has = e.op(f"arith.cmpi sge, {ids[0]}, {e.c(0)} : i32")
        pair = e.op(f"arith.andi {both}, {e.op(f'arith.andi {same}, {has} : i1')} : i1")
    elif raster:   # launched as (column tiles, token tiles)
        bx, by, in_range = _grouped_order(e, bx, by, raster, spec.out_n // tn, tm, nvalid)
    row0 = e.mulc(bx, tm)
    active = e.op(f"arith.cmpi slt, {row0}, {nvalid} : i32")
    if raster:
        active = e.op(f"arith.andi {active}, {in_range} : i1")
    e.line(f"scf.if {active} {{")
    e.depth += 1
    eid = e.generic("moe.uniform", [load("%expert_ids", e.mulc(bx, 4), true, i32)], [i32], i32)
    has_expert = e.op(f"arith.cmpi sge, {eid}, {e.c(0)} : i32")
    e.line(f"scf.if {has_expert} {{")
    e.depth += 1

    # per-expert bases (64-bit: all experts' weights exceed 2^32 bytes)
    e64 = e.op(f"arith.extsi {eid} : i32 to i64")
    w_e = e.op(f"llvm.getelementptr %w[{e.mulc(e64, N * K * geo.bits // 8, 'i64')}] : ({PTR}, i64) -> {PTR}, i8")
    sw_bytes = (K // G) * N * 2 if grouped else N * 4
    sw_e = e.op(f"llvm.getelementptr %sw[{e.mulc(e64, sw_bytes, 'i64')}] : ({PTR}, i64) -> {PTR}, i8")
    n0 = e.add(e.mulc(by, tn), e.mulc(wave, wave_n))
    pair_col = lay.pair_col(e, parts)

    def slot_major(tok, slot):
        """int8smooth's stage-1 row of (token, slot): slot * tokens + token."""
        return e.add(e.op(f"arith.muli {slot}, %tokens : i32"), tok)

    col_scaled = info.weight_scaled and not grouped   # a scale per weight row, applied after the K loop

    def row_info(row):
        v = load("%sorted_ids", e.mulc(row, 4), true, i32)
        tok = e.op(f"arith.andi {v}, {e.c(TOKEN_MASK)} : i32")
        slot = e.op(f"arith.shrui {v}, {e.c(24)} : i32")
        valid = e.op(f"arith.cmpi ult, {tok}, %tokens : i32")
        return tok, slot, valid

    def act_row(r_in_tile):
        """The activation row (of x) of a tile row, and whether the tile row is a real one."""
        tok, slot, valid = row_info(e.add(row0, r_in_tile))
        if spec.stage == 2:
            arow = e.add(e.mulc(tok, topk), slot)
        elif info.slot_major:
            arow = slot_major(tok, slot)
        else:
            arow = tok
        return arow, valid

    def act_start(r_in_tile):
        arow, valid = act_row(r_in_tile)
        return e.mulc(e.mulc(arow, K), esize), valid

    # activation rows of each lane for the A operand, per m tile and row slot (byte offsets)
    a_koff = lay.a_k_offset(e, parts)
    a_rows = []
    if not wgmma:
        for m in range(m_reps):
            slots = []
            for r_in_tile in lay.a_rows(e, parts):
                # a row without a token reads row 0: its data reaches only that row's own outputs, which
                # the epilogue never writes, so the K loop's loads need no validity select
                arow, valid = act_row(e.addc(r_in_tile, m * atom.m))
                arow = e.op(f"arith.select {valid}, {arow}, {e.c(0)} : i32")
                slots.append((e.mulc(e.add(e.mulc(arow, K), a_koff), esize), true))
            a_rows.append(slots)

    # MMA tiles of this wave: (column block, gate/up, tile r) -> weight load offset and columns
    subs = []
    for b in range(blocks):
        for gu in range(gu_count):
            nrow = e.addc(n0, lay.block_cols * b + gu * inter)     # first weight row of the block
            nb = e.op(f"arith.divui {nrow}, {e.c(lay.block_cols)} : i32")
            scol = e.add(nrow, pair_col)                          # weight rows of this lane's column pair
            for r in range(lay.tiles_per_block):
                base = e.addc(e.add(e.mulc(nb, (K // kc) * block_bytes), e.mulc(lane, geo.piece_bytes)),
                              r * slab * geo.pieces)
                subs.append(dict(b=b, gu=gu, r=r, base=base, scol=scol))

    def acc_index(m, b, gu, r):
        return m * len(subs) + (b * gu_count + gu) * lay.tiles_per_block + r

    def load_tile(k0):
        """Weight pieces of the K tile starting at k0: [chunk][sub][piece]."""
        kb = e.op(f"arith.divui {k0}, {e.c(kc)} : i32")
        return [[[load(w_e, e.addc(s["base"], p * slab), true, piece_t, e.mulc(e.addc(kb, kk), block_bytes))
                  for p in range(geo.pieces)] for s in subs] for kk in range(tk // kc)]

    keys = list(dict.fromkeys((s_["b"], s_["gu"]) for s_ in subs))   # column blocks: one scale pair each
    n_groups = tk // G if grouped else 0

    def load_a(k0):
        """Activations of the K tile at k0, as stored: [chunk][step][m tile][row slot]."""
        return [[[[load("%x", aoff, valid, a_load_t, e.mulc(e.addc(k0, kk * kc + h * 32), esize))
                   for aoff, valid in a_rows[m]] for m in range(m_reps)] for h in range(geo.steps)]
                for kk in range(tk // kc)]

    def load_scales(k0):
        """Group scales (bf16 pairs of the lane's two columns) of the K tile at k0: [group][key]."""
        g0 = e.op(f"arith.divui {k0}, {e.c(G)} : i32") if grouped else None
        return [[load(sw_e, e.mulc(next(s_["scol"] for s_ in subs if (s_["b"], s_["gu"]) == key), 2), true,
                      "vector<2xbf16>", e.mulc(e.addc(g0, g), 2 * N)) for key in keys] for g in range(n_groups)]

    def flat(x):
        """Nested lists of values -> one list (the order loop-carried values travel in)."""
        return [v for item in x for v in flat(item)] if isinstance(x, list) else [x]

    def unflat(values, shape):
        it = iter(values)

        def build(dims):
            return [build(dims[1:]) if len(dims) > 1 else next(it) for _ in range(dims[0])]
        return build(shape) if shape[0] else []

    w_shape = (tk // kc, len(subs), geo.pieces)            # load_tile's nesting
    s_shape = (n_groups, len(keys))                         # load_scales'
    n_w = w_shape[0] * w_shape[1] * w_shape[2]

    # staged weights: a ring of `stages` K tiles in shared memory, each lane copying (cp.async) and
    # later reading its own 16-byte pieces, so no barrier is needed; slot layout [stage][wave][piece][lane]
    n_pieces = (tk // kc) * len(subs) * geo.pieces
    slot_bytes = waves * n_pieces * W * geo.piece_bytes
    staging = None
    if ss:   # a ring of K tiles of weights and tokens, filled by cp.async (weights: TMA where planned), read
        # by the MMAs only
        smem = e.op("llvm.mlir.addressof @moe_smem : !llvm.ptr<3>")
        wsize = ACT_BYTES[info.weight]
        if tma:
            first = e.op(f"arith.cmpi eq, {tid}, {e.c(0)} : i32")   # the thread that issues the bulk copies
            wtiles = TmaWeightTiles(e, smem, wmap="%w_map", tile_n=tn, tile_k=tk, waves=waves, gate_up=gu_count,
                                    inter=inter, n_rows=N, eid=eid, n0=e.mulc(by, tn), esize=wsize, stages=stages,
                                    bar_base=stages * (tn * gu_count * wsize + tm * esize) * tk)
            e.line(f"scf.if {first} {{")
            e.depth += 1
            # (a sharing pair's slots also have a free barrier: one arrival per warp of both blocks)
            wtiles.init_barriers(stages, sharers=2 * waves if multicast else 0)
            e.depth -= 1
            e.line("}")
            e.line("gpu.barrier")   # the barriers are initialised before anyone waits on them
            if pair is not None:   # ... and before the partner's copies complete on them
                cluster_sync(pair, "moe.cluster_arrive", "moe.cluster_wait")
        else:
            wtiles = WeightTiles(e, smem, geo=geo, tile_n=tn, tile_k=tk, waves=waves, gate_up=gu_count, inter=inter,
                                 K=K, n0=e.mulc(by, tn), tid=tid, threads=W * waves, esize=wsize, stages=stages)
        ttiles = TokenTiles(e, smem, tile_m=tm, tile_k=tk, tid=tid, threads=W * waves, row_start=act_start,
                            esize=esize, stages=stages, smem_base=wtiles.bytes, steps_per_piece=geo.steps_per_piece)
        last = e.c(K - tk)

        def issuing(live, sharing: bool):
            """The condition of this block's weight copies: the issuing thread, a real K tile, and (in a
            kernel of sharing pairs) whether the block shares them."""
            cond = first if live is True else e.op(f"arith.andi {first}, {live} : i1")
            if pair is not None:
                mode = pair if sharing else e.op(f"arith.xori {pair}, {true} : i1")
                cond = e.op(f"arith.andi {cond}, {mode} : i1")
            return cond

        def issue_ss(k0, slot, live):
            """live: whether k0 is a real K tile (else clamped to the last one: the tokens' copies keep
            the cp.async group count, the weights' bulk copies are left out, so none is in flight when
            the block ends).  A sharing pair's weights: issue_shared."""
            if not tma:
                wtiles.issue(w_e, k0, slot)
            elif live is not False:
                e.line(f"scf.if {issuing(live, False)} {{")
                e.depth += 1
                wtiles.issue(k0, slot)
                e.depth -= 1
                e.line("}")
            ttiles.issue(k0, slot)
            e.line('"moe.async_commit"() : () -> ()')

        def issue_shared(k0, slot, live, tile):
            """A sharing pair's half of K tile number `tile` (i32) into both blocks' slot `slot`, once every
            warp of both has released the slot's previous fill (a first fill waits for nothing)."""
            if live is False:
                return
            e.line(f"scf.if {issuing(live, True)} {{")
            e.depth += 1
            fill = e.op(f"arith.divui {tile}, {e.c(stages)} : i32")
            wtiles.wait_free(slot, stages, e.op(f"arith.remui {e.addc(fill, 1)}, {e.c(2)} : i32"))
            wtiles.issue(k0, slot, rank)
            e.depth -= 1
            e.line("}")

        # prologue: stages - 2 tiles ahead (a slot is refilled two iterations after its MMAs were
        # issued: the wait of the iteration between has seen them finish)
        for st in range(stages - 2):
            k0 = e.op(f"arith.minsi {e.c(st * tk)}, {last} : i32")
            issue_ss(k0, e.c(st), st * tk < K)
            if pair is not None:
                issue_shared(k0, e.c(st), st * tk < K, e.c(st))
        if swap and col_scaled:   # the tile's weight-row scales (gate rows, then up), once, into shared memory
            # after the ring's barriers, read by the epilogue (the K loop's barriers come between): loaded
            # into registers there, beside the running sums, they spilled at 384 threads (168 registers)
            scale_at = wtiles.bytes + ttiles.bytes + TmaWeightTiles.barrier_bytes(stages, bool(multicast))
            n_srows = tn * gu_count
            for s0 in range(0, n_srows, W * waves):
                r = e.addc(tid, s0)
                partial = s0 + W * waves > n_srows
                if partial:
                    e.line(f"scf.if {e.op(f'arith.cmpi ult, {r}, {e.c(n_srows)} : i32')} {{")
                    e.depth += 1
                gu_r, c_r = e.op(f"arith.divui {r}, {e.c(tn)} : i32"), e.op(f"arith.remui {r}, {e.c(tn)} : i32")
                wrow = e.add(e.add(e.mulc(by, tn), c_r), e.mulc(gu_r, inter))
                sv = load(sw_e, e.mulc(wrow, 4), true, "f32")
                ptr = e.op(f"llvm.getelementptr {smem}[{e.addc(e.mulc(r, 4), scale_at)}] "
                           f": (!llvm.ptr<3>, i32) -> !llvm.ptr<3>, i8")
                e.line(f"llvm.store {sv}, {ptr} : f32, !llvm.ptr<3>")
                if partial:
                    e.depth -= 1
                    e.line("}")
    elif wgmma:   # the tile's tokens go through shared memory, once for every warp of the block
        if convert_a:
            raise MoeCodegenError(f"{atom.name}: the warpgroup kernel stages its {info.act} activations as stored")
        staging = ActStaging(e, tile_m=tm, tile_k=tk, threads=W * waves, tid=tid, row_start=act_start,
                             esize=esize, load=load, stages=stages, smem_base=stages * slot_bytes)
    if stages and not ss:
        smem = e.op("llvm.mlir.addressof @moe_smem : !llvm.ptr<3>")
        lane_smem = e.add(e.mulc(wave, n_pieces * W * geo.piece_bytes), e.mulc(lane, geo.piece_bytes))

        def piece_offsets():
            for kk in range(tk // kc):
                for s_ in subs:
                    for p in range(geo.pieces):
                        yield kk, s_, p

        def issue_tile(k0, slot):
            """Asynchronous copies of the K tile at k0 into ring slot `slot` (weights, and the
            activations of a wgmma kernel), then one commit."""
            if staging:
                staging.issue_async(k0, slot)
            kb = e.op(f"arith.divui {k0}, {e.c(kc)} : i32")
            base = e.add(e.mulc(slot, slot_bytes), lane_smem)
            for j, (kk, s_, p) in enumerate(piece_offsets()):
                e.line(f'"moe.async_copy"({smem}, {e.addc(base, j * W * geo.piece_bytes)}, {w_e}, '
                       f'{e.addc(s_["base"], p * slab)}, {e.mulc(e.addc(kb, kk), block_bytes)}) '
                       f': (!llvm.ptr<3>, i32, {PTR}, i32, i32) -> ()')
            e.line('"moe.async_commit"() : () -> ()')

        def read_tile(slot):
            base = e.add(e.mulc(slot, slot_bytes), lane_smem)
            vals = []
            for j in range(n_pieces):
                ptr = e.op(f"llvm.getelementptr {smem}[{e.addc(base, j * W * geo.piece_bytes)}] "
                           f": (!llvm.ptr<3>, i32) -> !llvm.ptr<3>, i8")
                vals.append(e.op(f"llvm.load {ptr} {{alignment = 16 : i64}} : !llvm.ptr<3> -> {piece_t}"))
            return unflat(vals, w_shape)

        last = e.c(K - tk)
        for st in range(stages - 1):   # prologue: the first stages - 1 tiles (clamped: K may hold fewer)
            issue_tile(e.op(f"arith.minsi {e.c(st * tk)}, {last} : i32"), e.c(st))

    if staging and not stages:   # the first K tile into slot 0
        staging.store(staging.issue(e.c(0)), e.c(0))
    # trim_m: the K loop and epilogue are emitted once per count of live MMA token tiles (m tiles up to the
    # tile's last real row), and the block runs the one its rows need: an expert with rows for one m tile
    # of two (half the experts at 64 tokens over 64) skips the other's MMAs and activation loads
    def acc_count(m):   # running sums of a block with m live token tiles (a wgmma one holds every token)
        return 1 if swap else len(subs) if wgmma else m * len(subs)
    full_m = m_reps
    red_bytes = partial_sum_bytes(kw, waves, W, acc_count(full_m) * 4)   # (running sums of 4 elements)
    m_counts = list(range(full_m, 0, -1)) if trim else [full_m]
    if trim:
        m_live = e.c(1)
        for m in range(1, full_m):
            rows_live = [row_info(e.addc(row0, m * atom.m + r))[2] for r in range(atom.m)]
            any_live = rows_live[0]
            for v in rows_live[1:]:
                any_live = e.op(f"arith.ori {any_live}, {v} : i1")
            m_live = e.op(f"arith.select {any_live}, {e.c(m + 1)}, {m_live} : i32")
        m_live = e.generic("moe.uniform", [m_live], [i32], i32)
    for m_reps in m_counts:
        if m_reps != m_counts[-1]:
            e.line(f"scf.if {e.op(f'arith.cmpi sge, {m_live}, {e.c(m_reps)} : i32')} {{")
            e.depth += 1
        a_shape = (tk // kc, geo.steps, m_reps, len(a_rows[0]) if a_rows else 0)  # load_a's
        n_a = a_shape[0] * a_shape[1] * a_shape[2] * a_shape[3]
        zero = e.op(f"arith.constant dense<{'0' if run_t.endswith('i32>') else '0.0'}> : {run_t}")
        n_acc = acc_count(m_reps)
        types = [run_t] * n_acc
        iters = [f"%run{i} = {zero}" for i in range(n_acc)]
        # split_k: block z sums K range [z, z + 1) * K / split (stage 2 adds its partial sums into the output)
        # k_waves: the block's warps split K too; slice z * k_waves + kslice of split * k_waves
        k_len = K // (split * kw)
        if split * kw > 1:
            z = e.op(f"arith.index_cast {e.op('gpu.block_id z')} : index to i32") if split > 1 else None
            k_slice = kslice if z is None else e.add(e.mulc(z, kw), kslice) if kw > 1 else z
            k_begin = e.mulc(k_slice, k_len)
            k_last = e.addc(k_begin, k_len - tk)   # the split's last K tile
        else:
            k_begin, k_last = e.c(0), e.c(K - tk)
        # the loads a tile ahead (prefetch 1: all; 2: the weights, the DRAM stream; 3: the activations, L1 /
        # L2 hits whose latency the loop would otherwise wait for), in the order they travel
        carry = dict(w=prefetch in (1, 2), a=prefetch in (1, 3) and not wgmma, s=prefetch == 1)
        loaders = dict(w=load_tile, a=load_a, s=load_scales)
        shapes = dict(w=w_shape, a=a_shape, s=s_shape)
        counts = dict(w=n_w, a=n_a, s=s_shape[0] * s_shape[1])
        value_t = dict(w=piece_t, a=a_load_t, s="vector<2xbf16>")

        def ahead_loads(k0):
            return flat([loaders[c](k0) for c in "was" if carry[c]])
        if prefetch and not ss:   # software pipeline: the loop carries those loads, issued one tile ahead
            first = ahead_loads(k_begin)
            e.line('"moe.issue_loads"() : () -> ()')   # ... here, not at their use in the loop
            types += [value_t[c] for c in "was" if carry[c] for _ in range(counts[c])]
            iters += [f"%pf{j} = {v}" for j, v in enumerate(first)]
        # a split's loop counts from 0 (bounds uniform over the grid) and offsets its K by k_begin
        kt = "%kt" if split * kw == 1 else "%kt_split"
        results = e.multi(f"scf.for {kt} = {e.c(0)} to {e.c(k_len)} step {e.c(tk)} "
                          f"iter_args({', '.join(iters)}) -> ({', '.join(types)}) : i32 {{", len(types), "acc")
        e.depth += 1
        if split * kw > 1:
            kt = e.add(kt, k_begin)
        running = [f"%run{i}" for i in range(n_acc)]
        if ss:   # wait for this tile, publish it, refill the slot of two tiles ago, issue this tile's MMAs
            i = e.op(f"arith.divui {kt}, {e.c(tk)} : i32")
            e.line(f'"moe.async_wait"() {{pending = {stages - 3} : i64}} : () -> ()')
            e.line('"moe.async_proxy_fence"() : () -> ()')
            e.line("gpu.barrier")
            ahead = e.addc(kt, (stages - 2) * tk)
            ahead_k = e.op(f"arith.minsi {ahead}, {last} : i32")
            ahead_slot = e.op(f"arith.remui {e.addc(i, stages - 2)}, {e.c(stages)} : i32")
            ahead_live = e.op(f"arith.cmpi slt, {ahead}, {e.c(K)} : i32") if tma else None
            issue_ss(ahead_k, ahead_slot, ahead_live)
            slot = e.op(f"arith.remui {i}, {e.c(stages)} : i32")
            if tma:   # this tile's weights: fill number i / stages of its slot
                wtiles.wait(slot, e.op(f"arith.remui {e.op(f'arith.divui {i}, {e.c(stages)} : i32')}, {e.c(2)} : i32"))
            n_k = tk // atom.k                  # MMAs per column tile and K tile
            kch = atom.k * ACT_BYTES[atom.elem] // 16   # 16-byte K chunks per MMA
            tdesc = [ttiles.desc(slot, j * kch) for j in range(n_k)]
            issued = []
            wg = e.op(f"arith.divui {wave}, {e.c(4)} : i32")   # this warpgroup
            if swap:   # the operands' roles exchanged: the weights' rows are the N side, the group's tokens M
                tdesc = [ttiles.desc(slot, j * kch, row=e.mulc(wg, 64)) for j in range(n_k)]
                wdesc = [wtiles.desc(slot, j * kch, row=e.c(0)) for j in range(n_k)]
                issued.append(e.generic("moe.wgmma", wdesc + tdesc + [running[0]],
                    ["i64"] * (2 * n_k) + [run_t], run_t, f'atom = "{atom.name}", steps = {n_k} : i64'))
            for si in range(0 if swap else len(subs)):
                wdesc = [wtiles.desc(slot, j * kch, row=wtiles.slab_row(wg, si, len(subs))) for j in range(n_k)]
                issued.append(e.generic("moe.wgmma", tdesc + wdesc + [running[si]],
                    ["i64"] * (2 * n_k) + [run_t], run_t, f'atom = "{atom.name}", steps = {n_k} : i64'))
            if pair is not None:   # a sharing pair's refill, behind this tile's MMAs (it may wait for the partner)
                issue_shared(ahead_k, ahead_slot, ahead_live, e.addc(i, stages - 2))
            # the MMAs of this K tile stay in flight; the previous tile's are finished
            running = [e.generic("moe.wgmma_wait", [v], [run_t], run_t, f"pending = {len(issued)} : i64") for v in issued]
            if pair is not None:   # this warp is done with the slot of the previous tile (none before tile 0)
                lane0 = e.op(f"arith.cmpi eq, {lane}, {e.c(0)} : i32")
                past0 = e.op(f"arith.cmpi ugt, {i}, {e.c(0)} : i32")
                releasing = e.op(f"arith.andi {lane0}, {past0} : i1")
                e.line(f"scf.if {e.op(f'arith.andi {releasing}, {pair} : i1')} {{")
                e.depth += 1
                wtiles.release(e.op(f"arith.remui {e.addc(i, stages - 1)}, {e.c(stages)} : i32"), stages)
                e.depth -= 1
                e.line("}")
            carried = []
        else:
            steps_a = [[] for _ in range(m_reps)]  # per m tile: A operand of each MMA, K32 steps in order
            steps_b = [[] for _ in subs]
            if prefetch:   # the last iteration reloads its own tile rather than read past the expert
                nxt = e.op(f"arith.minsi {e.addc(kt, tk)}, {k_last} : i32")
                pf = iter(f"%pf{j}" for j in range(len(types) - n_acc))
                # this tile's loads that were not issued a tile ahead come first (the weights: the longest wait)
                tile, a_tile, s_tile = (unflat([next(pf) for _ in range(counts[c])], shapes[c]) if carry[c]
                                        else None if c == "a" and wgmma else loaders[c](kt) for c in "was")
                carried = ahead_loads(nxt)
                e.line('"moe.issue_loads"() : () -> ()')
            elif stages:   # copy the tile stages - 1 ahead into the slot read last iteration, wait for this one
                i = e.op(f"arith.divui {kt}, {e.c(tk)} : i32")
                ahead = e.op(f"arith.minsi {e.addc(kt, (stages - 1) * tk)}, {last} : i32")
                issue_tile(ahead, e.op(f"arith.remui {e.addc(i, stages - 1)}, {e.c(stages)} : i32"))
                e.line(f'"moe.async_wait"() {{pending = {stages - 1} : i64}} : () -> ()')
                ring = e.op(f"arith.remui {i}, {e.c(stages)} : i32")
                tile, carried = read_tile(ring), []
                a_tile, s_tile = None if wgmma else load_a(kt), load_scales(kt)
                if wgmma:   # this tile's activations from the ring into the MMA slot (the barrier is inside)
                    slot = e.op(f"arith.remui {i}, {e.c(2)} : i32")
                    staging.permute(ring, slot)
            else:
                tile, carried = load_tile(kt), []
                a_tile, s_tile = None if wgmma else load_a(kt), load_scales(kt)
            if wgmma and not stages:   # the next K tile's activations: loaded now, stored to the other slot after the MMAs
                slot = e.op(f"arith.remui {e.op(f'arith.divui {kt}, {e.c(tk)} : i32')}, {e.c(2)} : i32")
                staged_next = staging.issue(e.op(f"arith.minsi {e.addc(kt, tk)}, {e.c(K - tk)} : i32"))
            step_t = f"vector<{step_words}xi32>"

            def step_weights(piece, w0):
                """The lane's weight data of one K32 step (words w0 * step_words .. of a piece) as the MMA's
                element type: unpacked (int4, one word per weight column of the lane), converted (fp8 on an
                f16 MMA), or as stored."""
                if step_words == piece_words and not (int4 or convert_b):   # the piece is this step's data
                    return piece if b_data_t == piece_t else e.op(f"llvm.bitcast {piece} : {piece_t} to {b_data_t}")
                ws = [e.op(f"vector.extract {piece}[{w0 * step_words + j}] : i32 from {piece_t}") for j in range(step_words)]
                if int4:
                    cols = [e.generic("moe.unpack_int4", [w_], [i32], b_data_t,
                                      f'to = "{atom.elem}", scheme = "{unpack_scheme(geo.scheme, atom.elem)}"')
                            for w_ in ws]
                    return cols[0] if len(cols) == 1 else cols
                vec = e.op(f"vector.from_elements {', '.join(ws)} : {step_t}")
                if convert_b:
                    return e.generic("moe.cvt_fp8_f16", [vec], [step_t], b_data_t)
                return vec if b_data_t == step_t else e.op(f"llvm.bitcast {vec} : {step_t} to {b_data_t}")

            for kk in range(tk // kc):
                pieces = tile[kk]
                for h in range(geo.steps):
                    if wgmma:
                        steps_a[0] += staging.descriptors(slot, kk * geo.steps + h)
                    for m in range(m_reps if not wgmma else 0):
                        loads = a_tile[kk][h][m]
                        if convert_a:   # once per row and step, shared by every weight column of the tile
                            loads = [e.generic("moe.cvt_fp8_f16", [v], [a_load_t], b_data_t) for v in loads]
                        steps_a[m] += lay.a_operands(e, loads, n_mma)
                    p, w0 = divmod(h, geo.steps_per_piece)
                    for si, sub_pieces in enumerate(pieces):
                        steps_b[si] += lay.b_operands(e, step_weights(sub_pieces[p], w0), n_mma)
            n_steps = tk // 32 * n_mma
            if grouped:
                gsteps = G // 32 * n_mma
                for j0 in range(0, n_steps, gsteps):
                    pairs = {}
                    for si, s in enumerate(subs):
                        key = (s["b"], s["gu"])
                        if key not in pairs:
                            raw = s_tile[j0 // gsteps][keys.index(key)]
                            pairs[key] = e.op(f"arith.extf {raw} : vector<2xbf16> to {F32X2}")
                        svec = lay.scale_vec(e, pairs[key], s["r"], "vector<4xf32>")
                        if wgmma:   # the same 4-element pattern for every 8 tokens
                            x4 = [e.op(f"vector.extract {svec}[{i}] : f32 from vector<4xf32>") for i in range(4)]
                            svec = e.op(f"vector.from_elements {', '.join(x4 * m_reps)} : {run_t}")
                        for m in range(1 if wgmma else m_reps):
                            idx = acc_index(m, s["b"], s["gu"], s["r"])
                            running[idx] = e.generic(
                                "moe.group_mma", steps_a[m][j0:j0 + gsteps] + steps_b[si][j0:j0 + gsteps] + [running[idx], svec],
                                [atom.a_type] * gsteps + [atom.b_type] * gsteps + [run_t, run_t], run_t,
                                f'atom = "{atom.name}", steps = {gsteps} : i64')
            elif wgmma:   # per-row scales: one MMA chain per K tile onto the running sum
                for si in range(len(subs)):
                    issued = e.generic("moe.wgmma", steps_a[0] + steps_b[si] + [running[si]],
                                       [atom.a_type] * n_steps + [atom.b_type] * n_steps + [run_t], run_t,
                                       f'atom = "{atom.name}", steps = {n_steps} : i64')
                    running[si] = e.generic("moe.wgmma_wait", [issued], [run_t], run_t, "pending = 0 : i64")
            else:
                for j in range(n_steps):
                    for si, s in enumerate(subs):
                        for m in range(m_reps):
                            idx = acc_index(m, s["b"], s["gu"], s["r"])
                            running[idx] = e.generic("moe.mma", [steps_a[m][j], steps_b[si][j], running[idx]],
                                                     [atom.a_type, atom.b_type, acc_t], acc_t, f'atom = "{atom.name}"')
            if wgmma and not stages:
                staging.store(staged_next, e.op(f"arith.subi {e.c(1)}, {slot} : i32"))
        e.line(f"scf.yield {', '.join(running + carried)} : {', '.join(types)}")
        e.depth -= 1
        e.line("}")
        accs = list(results[:n_acc])
        if kw > 1:   # the K slices' partial sums meet in shared memory; the first slice's warps write the tile
            smem = e.op("llvm.mlir.addressof @moe_smem : !llvm.ptr<3>")

            def partial(ks, i):   # slot of slice ks > 0, wave, accumulator i, lane: 16 bytes
                off = e.add(e.mulc(e.addc(e.mulc(e.addc(ks, -1), waves * n_acc), i), W * 16), e.mulc(lane, 16))
                off = e.add(off, e.mulc(wave, n_acc * W * 16))
                return e.op(f"llvm.getelementptr {smem}[{off}] : (!llvm.ptr<3>, i32) -> !llvm.ptr<3>, i8")
            e.line(f"scf.if {e.op(f'arith.cmpi ugt, {kslice}, {e.c(0)} : i32')} {{")
            e.depth += 1
            for i, a in enumerate(accs):
                e.line(f"llvm.store {a}, {partial(kslice, i)} {{alignment = 16 : i64}} : {run_t}, !llvm.ptr<3>")
            e.depth -= 1
            e.line("}")
            e.line("gpu.barrier")
            e.line(f"scf.if {e.op(f'arith.cmpi eq, {kslice}, {e.c(0)} : i32')} {{")
            e.depth += 1
            add = "arith.addi" if run_t.endswith("i32>") else "arith.addf"
            for ks in range(1, kw):
                for i in range(n_acc):
                    v = e.op(f"llvm.load {partial(e.c(ks), i)} {{alignment = 16 : i64}} : !llvm.ptr<3> -> {run_t}")
                    accs[i] = e.op(f"{add} {accs[i]}, {v} : {run_t}")
        if pair is not None:   # no block leaves while its partner may still copy or arrive into it
            cluster_sync(pair, "moe.cluster_arrive", "moe.cluster_wait")
        if ss:   # the last tile's MMAs
            accs = [e.generic("moe.wgmma_wait", [v], [run_t], run_t, "pending = 0 : i64") for v in accs]
        f32_t = "vector<4xf32>"
        if wgmma and not swap:   # per 8 tokens, the elements of the per-warp MMA's accumulator: the mma.sync epilogue
            accs = [e.op(f"vector.extract_strided_slice {a} {{offsets = [{4 * m}], sizes = [4], strides = [1]}} "
                         f": {run_t} to {f32_t}") for m in range(m_reps) for a in accs]
        if run_t.endswith("i32>"):   # integer MMA sums (per-row scaling): exact in i32, converted once
            accs = [e.op(f"arith.sitofp {a} : {run_t} to {f32_t}") for a in accs]

        if tma and not swap:   # the weights' rows in natural column order (moe_codegen/tma.py): MMA rows g, g + 8 are columns
            # g, g + 8; a lane swaps one token with the lane of the neighbouring column (g ^ 1: lane ^ 4), so that
            # it holds one token (2t + g % 2) of two column pairs (2 (g // 2) + 0 / 1, and 8 further)
            g = parts["g"]
            odd = e.op(f"arith.cmpi ne, {e.op(f'arith.andi {g}, {e.c(1)} : i32')}, {e.c(0)} : i32")
            cbase = e.mulc(e.op(f"arith.divui {g}, {e.c(2)} : i32"), 2)
            swapped = []
            for a in accs:
                c = [e.op(f"vector.extract {a}[{i}] : f32 from {f32_t}") for i in range(4)]
                got = [e.multi(f"gpu.shuffle xor {e.op(f'arith.select {odd}, {c[lo]}, {c[lo + 1]} : f32')}, {e.c(4)}, "
                               f"{e.c(W)} : f32", 2)[0] for lo in (0, 2)]
                sel = [e.op(f"arith.select {odd}, {x}, {y} : f32") for x, y in
                       ((got[0], c[0]), (c[1], got[0]), (got[1], c[2]), (c[3], got[1]))]
                swapped.append(e.op(f"vector.from_elements {', '.join(sel)} : {f32_t}"))
            accs = swapped
        if col_scaled and not swap:  # per-row weight scale, once, after the K loop
            for s in subs:
                if tma:   # the lane's two column pairs (see above)
                    col0 = e.add(e.addc(TmaWeightTiles.block_col(e, e.mulc(by, tn), wave, s["b"], blocks),
                                        s["gu"] * inter), cbase)
                    pairs = [load(sw_e, e.mulc(e.addc(col0, h), 4), true, F32X2) for h in (0, 8)]
                    x4 = [e.op(f"vector.extract {p_}[{i}] : f32 from {F32X2}") for p_ in pairs for i in range(2)]
                    svec = e.op(f"vector.from_elements {', '.join(x4)} : {f32_t}")
                else:
                    svec = lay.scale_vec(e, load(sw_e, e.mulc(s["scol"], 4), true, F32X2), s["r"], f32_t)
                for m in range(m_reps):
                    idx = acc_index(m, s["b"], s["gu"], s["r"])
                    accs[idx] = e.op(f"arith.mulf {accs[idx]}, {svec} : {f32_t}")

        # every (row, column pair) a lane writes: its row bookkeeping and its values
        with_weight = (spec.stage == 1) == spec.doweight_stage1
        row_ops, values = [], []
        if swap:   # lane (g, t) of warp w4 of group wg: tokens 64 wg + 16 w4 + g (+ 8), weight rows 8 j + 2 t (+ 1)
            col_slots, c_slots = [], []
        elif tma:   # per column pair: its first column, block and elements (one token row per lane, see above)
            col_slots = [(e.add(e.addc(TmaWeightTiles.block_col(e, e.mulc(by, tn), wave, b, blocks), h), cbase), b,
                          ((0, h // 4), (0, h // 4 + 1))) for b in range(blocks) for h in (0, 8)]
            c_slots = [(e.add(e.mulc(parts["t"], 2), e.op(f"arith.extui {odd} : i1 to i32")), None)]
        else:
            col_slots = [(e.add(e.addc(n0, lay.block_cols * b), pair_col), b, None) for b in range(blocks)]
            c_slots = lay.c_rows(e, parts)
        cols = [c for c, _, _ in col_slots]
        if bulk:   # the tile's own columns: a shared-memory row of tn
            cols = [e.op(f"arith.subi {c}, {e.mulc(by, tn)} : i32") for c in cols]

        def row_operands(row, tile_row):
            """(output row offset, valid, activation scale, routing weight) of sorted row `row`; tile_row() gives its
            row in the tile (bulk_out: its row of the staged tile), emitted only where needed."""
            tok, slot, valid = row_info(row)
            ts = e.add(e.mulc(tok, topk), slot)
            if spec.stage == 1:
                sx_row = slot_major(tok, slot) if info.slot_major else tok
            else:
                sx_row = ts
            if bulk:   # the row of the block's tile in shared memory
                out_row = e.mulc(tile_row(), tn)
            elif spec.stage == 1:
                out_row = e.mulc(ts, inter)
            else:
                out_row = e.mulc(ts if spec.mode == "reduce" else tok, spec.model_dim)
            if info.act_scaled:
                sx = load("%sx", e.mulc(sx_row, 4), valid, "f32")
                if row_factor != 1.0:
                    sx = e.op(f"arith.mulf {sx}, {e.c(repr(row_factor), 'f32')} : f32")
            else:   # 16-bit activations carry no scale
                sx = e.c("1.0", "f32")
            weight = load("%sorted_weights", e.mulc(row, 4), valid, "f32") if with_weight else e.c("1.0", "f32")
            return [out_row, valid, sx, weight]

        if swap:
            wg = e.op(f"arith.divui {wave}, {e.c(4)} : i32")
            w4 = e.op(f"arith.remui {wave}, {e.c(4)} : i32")
            t2 = e.mulc(parts["t"], 2)
            r0 = e.add(e.add(e.mulc(wg, 64), e.mulc(w4, 16)), parts["g"])
            n_pairs = tn // 8
            cols = [e.addc(t2, 8 * j) if bulk else e.add(e.mulc(by, tn), e.addc(t2, 8 * j)) for j in range(n_pairs)]

            def swap_values(js, rows=(0, 1)):
                """The lane's values of column pairs js, its rows (r, j, gate / up, pair element order), times
                the weight rows' scales (pair j of half gu; staged in shared memory before the K loop)."""
                scales = {}
                for j in js if col_scaled else ():
                    for gu in range(gu_count):
                        at = e.addc(e.mulc(e.addc(t2, 8 * j + gu * tn), 4), scale_at)
                        ptr = e.op(f"llvm.getelementptr {smem}[{at}] : (!llvm.ptr<3>, i32) -> !llvm.ptr<3>, i8")
                        sv = e.op(f"llvm.load {ptr} {{alignment = 8 : i64}} : !llvm.ptr<3> -> {F32X2}")
                        scales[j, gu] = [e.op(f"vector.extract {sv}[{q}] : f32 from {F32X2}") for q in range(2)]
                out = []
                for r in rows:
                    for j in js:
                        for gu in range(gu_count):
                            for q in range(2):
                                v = e.op(f"vector.extract {accs[0]}[{4 * (j + gu * n_pairs) + 2 * r + q}] : f32 from {run_t}")
                                if col_scaled:
                                    v = e.op(f"arith.mulf {v}, {scales[j, gu][q]} : f32")
                                out.append(v)
                return out
            for r in range(2):
                tile_row = e.addc(r0, 8 * r)
                row_ops += row_operands(e.add(row0, tile_row), lambda t=tile_row: t)
                if not col_scaled:   # (with the scales: by chunks of columns, below)
                    values += swap_values(range(n_pairs), (r,))
        for m in range(0 if swap else m_reps):
            for r_in_tile, elem_pairs in c_slots:
                row_ops += row_operands(e.add(row0, e.addc(r_in_tile, m * atom.m)),
                                        lambda r=r_in_tile, m=m: e.addc(r, m * atom.m))
                for _, b, els in col_slots:
                    for gu in range(gu_count):
                        for t_r, el in els or elem_pairs[0]:
                            acc = accs[acc_index(m, b, gu, t_r)]
                            values.append(e.op(f"vector.extract {acc}[{el}] : f32 from {f32_t}"))
        n_rows = len(row_ops) // 4
        if bulk:   # every warp is past its MMAs and no copy is in flight: the ring's bytes take the tile
            e.line('"moe.async_wait"() {pending = 0 : i64} : () -> ()')
            e.line("gpu.barrier")
        dest = [e.op("llvm.mlir.addressof @moe_smem : !llvm.ptr<3>")] if bulk else ["%out"]
        # tokens as M with per-row weight scales: the tile's columns in chunks, each chunk's scales loaded after
        # the stores of the one before, so they are not all held at once beside the running sums (loaded up
        # front, they spilled at three warpgroups: ptxas issued all 32 loads first)
        step = -(-n_pairs // SCALE_CHUNKS) if swap and col_scaled else 0
        chunks = [range(c, min(c + step, n_pairs)) for c in range(0, n_pairs, step)] if step else [None]
        for chunk in chunks:
            c_cols, c_values = (cols, values) if chunk is None else ([cols[j] for j in chunk], swap_values(chunk))
            operands = dest + row_ops + c_cols + c_values
            types_in = (["!llvm.ptr<3>"] if bulk else [PTR]) + [i32, "i1", "f32", "f32"] * n_rows + \
                [i32] * len(c_cols) + ["f32"] * len(c_values)
            e.line(f'"moe.epilogue"({", ".join(operands)}) {{stage = {spec.stage} : i64, rows = {n_rows} : i64, '
                   f'cols = {len(c_cols)} : i64, gate_up = {gu_count} : i64, '
                   f'out_dtype = "{spec.out_dtype}", mode = "{spec.mode}"}} : ({", ".join(types_in)}) -> ()')
        if bulk:   # each real row of the tile added into the output by one bulk reduction of tn columns
            e.line('"moe.async_proxy_fence"() : () -> ()')
            e.line("gpu.barrier")
            obytes = OUT_BYTES[spec.out_dtype]
            for r0 in range(0, tm, W * waves):   # thread t issues rows t, t + threads, ...
                r = e.addc(tid, r0)
                e.line(f"scf.if {e.op(f'arith.cmpi ult, {r}, {e.c(tm)} : i32')} {{")
                e.depth += 1
                tok, _, valid = row_info(e.add(row0, r))
                e.line(f"scf.if {valid} {{")
                e.depth += 1
                dst = e.add(e.mulc(tok, spec.model_dim), e.mulc(by, tn))
                e.line(f'"moe.bulk_reduce"({dest[0]}, %out, {e.mulc(dst, obytes)}, {e.mulc(r, tn * obytes)}) '
                       f'{{bytes = {tn * obytes} : i64, type = "{spec.out_dtype}"}} '
                       f': (!llvm.ptr<3>, {PTR}, i32, i32) -> ()')
                e.depth -= 1
                e.line("}")
                e.line('"moe.bulk_commit"() : () -> ()')
                e.line('"moe.bulk_wait_read"() : () -> ()')
                e.depth -= 1
                e.line("}")
        if kw > 1:
            e.depth -= 1
            e.line("}")
        if m_reps != m_counts[-1]:
            e.depth -= 1
            e.line("} else {")
            e.depth += 1
    for _ in m_counts[:-1]:
        e.depth -= 1
        e.line("}")
    for _ in range(2):
        e.depth -= 1
        e.line("}")
    e.line("gpu.return")

    return _module_text(spec, module_name, OPERAND_NAMES, W * waves * kw,
                        dict(tile_m=tm, tile_n=tn, tile_k=tk, waves=waves, prefetch=prefetch, stages=stages,
                             wgmma=wgmma, raster=raster, **({"tma": 1} if tma else {}),
                             **({"cluster_y": multicast} if multicast else {}),
                             shared_bytes=(wtiles.bytes + ttiles.bytes +
                                           (TmaWeightTiles.barrier_bytes(stages, bool(multicast)) if tma else 0) +
                                           (tn * gu_count * 4 if swap and col_scaled else 0)) if ss else
                             stages * slot_bytes + (staging.shared_bytes if staging else 0) + red_bytes,
                             # the column tiles' grid dimension (the other one: token tiles)
                             **{"grid_x" if raster else "grid_y": spec.out_n // tn},
                             **({"grid_z": split} if split > 1 else {}), **({"k_waves": kw} if kw > 1 else {}),
                             **({"trim_m": 1} if trim else {}), **({"bulk_out": 1} if bulk else {}),
                             **({"tokens_m": 1} if swap else {})), e, loc,
                        # the swizzled MMA operand layouts repeat every 512 / 1024 bytes from an aligned start
                        smem_align=1024 if wgmma else 16, extra_args=["w_map"] if tma else [])


def _module_text(spec, module_name, arg_names, block, launch: dict, e, loc, smem_align: int = 16,
                 extra_args=()) -> str:
    """A gpu.module holding the kernel: bare-pointer args + %tokens (+ `extra_args`: pointers after it),
    block size, launch metadata."""
    args = ", ".join([f"%{n}: {PTR}" for n in arg_names] + ["%tokens: i32"] + [f"%{n}: {PTR}" for n in extra_args])
    meta = ", ".join(f"{k} = {v} : i64" for k, v in {"block": block, **launch}.items())
    end = f" {loc}" if loc else ""
    smem = (f"  llvm.mlir.global external @moe_smem() {{addr_space = 3 : i32, alignment = {smem_align} : i64}} "
            ": !llvm.array<0 x i8>\n") if launch.get("shared_bytes") else ""
    return (
        f'gpu.module @{module_name} attributes {{moe.target = "{spec.target}"}} {{\n'
        f"{smem}"
        f"  gpu.func @{kernel_name(spec)}({args}) kernel attributes "
        f"{{known_block_size = array<i32: {block}, 1, 1>, moe.launch = {{{meta}}}}} {{\n"
        f"{e.body_text(4, loc)}\n"
        f"  }}{end}\n"
        f"}}{end}\n"
    )


def emit_reduce_kernel(spec, op, module_name: str, loc: str | None = None) -> str:
    """Stage 2's reduce: out[t, :] = sum over valid slots s of partial[t, s, :], in f32, rounded once.

    grid.x walks column chunks (block x cols_per_thread columns), grid.y walks tokens.  An invalid
    slot's row is read as zero (moe.load's validity bit), so unwritten rows are never looked at.
    """
    cpt = ir.IntegerAttr(op.attributes["cols_per_thread"]).value
    block = ir.IntegerAttr(op.attributes["block"]).value
    N, topk = spec.model_dim, spec.topk
    t = spec.out_dtype
    esize = 4 if t == "f32" else 2
    vt, ft = f"vector<{cpt}x{t}>", f"vector<{cpt}xf32>"
    e = Emitter()
    i32 = "i32"

    def load(base, off, valid, type_):
        return e.generic("moe.load", [base, off, e.c(0), valid], [PTR, i32, i32, "i1"], type_)

    tid = e.op(f"arith.index_cast {e.op('gpu.thread_id x')} : index to i32")
    bx = e.op(f"arith.index_cast {e.op('gpu.block_id x')} : index to i32")
    tok = e.op(f"arith.index_cast {e.op('gpu.block_id y')} : index to i32")
    col0 = e.mulc(e.add(e.mulc(bx, block), tid), cpt)
    inside = e.op(f"arith.cmpi ult, {col0}, {e.c(N)} : i32")
    e.line(f"scf.if {inside} {{")
    e.depth += 1
    acc = e.op(f"arith.constant dense<0.0> : {ft}")
    for s in range(topk):
        ts = e.addc(e.mulc(tok, topk), s)
        valid = e.c("true", "i1")
        if spec.masked:
            m = load("%valid_mask", ts, e.c("true", "i1"), "i8")
            valid = e.op(f"arith.cmpi ne, {m}, {e.c(0, 'i8')} : i8")
        row = load("%partial", e.mulc(e.add(e.mulc(ts, N), col0), esize), valid, vt)
        acc = e.op(f"arith.addf {acc}, {e.op(f'arith.extf {row} : {vt} to {ft}')} : {ft}")
    res = e.op(f"arith.truncf {acc} : {ft} to {vt}")
    ptr = e.op(f"llvm.getelementptr %out[{e.add(e.mulc(tok, N), col0)}] : ({PTR}, i32) -> {PTR}, {t}")
    e.line(f"llvm.store {res}, {ptr} {{alignment = {cpt * esize} : i64}} : {vt}, {PTR}")
    e.depth -= 1
    e.line("}")
    e.line("gpu.return")
    names = ["partial"] + (["valid_mask"] if spec.masked else []) + ["out"]
    return _module_text(spec, module_name, names, block,
                        dict(cols_per_thread=cpt, grid_x=-(-N // (block * cpt))), e, loc)


@register("moe-to-kernel", "Outline each planned moe.gemm into a gpu.module kernel at lane level.")
def run(module) -> None:
    gemms = walk_ops(module, "moe.gemm") + walk_ops(module, "moe.reduce")
    if not gemms:
        return
    body = module.regions[0].blocks[0]
    taken = {o.attributes["sym_name"].value for o in body.operations if o.operation.name == "gpu.module"}
    outlined = []   # host funcs (or bare ops) to erase once all their gemms are outlined
    for op in gemms:
        spec = spec_from_op(op) if op.name == "moe.gemm" else reduce_spec_from_op(op)
        name, i = "moe_kernels", 0
        while name in taken:  # one gpu.module per gemm; symbol names must stay unique
            i += 1
            name = f"moe_kernels_{i}"
        taken.add(name)
        if op.name == "moe.reduce":
            if "cols_per_thread" not in op.attributes:
                raise DiagnosedError("'moe.reduce' has no plan: run moe-plan before moe-to-kernel", op)
            text = emit_reduce_kernel(spec, op, name, loc_text(op))
        else:
            text = emit_kernel(spec, _plan(op), name, loc_text(op))
        func = op.parent
        while func is not None and func.name != "func.func":
            func = func.parent
        anchor = func if func is not None else op
        parsed = ir.Module.parse(text, context=module.context)
        for new_op in list(parsed.body.operations):
            new_op.operation.move_before(anchor.operation)
        if not any(a is anchor or a == anchor for a in outlined):
            outlined.append(anchor)
    for anchor in outlined:
        anchor.operation.erase()
    module.attributes["gpu.container_module"] = ir.UnitAttr.get(module.context)
