"""`wtmkws features`: output files, several inputs, bad input -> exit 2 and nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from clitools import run_cli

from wtmkws.audio_pipeline.float_frontend import log_mel_db
from wtmkws.audio_pipeline.int_frontend import FrontendConfig, compute_codes


@pytest.fixture
def wavs(tmp_path: Path, rng: np.random.Generator) -> list[Path]:
    paths = []
    for i, n in enumerate((16000, 8000, 300)):
        x = (rng.standard_normal(n) * 2000).astype(np.int16)
        p = tmp_path / f"clip{i}.wav"
        sf.write(p, x, 16000, subtype="PCM_16")
        paths.append(p)
    return paths


def test_single_file_codes(tmp_path: Path, wavs: list[Path]) -> None:
    out = tmp_path / "f.npy"
    code, stdout, stderr = run_cli(["features", str(wavs[0]), "--out", str(out)])
    assert code == 0, stderr
    arr = np.load(out, allow_pickle=False)
    x = sf.read(wavs[0], dtype="int16")[0]
    np.testing.assert_array_equal(arr, compute_codes(x, FrontendConfig()))
    assert arr.dtype == np.uint8 and arr.shape == (98, 13)
    assert "wrote" in stdout


def test_several_files_concatenate_with_index(tmp_path: Path, wavs: list[Path]) -> None:
    out = tmp_path / "all.npy"
    code, _, stderr = run_cli(["features", *map(str, wavs), "--out", str(out), "--kind", "fbank",
                               "--quiet"])
    assert code == 0, stderr
    arr = np.load(out, allow_pickle=False)
    index = json.loads(out.with_suffix(".json").read_text())
    assert [f["n_frames"] for f in index["files"]] == [98, 48, 0]
    assert [f["start_frame"] for f in index["files"]] == [0, 98, 146]
    assert arr.shape == (146, 40) and index["shape"] == [146, 40]
    assert FrontendConfig.from_dict(index["frontend"]) == FrontendConfig(kind="fbank")
    second = sf.read(wavs[1], dtype="int16")[0]
    np.testing.assert_array_equal(arr[98:146], compute_codes(second, FrontendConfig(kind="fbank")))


def test_float_features(tmp_path: Path, wavs: list[Path]) -> None:
    out = tmp_path / "fl.npy"
    code, stdout, _ = run_cli(["features", str(wavs[1]), "--out", str(out), "--kind", "fbank",
                               "--float", "--json"])
    assert code == 0
    arr = np.load(out, allow_pickle=False)
    assert arr.dtype == np.float32
    x = sf.read(wavs[1], dtype="int16")[0]
    np.testing.assert_allclose(arr, log_mel_db(x, FrontendConfig(kind="fbank")))
    assert json.loads(stdout)["features"] == "float"


def _bad(tmp: Path) -> dict[str, Path]:
    (tmp / "empty.wav").write_bytes(b"")
    (tmp / "text.wav").write_text("hello, not audio\n" * 10)
    good = tmp / "g.wav"
    sf.write(good, np.zeros(1000, dtype=np.int16), 16000, subtype="PCM_16")
    (tmp / "trunc.wav").write_bytes(good.read_bytes()[:20])
    sf.write(tmp / "zero.wav", np.zeros(0, dtype=np.int16), 16000, subtype="PCM_16")
    nan = np.zeros(900, dtype=np.float32)
    nan[5] = np.nan
    sf.write(tmp / "nan.wav", nan, 16000, subtype="FLOAT")
    return {k: tmp / f"{k}.wav" for k in ("empty", "text", "trunc", "zero", "nan")}


@pytest.mark.parametrize("case", ["empty", "text", "trunc", "zero", "nan"])
def test_bad_file_exit_2_and_nothing_written(tmp_path: Path, wavs: list[Path], case: str) -> None:
    bad = _bad(tmp_path)[case]
    out = tmp_path / "o" / "f.npy"
    out.parent.mkdir()
    code, stdout, stderr = run_cli(["features", str(wavs[0]), str(bad), "--out", str(out)])
    assert code == 2
    lines = stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and str(bad) in lines[0]
    assert list(out.parent.iterdir()) == []


def test_wrong_kind_exit_2(tmp_path: Path, wavs: list[Path]) -> None:
    out = tmp_path / "k.npy"
    code, _, stderr = run_cli(["features", str(wavs[0]), "--out", str(out), "--kind", "mel"])
    assert code == 2 and "kind='mel'" in stderr.splitlines()[0]
    assert not out.exists()


def test_out_must_be_npy(tmp_path: Path, wavs: list[Path]) -> None:
    code, _, stderr = run_cli(["features", str(wavs[0]), "--out", str(tmp_path / "f.txt")])
    assert code == 2 and ".npy" in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in wavs)


def test_converted_formats(tmp_path: Path, rng: np.random.Generator) -> None:
    stereo24 = tmp_path / "s24.wav"
    sf.write(stereo24, rng.uniform(-0.2, 0.2, (44100, 2)), 44100, subtype="PCM_24")
    out = tmp_path / "c.npy"
    code, _, stderr = run_cli(["features", str(stereo24), "--out", str(out), "--quiet"])
    assert code == 0, stderr
    assert np.load(out, allow_pickle=False).shape == (98, 13)


def test_help_describes_several_files() -> None:
    code, stdout, _ = run_cli(["features", "--help"])
    assert code == 0 and "concatenated" in stdout and "OUT.json" in stdout
