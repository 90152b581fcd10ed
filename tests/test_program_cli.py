"""``wtmkws program inspect`` and ``wtmkws emulate`` run in-process."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from clitools import run_cli
from programgen import tiny_stream_program
from wtmkws.firmware_model.emulator import run, run_layers
from wtmkws.firmware_model.noise import NonIdealChip, NonIdealConfig
from wtmkws.firmware_model.program_io import load_program, save_program


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    program = save_program(tiny_stream_program(), tmp_path / "tiny.wtmk")
    codes = np.random.default_rng(0).integers(0, 256, size=(25, 13), dtype=np.uint8)
    feats = tmp_path / "codes.npy"
    np.save(feats, codes)
    return program, feats, codes


def test_inspect_shows_layers_placement_cost_and_map(files: tuple[Path, Path, np.ndarray], tmp_path: Path) -> None:
    program, _, _ = files
    code, out, err = run_cli(["program", "inspect", str(program), "--map", str(tmp_path / "map.png")])
    assert code == 0, err
    for text in ("tdnn0", "placement", "cost per frame", "budgets: layers 3/40", "delay 2 frames"):
        assert text in out
    assert (tmp_path / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, out, _ = run_cli(["program", "inspect", str(program), "--json"])
    info = json.loads(out)
    assert [o["name"] for o in info["ops"]] == ["tdnn0", "fc1", "out"]
    assert info["budgets"]["max_layers"] == 40 and info["cost"]["macs"] == 39 * 16 + 16 * 16 + 16 * 3


def test_emulate_writes_output_and_layers(files: tuple[Path, Path, np.ndarray], tmp_path: Path) -> None:
    program, feats, codes = files
    out = tmp_path / "out.npy"
    code, _, err = run_cli(["emulate", str(program), str(feats), "--out", str(out), "--layers",
                            str(tmp_path / "layers")])
    assert code == 0, err
    prog = load_program(program)
    assert np.array_equal(np.load(out), run(prog, codes))
    for name, v in run_layers(prog, codes).items():
        assert np.array_equal(np.load(tmp_path / "layers" / f"{name}.npy"), v)


def test_emulate_with_noise_matches_the_library(files: tuple[Path, Path, np.ndarray], tmp_path: Path) -> None:
    program, feats, codes = files
    out = tmp_path / "noisy.npy"
    code, _, err = run_cli(["emulate", str(program), str(feats), "--out", str(out), "--noise-seed", "5",
                            "--reads", "2"])
    assert code == 0, err
    prog = load_program(program)
    chip = NonIdealChip.create(prog, NonIdealConfig(reads=2), seed=5)
    assert np.array_equal(np.load(out), run(prog, codes, nonideal=chip))


@pytest.mark.parametrize("arr, message", [
    (np.full((5, 13), 300, dtype=np.int16), "error: input code 300 outside 0..255"),
    (np.zeros((5, 12), dtype=np.uint8), "error: input codes are 12 wide; program 'tiny_stream' expects 13"),
    (np.zeros((5, 13), dtype=np.float64), "error: input codes have dtype float64"),
])
def test_emulate_bad_codes_exit_2_with_one_line(files: tuple[Path, Path, np.ndarray], tmp_path: Path,
                                                arr: np.ndarray, message: str) -> None:
    program, _, _ = files
    bad = tmp_path / "bad.npy"
    np.save(bad, arr)
    code, out, err = run_cli(["emulate", str(program), str(bad), "--out", str(tmp_path / "o.npy")])
    assert code == 2
    assert err.splitlines()[0].startswith(message)
    assert not (tmp_path / "o.npy").exists()


def test_bad_program_file_and_options_exit_2(files: tuple[Path, Path, np.ndarray], tmp_path: Path) -> None:
    program, feats, _ = files
    cut = tmp_path / "cut.wtmk"
    cut.write_bytes(program.read_bytes()[:100])
    code, _, err = run_cli(["program", "inspect", str(cut)])
    assert code == 2 and "not a complete program file" in err.splitlines()[0]
    code, _, err = run_cli(["emulate", str(program), str(feats), "--out", str(tmp_path / "o.npy"), "--reads", "3"])
    assert code == 2 and "--reads 3 must be 1, 2 or 4" in err
