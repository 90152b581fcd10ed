"""The fast emulator equals the plain reference and the streaming runner, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from programgen import random_codes, random_program, small_spec, tiny_stream_program
from wtmkws.firmware_model.emulator import StreamingEmulator, run, run_layers
from wtmkws.firmware_model.placement import place
from wtmkws.firmware_model.program import (
    INPUT,
    Activation,
    Add,
    ArrayLayer,
    InputMode,
    InputTransform,
    LayerKind,
    Program,
    ProgramError,
    ProgramMode,
)
from wtmkws.firmware_model.reference import reference_run_layers
from wtmkws.firmware_model.validate import stream_delay_frames, tensor_shapes


def _assert_same_layers(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert list(a) == list(b)
    for name in a:
        if a[name].size == 0 and b[name].size == 0:
            continue
        assert a[name].dtype == b[name].dtype, name
        assert a[name].shape == b[name].shape, name
        assert np.array_equal(a[name], b[name]), name


@settings(deadline=None, max_examples=150)
@given(seed=st.integers(0, 2**32 - 1), n_frames=st.integers(1, 24))
def test_stream_fast_equals_reference_and_streaming(seed: int, n_frames: int) -> None:
    rng = np.random.default_rng(seed)
    program = random_program(rng, mode="stream")
    codes = random_codes(rng, program, n_frames)
    fast = run_layers(program, codes)
    _assert_same_layers(fast, reference_run_layers(program, codes))
    emu = StreamingEmulator(program)
    split = int(rng.integers(0, n_frames + 1))
    streamed = np.concatenate([emu.push_many(codes[:split]), emu.push_many(codes[split:])])
    out = fast[program.output_name]
    assert streamed.shape == out.shape
    assert np.array_equal(streamed, out)
    assert out.shape[0] == max(n_frames - stream_delay_frames(program), 0)


@settings(deadline=None, max_examples=100)
@given(seed=st.integers(0, 2**32 - 1), n_windows=st.integers(1, 3))
def test_window_fast_equals_reference(seed: int, n_windows: int) -> None:
    rng = np.random.default_rng(seed)
    program = random_program(rng, mode="window")
    codes = random_codes(rng, program, n_windows)
    fast = run_layers(program, codes)
    _assert_same_layers(fast, reference_run_layers(program, codes))
    single = run_layers(program, codes[0])
    for name in fast:
        assert np.array_equal(single[name], fast[name][0]), name
    shapes = tensor_shapes(program)
    for name, v in fast.items():
        assert v.shape[1:] == shapes[name]


@settings(deadline=None, max_examples=15)
@given(seed=st.integers(0, 2**32 - 1))
def test_placement_and_splits_do_not_change_ideal_outputs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    program = random_program(rng, mode="stream", max_rows=200, max_width=40)
    codes = random_codes(rng, program, 12)
    placed = place(program, spec=small_spec())
    _assert_same_layers(run_layers(program, codes), run_layers(placed, codes))


def test_streaming_emits_after_delay_and_resets() -> None:
    program = tiny_stream_program()
    codes = np.random.default_rng(5).integers(0, 256, size=(30, 13), dtype=np.uint8)
    batch = run(program, codes)
    emu = StreamingEmulator(program)
    assert emu.delay_frames == 2
    outs = [emu.push(f) for f in codes]
    assert outs[0] is None and outs[1] is None
    assert np.array_equal(np.stack(outs[2:]), batch)
    emu.reset()
    assert np.array_equal(emu.push_many(codes), batch)


def _layer(name: str, src: str, rows: int, outs: int, ctx: tuple[int, ...], rng: np.random.Generator,
           act: Activation = Activation.RELU) -> ArrayLayer:
    return ArrayLayer(name=name, kind=LayerKind.TDNN if len(ctx) > 1 else LayerKind.DENSE, inputs=(src,),
                      weights=rng.integers(-50, 50, size=(rows, outs)).astype(np.int8),
                      bias_cells=np.zeros((8, outs), np.int8), shift=9, activation=act, context=ctx)


def test_add_aligns_sources_by_readiness() -> None:
    rng = np.random.default_rng(0)
    a = _layer("a", INPUT, 3 * 4, 5, (-1, 0, 1), rng)          # delay 2
    b = _layer("b", INPUT, 4, 5, (0,), rng)                     # delay 0
    s = Add(name="s", inputs=("a", "b"))
    program = Program(name="skip", mode=ProgramMode.STREAM, input_width=4, input_frames=1, ops=(a, b, s),
                      labels=())
    codes = rng.integers(0, 256, size=(10, 4), dtype=np.uint8)
    outs = run_layers(program, codes)
    assert outs["s"].shape == (8, 5)
    want = np.clip(outs["a"].astype(int) + outs["b"][2:].astype(int), -128, 127)
    assert np.array_equal(outs["s"], want)
    assert stream_delay_frames(program) == 2


@pytest.mark.parametrize("bad, match", [
    (np.full((4, 13), 256, dtype=np.int16), "input code 256 outside 0..255"),
    (np.full((4, 13), -1, dtype=np.int16), "input code -1 outside"),
    (np.zeros((4, 12), dtype=np.uint8), "12 wide"),
    (np.zeros((4, 13), dtype=np.float32), "dtype float32"),
    (np.zeros((13,), dtype=np.uint8), "shape"),
])
def test_bad_codes_are_refused(bad: np.ndarray, match: str) -> None:
    with pytest.raises(ProgramError, match=match):
        run(tiny_stream_program(), bad)


def test_streaming_refuses_window_programs_and_bad_frames() -> None:
    program = random_program(np.random.default_rng(1), mode="window")
    with pytest.raises(ProgramError, match="WINDOW"):
        StreamingEmulator(program)
    emu = StreamingEmulator(tiny_stream_program())
    with pytest.raises(ProgramError, match="wide"):
        emu.push(np.zeros(5, np.uint8))


def test_invalid_programs_are_refused_with_the_layer_named() -> None:
    rng = np.random.default_rng(2)
    good = _layer("fc", INPUT, 4, 3, (0,), rng)
    import dataclasses

    cases = [
        (dataclasses.replace(good, shift=14), "layer 'fc' has shift 14 outside 8..13"),
        (dataclasses.replace(good, weights=good.weights[:3]), "layer 'fc' has 3 weight rows but its input needs 4"),
        (dataclasses.replace(good, bias_cells=np.zeros((17, 3), np.int8)), "17 bias rows"),
        (dataclasses.replace(good, weights=good.weights.astype(np.int16) * 3), "outside -128..127|dtype int16"),
        (dataclasses.replace(good, transform=InputTransform(mode=InputMode.OFFSET)), "OFFSET"),
    ]
    for layer, match in cases:
        program = Program(name="p", mode=ProgramMode.STREAM, input_width=4, input_frames=1, ops=(layer,),
                          labels=())
        with pytest.raises(ProgramError, match=match):
            run(program, np.zeros((2, 4), np.uint8))
    signed = _layer("s", INPUT, 4, 3, (0,), rng, act=Activation.NONE)
    direct = _layer("d", "s", 3, 2, (0,), rng)
    program = Program(name="p", mode=ProgramMode.STREAM, input_width=4, input_frames=1, ops=(signed, direct),
                      labels=())
    with pytest.raises(ProgramError, match="DIRECT input from 's' which can be negative"):
        run(program, np.zeros((2, 4), np.uint8))


def test_argmax_output_is_int_index() -> None:
    from wtmkws.firmware_model.program import Argmax

    base = tiny_stream_program()
    program = Program(name="am", mode=ProgramMode.STREAM, input_width=13, input_frames=1,
                      ops=base.ops + (Argmax(name="cls", inputs=("out",)),), labels=base.labels)
    codes = np.random.default_rng(3).integers(0, 256, size=(9, 13), dtype=np.uint8)
    out = run(program, codes)
    assert out.dtype == np.int64 and out.shape == (7,)
    assert np.array_equal(out, np.argmax(run(base, codes), axis=1))
    emu = StreamingEmulator(program)
    assert np.array_equal(emu.push_many(codes), out)


def test_nonideal_runs_split_into_blocks_equal_one_long_run_and_streaming() -> None:
    """frame_offset makes block-wise non-ideal runs identical to one run and to streaming."""
    from wtmkws.firmware_model.emulator import StreamingEmulator, run
    from wtmkws.firmware_model.noise import NonIdealChip, NonIdealConfig
    from wtmkws.firmware_model.validate import stream_delay_frames

    rng = np.random.default_rng(5)
    program = tiny_stream_program()
    chip = NonIdealChip.create(program, NonIdealConfig(), seed=9)
    codes = random_codes(rng, program, 120)
    whole = run(program, codes, nonideal=chip)
    delay = stream_delay_frames(program)
    blocks = []
    for s in range(0, whole.shape[0], 37):
        e = min(s + 37, whole.shape[0])
        blocks.append(run(program, codes[s:e + delay], nonideal=chip, frame_offset=s))
    assert np.array_equal(np.concatenate(blocks), whole)
    stream = StreamingEmulator(program, nonideal=chip).push_many(codes)
    assert np.array_equal(stream, whole)
    unshifted = run(program, codes[37:37 + 37 + delay], nonideal=chip)
    assert not np.array_equal(unshifted, whole[37:74])
