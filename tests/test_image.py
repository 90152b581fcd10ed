"""Firmware images: deterministic packing, exact round trips, and corrupted images as one-liners."""

from __future__ import annotations

import dataclasses
import hashlib
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wtmkws.firmware_model.program import (
    Activate,
    Activation,
    Add,
    Argmax,
    ArrayLayer,
    Block,
    Concat,
    ConvGeometry,
    InputMode,
    InputTransform,
    LayerKind,
    Pool,
    Program,
    ProgramMode,
    Rescale,
)
from wtmkws.tools.image import (
    HEADER_SIZE,
    MAGIC,
    SHA256_SIZE,
    ImageError,
    SectionKind,
    pack_image,
    read_image,
    unpack_image,
    verify_image,
    write_image,
)


def split_blocks(rows: int, cols: int, bias_rows: int, row_parts: int, col_parts: int,
                 row0: int = 0, col0: int = 128) -> tuple[Block, ...]:
    """Blocks splitting a layer into row_parts x col_parts rectangles (bias with in_rows[0]==0)."""
    r_edges = np.linspace(0, rows, row_parts + 1).astype(int)
    c_edges = np.linspace(0, cols, col_parts + 1).astype(int)
    blocks = []
    for ci in range(col_parts):
        phys = row0
        for ri in range(row_parts):
            r0, r1 = int(r_edges[ri]), int(r_edges[ri + 1])
            c0, c1 = int(c_edges[ci]), int(c_edges[ci + 1])
            if (r1 == r0 and ri) or c1 == c0:
                continue
            blk = Block(row0=phys, col0=col0 + c0, in_rows=(r0, r1), out_cols=(c0, c1),
                        bias_rows=bias_rows if r0 == 0 else 0)
            phys += blk.n_rows
            blocks.append(blk)
    return tuple(blocks)


def make_stream_program(rng: np.random.Generator, *, width: int = 24, hidden: int = 16,
                        n_labels: int = 3, name: str = "kws-test") -> Program:
    """A small placed STREAM program: dense(relu, table-free) -> tdnn(table) -> rescale -> ..."""
    w1 = rng.integers(-128, 128, (width, hidden), dtype=np.int8)
    b1 = rng.integers(-128, 128, (8, hidden), dtype=np.int8)
    w2 = rng.integers(-128, 128, (3 * 2 * hidden, n_labels), dtype=np.int8)
    b2 = rng.integers(-128, 128, (4, n_labels), dtype=np.int8)
    table = rng.integers(-128, 128, 256, dtype=np.int8)
    l1 = ArrayLayer(name="l1", kind=LayerKind.DENSE, inputs=("input",), weights=w1, bias_cells=b1,
                    shift=10, activation=Activation.RELU,
                    blocks=split_blocks(width, hidden, 8, 2, 1))
    l2 = ArrayLayer(name="l2", kind=LayerKind.TDNN, inputs=("l1",), weights=w2, bias_cells=b2,
                    shift=9, activation=Activation.TABLE, table=table,
                    transform=InputTransform(mode=InputMode.PN, magnify=1), context=(-2, 0, 2),
                    blocks=split_blocks(w2.shape[0], n_labels, 4, 1, 2, row0=200))
    ops = (l1, l2, Rescale(name="rs", inputs=("l2",), multiplier=3, offset=-5, shift=1),
           Activate(name="act", inputs=("rs",), activation=Activation.RELU))
    return Program(name=name, mode=ProgramMode.STREAM, input_width=width, input_frames=1, ops=ops,
                   labels=tuple(f"w{i}" for i in range(n_labels)),
                   frontend={"kind": "fbank", "n_mels": width, "hop_ms": 10.0},
                   metadata={"source": "unit test", "scales": [0.5, 0.25], "nested": {"a": 1}})


def make_window_program(rng: np.random.Generator) -> Program:
    """A small placed WINDOW program with conv, pool, add, concat, argmax."""
    conv = ConvGeometry(in_shape=(8, 10, 1), kernel_h=3, kernel_w=3, stride_h=1, stride_w=1,
                        pad_top=1, pad_bottom=1, pad_left=1, pad_right=1, pad_code=0)
    c1 = ArrayLayer(name="c1", kind=LayerKind.CONV2D, inputs=("input",),
                    weights=rng.integers(-128, 128, (9, 4), dtype=np.int8),
                    bias_cells=rng.integers(-128, 128, (8, 4), dtype=np.int8), shift=8,
                    activation=Activation.RELU, conv=conv, blocks=split_blocks(9, 4, 8, 1, 1))
    d = ArrayLayer(name="fc", kind=LayerKind.DENSE, inputs=("pool",),
                   weights=rng.integers(-128, 128, (4 * 5 * 4 * 2, 2), dtype=np.int8),
                   bias_cells=rng.integers(-128, 128, (8, 2), dtype=np.int8), shift=11,
                   transform=InputTransform(mode=InputMode.OFFSET),
                   blocks=split_blocks(160, 2, 8, 3, 2, row0=900))
    ops = (c1,
           Pool(name="pool0", inputs=("c1",), kind="max", pool_h=2, pool_w=2, stride_h=2,
                stride_w=2),
           Add(name="add", inputs=("pool0", "pool0"), mult_a=1, mult_b=-1, offset=2, shift=1),
           Concat(name="pool", inputs=("pool0", "add")), d,
           Argmax(name="argmax", inputs=("fc",)))
    return Program(name="win", mode=ProgramMode.WINDOW, input_width=10, input_frames=8, ops=ops,
                   labels=("yes", "no"))


def assert_programs_equal(a: Program, b: Program) -> None:
    """Every field of every op equal; arrays equal in value, shape and dtype."""
    for f in ("name", "mode", "input_width", "input_frames", "labels", "chip", "frontend",
              "metadata"):
        assert getattr(a, f) == getattr(b, f), f
    assert len(a.ops) == len(b.ops)
    for x, y in zip(a.ops, b.ops):
        assert type(x) is type(y)
        for f in dataclasses.fields(x):
            u, v = getattr(x, f.name), getattr(y, f.name)
            if isinstance(u, np.ndarray) or isinstance(v, np.ndarray):
                assert isinstance(u, np.ndarray) and isinstance(v, np.ndarray), (x.name, f.name)
                assert u.dtype == v.dtype and u.shape == v.shape, (x.name, f.name)
                np.testing.assert_array_equal(u, v, err_msg=f"{x.name}.{f.name}")
            else:
                assert u == v, (x.name, f.name, u, v)


def resign(data: bytes) -> bytes:
    """Recompute the trailing SHA-256 after an edit (to reach checks past the digest)."""
    body = data[:-SHA256_SIZE]
    return body + hashlib.sha256(body).digest()


@pytest.fixture
def stream_program(rng: np.random.Generator) -> Program:
    return make_stream_program(rng)


def test_same_program_gives_the_same_bytes(stream_program: Program) -> None:
    a = pack_image(stream_program)
    b = pack_image(stream_program)
    assert a == b
    again = make_stream_program(np.random.default_rng(20261121))
    assert pack_image(again) == a


@pytest.mark.parametrize("maker", [make_stream_program, make_window_program])
def test_unpack_gives_back_the_program_exactly(rng: np.random.Generator, maker) -> None:
    program = maker(rng)
    up = unpack_image(pack_image(program, compute_golden=False))
    assert_programs_equal(program, up.program)
    assert up.golden is None and up.detector is None


def test_detector_and_golden_vectors_round_trip(stream_program: Program) -> None:
    from wtmkws.firmware_model.engine import DetectorConfig

    det = DetectorConfig(threshold=0.7, smoothing_frames=3)
    inputs = np.arange(5 * 24, dtype=np.uint8).reshape(5, 24)
    outputs = {"l1": np.ones((5, 16), np.int8), "act": np.zeros((1, 3), np.int8),
               "am": np.array([1, 2], np.int64)}
    golden = type("G", (), {"inputs": inputs, "outputs": outputs})()
    up = unpack_image(pack_image(stream_program, detector=det, golden=golden))
    assert up.detector == det
    np.testing.assert_array_equal(up.golden.inputs, inputs)
    assert up.golden.inputs.dtype == np.uint8
    assert set(up.golden.outputs) == set(outputs)
    for k, v in outputs.items():
        assert up.golden.outputs[k].dtype == v.dtype
        np.testing.assert_array_equal(up.golden.outputs[k], v)


def test_computed_golden_vectors_match_the_emulator(stream_program: Program) -> None:
    from wtmkws.firmware_model.emulator import run_layers

    up = unpack_image(pack_image(stream_program))
    assert up.golden is not None
    want = run_layers(up.program, up.golden.inputs)
    for name, arr in want.items():
        np.testing.assert_array_equal(up.golden.outputs[name], arr)


def test_weights_section_is_laid_out_block_by_block(stream_program: Program) -> None:
    data = pack_image(stream_program, compute_golden=False)
    up = unpack_image(data)
    entry = next(s for s in up.sections if s.kind == SectionKind.WEIGHTS)
    weights = data[entry.offset:entry.offset + entry.length]
    expect = b""
    for layer in stream_program.array_layers:
        for blk in layer.blocks:
            (r0, r1), (c0, c1) = blk.in_rows, blk.out_cols
            expect += layer.weights[r0:r1, c0:c1].tobytes()
            if blk.bias_rows:
                expect += layer.bias_cells[:, c0:c1].tobytes()
    assert weights == expect


def test_sections_are_aligned_and_padded_with_ff(stream_program: Program) -> None:
    data = pack_image(stream_program)
    up = unpack_image(data)
    align = up.header.alignment
    ends = sorted((s.offset, s.offset + s.length) for s in up.sections)
    for (start, end), (nxt, _) in zip(ends, ends[1:] + [(len(data) - SHA256_SIZE, 0)]):
        assert start % align == 0
        if nxt > end:
            assert set(data[end:nxt]) <= {0xFF}
    assert hashlib.sha256(data[:-SHA256_SIZE]).digest() == data[-SHA256_SIZE:]


def test_unplaced_program_is_placed_when_packed(rng: np.random.Generator) -> None:
    placed = make_stream_program(rng)
    bare = dataclasses.replace(
        placed, ops=tuple(dataclasses.replace(op, blocks=()) if isinstance(op, ArrayLayer) else op
                          for op in placed.ops))
    up = unpack_image(pack_image(bare, compute_golden=False))
    for a, b in zip(bare.array_layers, up.program.array_layers):
        assert b.blocks
        np.testing.assert_array_equal(a.weights, b.weights)
        np.testing.assert_array_equal(a.bias_cells, b.bias_cells)


@st.composite
def random_programs(draw: st.DrawFn) -> Program:
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n_layers = draw(st.integers(1, 4))
    width = draw(st.integers(1, 40))
    ops: list = []
    src, src_width = "input", width
    for i in range(n_layers):
        ctx = tuple(sorted(set(draw(st.lists(st.integers(-3, 3), min_size=1, max_size=3)))))
        kind = LayerKind.TDNN if len(ctx) > 1 else LayerKind.DENSE
        mode = draw(st.sampled_from(list(InputMode)))
        transform = InputTransform(mode=mode, magnify=0 if mode is InputMode.OFFSET
                                   else draw(st.integers(0, 7)))
        rows = src_width * transform.row_factor * len(ctx)
        cols = draw(st.integers(1, 30))
        bias = draw(st.integers(0, 16))
        act = draw(st.sampled_from(list(Activation)))
        layer = ArrayLayer(
            name=f"l{i}", kind=kind, inputs=(src,),
            weights=rng.integers(-128, 128, (rows, cols), dtype=np.int8),
            bias_cells=rng.integers(-128, 128, (bias, cols), dtype=np.int8),
            shift=draw(st.integers(8, 13)), activation=act,
            table=rng.integers(-128, 128, 256, dtype=np.int8) if act is Activation.TABLE else None,
            transform=transform, context=ctx if kind is LayerKind.TDNN else (0,),
            blocks=split_blocks(rows, cols, bias, draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        )
        ops.append(layer)
        src, src_width = layer.name, cols
        if draw(st.booleans()):
            ops.append(Rescale(name=f"r{i}", inputs=(src,), multiplier=draw(st.integers(-2**30, 2**30)),
                               offset=draw(st.integers(-1000, 1000)), shift=draw(st.integers(0, 62))))
            src = f"r{i}"
    labels = tuple(draw(st.lists(st.text(min_size=1, max_size=8), min_size=src_width,
                                 max_size=src_width)))
    meta = draw(st.dictionaries(st.text(max_size=5), st.one_of(st.integers(-10**12, 10**12),
                                                                st.text(max_size=10),
                                                                st.booleans(), st.none()),
                                max_size=4))
    return Program(name=draw(st.text(max_size=12)), mode=ProgramMode.STREAM, input_width=width,
                   input_frames=1, ops=tuple(ops), labels=labels, metadata=meta,
                   frontend={"n_mels": width})


@settings(deadline=None, max_examples=60)
@given(program=random_programs())
def test_hypothesis_round_trip(program: Program) -> None:
    data = pack_image(program, compute_golden=False)
    assert pack_image(program, compute_golden=False) == data
    assert_programs_equal(program, unpack_image(data).program)


@settings(deadline=None, max_examples=80)
@given(data=st.data())
def test_any_corruption_is_an_image_error_never_a_crash(data: st.DataObject) -> None:
    image = pack_image(make_stream_program(np.random.default_rng(1)), compute_golden=False)
    how = data.draw(st.sampled_from(["flip", "truncate", "garbage"]))
    if how == "flip":
        i = data.draw(st.integers(0, len(image) - 1))
        bad = bytearray(image)
        bad[i] ^= 1 << data.draw(st.integers(0, 7))
        bad = bytes(bad)
    elif how == "truncate":
        bad = image[:data.draw(st.integers(0, len(image) - 1))]
    else:
        bad = data.draw(st.binary(max_size=300))
        if data.draw(st.booleans()):
            bad = MAGIC + bad
    with pytest.raises(ImageError) as info:
        unpack_image(bad)
    assert "\n" not in info.value.message and info.value.hint


def test_bit_flip_is_reported_as_sha_mismatch(stream_program: Program) -> None:
    image = bytearray(pack_image(stream_program))
    image[HEADER_SIZE + 300] ^= 0x10
    with pytest.raises(ImageError, match="SHA-256 mismatch"):
        verify_image(bytes(image))


def test_truncated_image_names_both_sizes(stream_program: Program) -> None:
    image = pack_image(stream_program)
    with pytest.raises(ImageError, match=rf"{len(image) - 100} bytes, header says {len(image)}"):
        verify_image(image[:-100])


def test_wrong_magic(stream_program: Program) -> None:
    image = pack_image(stream_program)
    with pytest.raises(ImageError, match="not a wtmkws image"):
        verify_image(b"ELF\x7fXXXX" + image[8:])


def test_wrong_chip_id_and_wrong_requested_chip(stream_program: Program) -> None:
    image = bytearray(pack_image(stream_program))
    struct.pack_into("<H", image, 12, 0x9999)
    with pytest.raises(ImageError, match="chip id 0x9999"):
        verify_image(resign(bytes(image)))
    with pytest.raises(ImageError, match="targets chip WTM2101"):
        verify_image(pack_image(stream_program), chip="WTM9999")


def test_section_crc_mismatch_after_resigning(stream_program: Program) -> None:
    image = pack_image(stream_program)
    entry = next(s for s in unpack_image(image).sections if s.kind == SectionKind.WEIGHTS)
    bad = bytearray(image)
    bad[entry.offset] ^= 1
    with pytest.raises(ImageError, match="weights CRC32 mismatch"):
        verify_image(resign(bytes(bad)))


def test_non_int8_weights_are_refused(rng: np.random.Generator) -> None:
    p = make_stream_program(rng)
    l1 = p.ops[0]
    wide = dataclasses.replace(l1, weights=l1.weights.astype(np.int32) * 4)
    with pytest.raises(ImageError, match="not int8-representable"):
        pack_image(dataclasses.replace(p, ops=(wide,) + p.ops[1:]), compute_golden=False)


def test_write_and_read_image_file(tmp_path, stream_program: Program) -> None:
    data = pack_image(stream_program)
    path = write_image(tmp_path / "sub" / "a.wimg", data)
    assert read_image(path) == data
    assert [p.name for p in path.parent.iterdir()] == ["a.wimg"]
    with pytest.raises(ImageError, match="does not exist"):
        read_image(tmp_path / "missing.wimg")


def test_verify_summarises_the_program(stream_program: Program) -> None:
    info = verify_image(pack_image(stream_program))
    assert info.chip == "WTM2101" and info.chip_id == 0x2101
    assert info.n_array_layers == 2 and info.labels == stream_program.labels
    assert info.cells == sum(layer.cells for layer in stream_program.array_layers)
    assert info.has_golden and not info.has_detector
