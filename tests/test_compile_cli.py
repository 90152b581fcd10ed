"""The compile command: writes a program and report; bad input is a one-line error, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from clitools import run_cli


def test_cli_compiles_public_model(tmp_path: Path, shared_dir: Path, rng) -> None:
    from wtmkws.audio_pipeline.io import load_audio
    from wtmkws.sdk.model_frontends import clip_windows, features_to_codes, micro_speech_features

    files = sorted((shared_dir / "data" / "digits" / "fsdd").glob("*.flac"))[::25]
    x = np.stack([micro_speech_features(clip_windows(load_audio(f), max_windows=1)[0])
                  for f in files])
    np.save(tmp_path / "c.npy", features_to_codes(x))
    code, out, err = run_cli(["compile", str(shared_dir / "models" / "micro_speech_quantized.tflite"),
                              "--calib", str(tmp_path / "c.npy"), "--out", str(tmp_path / "p.wtmk"),
                              "--report", str(tmp_path / "r.json")])
    assert code == 0, err
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["labels"] == ["silence", "unknown", "yes", "no"]
    assert rep["fidelity"]["ideal"]["output"]["cosine_mean"] > 0.98
    assert (tmp_path / "p.wtmk").stat().st_size > 0 and "fidelity" in out


def test_cli_bad_inputs_exit_2(tmp_path: Path, shared_dir: Path) -> None:
    bad = tmp_path / "m.tflite"
    bad.write_bytes(b"nope")
    np.save(tmp_path / "c.npy", np.zeros((100, 49, 40), np.uint8))
    code, _, err = run_cli(["compile", str(bad), "--calib", str(tmp_path / "c.npy"), "--out",
                            str(tmp_path / "p.wtmk")])
    assert code == 2 and err.startswith("error:") and "not a TFLite flatbuffer" in err
    model = shared_dir / "models" / "micro_speech_quantized.tflite"
    np.save(tmp_path / "few.npy", np.zeros((20, 49, 40), np.uint8))
    code, _, err = run_cli(["compile", str(model), "--calib", str(tmp_path / "few.npy"), "--out",
                            str(tmp_path / "p.wtmk")])
    assert code == 2 and "20 examples, at least 100" in err
    np.save(tmp_path / "shape.npy", np.zeros((120, 49, 10), np.uint8))
    code, _, err = run_cli(["compile", str(model), "--calib", str(tmp_path / "shape.npy"),
                            "--out", str(tmp_path / "p.wtmk")])
    assert code == 2 and "does not match the model input (N, 49, 40)" in err
    assert len(err.strip().splitlines()) <= 2
