"""Program files: exact round trips, golden vectors, and one-line refusals of bad files."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from programgen import random_codes, random_program, tiny_stream_program
from wtmkws.firmware_model.emulator import run_layers
from wtmkws.firmware_model.program import ArrayLayer, ProgramError
from wtmkws.firmware_model.program_io import (
    FORMAT_VERSION,
    load_golden,
    load_program,
    program_from_bytes,
    program_to_bytes,
    save_program,
    verify_golden,
)


def _same_program(a, b) -> None:
    assert (a.name, a.mode, a.input_width, a.input_frames, a.labels, a.chip, a.frontend, a.metadata) == (
        b.name, b.mode, b.input_width, b.input_frames, b.labels, b.chip, b.frontend, b.metadata)
    assert len(a.ops) == len(b.ops)
    for x, y in zip(a.ops, b.ops):
        assert type(x) is type(y)
        for field in x.__dataclass_fields__:
            vx, vy = getattr(x, field), getattr(y, field)
            if isinstance(vx, np.ndarray):
                assert vx.dtype == vy.dtype and np.array_equal(vx, vy), (x.name, field)
            else:
                assert vx == vy, (x.name, field)


@settings(deadline=None, max_examples=25)
@given(seed=st.integers(0, 2**32 - 1))
def test_round_trip_is_exact_with_golden_vectors(seed: int, tmp_path_factory: pytest.TempPathFactory) -> None:
    rng = np.random.default_rng(seed)
    program = random_program(rng, mode="stream" if seed % 2 else "window")
    codes = random_codes(rng, program, 6)
    path = save_program(program, tmp_path_factory.mktemp("io") / "p.wtmk", golden_inputs=codes)
    loaded = load_program(path)
    assert all(layer.blocks for layer in loaded.array_layers)
    _same_program(loaded, program_from_bytes(path.read_bytes()))
    for a, b in zip(program.ops, loaded.ops):
        if isinstance(a, ArrayLayer):
            assert np.array_equal(a.weights, b.weights) and a.shift == b.shift
    golden = load_golden(path)
    assert np.array_equal(golden.inputs, codes)
    assert verify_golden(loaded, golden) == []
    want = run_layers(program, codes)
    for name, v in want.items():
        assert np.array_equal(golden.outputs[name], v)


def test_files_are_deterministic(tmp_path: Path) -> None:
    program = tiny_stream_program()
    a = save_program(program, tmp_path / "a.wtmk").read_bytes()
    b = save_program(program, tmp_path / "b.wtmk").read_bytes()
    assert a == b
    names = zipfile.ZipFile(io.BytesIO(a)).namelist()
    assert names == sorted(names) and "program.json" in names


def _rewrite(data: bytes, *, doc_fn=None, arrays: dict[str, np.ndarray] | None = None) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            raw = src.read(name)
            if name == "program.json" and doc_fn is not None:
                doc = json.loads(raw)
                doc_fn(doc)
                raw = json.dumps(doc).encode()
            if arrays and name in arrays:
                buf = io.BytesIO()
                np.save(buf, arrays[name])
                raw = buf.getvalue()
            dst.writestr(name, raw)
    return out.getvalue()


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, bytes]:
    path = save_program(tiny_stream_program(), tmp_path / "tiny.wtmk")
    return path, path.read_bytes()


def test_truncated_file_is_refused(saved: tuple[Path, bytes], tmp_path: Path) -> None:
    _, data = saved
    bad = tmp_path / "cut.wtmk"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ProgramError, match=r"cut.wtmk is not a complete program file"):
        load_program(bad)


def test_other_version_is_refused(saved: tuple[Path, bytes]) -> None:
    def bump(doc: dict) -> None:
        doc["version"] = FORMAT_VERSION + 1

    with pytest.raises(ProgramError, match=f"format version {FORMAT_VERSION + 1}; this wtmkws reads version"):
        program_from_bytes(_rewrite(saved[1], doc_fn=bump))


def test_out_of_range_weights_and_shifts_are_refused(saved: tuple[Path, bytes]) -> None:
    member = "arrays/01_fc1.weights.npy"
    w = np.full((16, 16), 300, dtype=np.int16)
    with pytest.raises(ProgramError, match=r"layer 'fc1' weights holds 300, outside -128..127"):
        program_from_bytes(_rewrite(saved[1], arrays={member: w}))

    def shift(doc: dict) -> None:
        doc["ops"][0]["shift"] = 20

    with pytest.raises(ProgramError, match=r"layer 'tdnn0' has shift 20 outside 8..13"):
        program_from_bytes(_rewrite(saved[1], doc_fn=shift))
    with pytest.raises(ProgramError, match=r"weights has dtype float32"):
        program_from_bytes(_rewrite(saved[1], arrays={member: np.zeros((16, 16), np.float32)}))
    with pytest.raises(ProgramError, match=r"15 weight rows but its input needs 16"):
        program_from_bytes(_rewrite(saved[1], arrays={member: np.zeros((15, 16), np.int8)}))


def test_overlapping_placement_is_refused(saved: tuple[Path, bytes]) -> None:
    def overlap(doc: dict) -> None:
        doc["ops"][1]["blocks"][0]["row0"] = doc["ops"][0]["blocks"][0]["row0"]
        doc["ops"][1]["blocks"][0]["col0"] = doc["ops"][0]["blocks"][0]["col0"]

    with pytest.raises(ProgramError, match=r"layer 'fc1' block 0 overlaps layer 'tdnn0'"):
        program_from_bytes(_rewrite(saved[1], doc_fn=overlap))


def test_missing_members_and_fields_are_refused(saved: tuple[Path, bytes], tmp_path: Path) -> None:
    def drop(doc: dict) -> None:
        del doc["ops"][2]["shift"]

    with pytest.raises(ProgramError, match=r"op 'out': missing field 'shift'"):
        program_from_bytes(_rewrite(saved[1], doc_fn=drop))
    not_zip = tmp_path / "x.wtmk"
    not_zip.write_text("hello")
    with pytest.raises(ProgramError, match="not a complete program file"):
        load_program(not_zip)
    with pytest.raises(ProgramError, match="does not exist"):
        load_program(tmp_path / "nope.wtmk")
    with pytest.raises(ProgramError, match="no golden vectors"):
        load_golden(saved[0])


def test_pickled_arrays_are_never_loaded(saved: tuple[Path, bytes]) -> None:
    member = "arrays/01_fc1.weights.npy"
    buf = io.BytesIO()  # a crafted object-dtype .npy: loading it would need the pickle module
    np.lib.format.write_array_header_1_0(buf, {"descr": "|O", "fortran_order": False,
                                               "shape": (16, 16)})
    buf.write(b"\x80\x04junk")
    src = zipfile.ZipFile(io.BytesIO(saved[1]))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, buf.getvalue() if name == member else src.read(name))
    with pytest.raises(ProgramError, match="not a valid .npy array"):
        program_from_bytes(out.getvalue())
