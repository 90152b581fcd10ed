"""``wtmkws train`` in-process: a tiny run, and bad input -> exit 2 with one error line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
from clitools import run_cli


def _data(root: Path, labels: list[str]) -> Path:
    rng = np.random.default_rng(0)
    for k, lb in enumerate(labels):
        (root / lb).mkdir(parents=True, exist_ok=True)
        for i in range(4):
            t = np.arange(16000) / 16000
            x = 6000 * np.sin(2 * np.pi * (300 + 400 * k) * t) + rng.standard_normal(16000) * 300
            soundfile.write(str(root / lb / f"{i}.wav"), x.astype(np.int16), 16000)
    return root


@pytest.mark.slow
def test_train_cli_command_set(tmp_path: Path) -> None:
    data = _data(tmp_path / "d", ["low", "high"])
    code, out, err = run_cli(["train", str(data), "--out", str(tmp_path / "o"), "--epochs", "1",
                              "--noise-aware-epochs", "0", "--width", "8", "--clip-ms", "900",
                              "--augment-copies", "0", "--spec-masks", "1", "--channel-db", "2",
                              "--json"])
    assert code == 0, err
    rep = json.loads(out)
    assert rep["labels"] == ["high", "low"] and (tmp_path / "o" / "program.wtmk").is_file()
    aug = rep["config"]["augment"]
    assert aug["time_masks"] == 1 and aug["freq_masks"] == 1 and aug["channel_codes"] == 4.0
    assert rep["metrics"]["chip_equals_keras_bit_exact"] is True


def test_train_cli_bad_input(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(["train", str(tmp_path / "empty"), "--keyword", "x", "--out",
                              str(tmp_path / "o")])
    assert code == 2 and any(ln.startswith("error:") for ln in err.splitlines()) and "hint:" in err
    data = _data(tmp_path / "d", ["only"])
    code, _, err = run_cli(["train", str(data), "--out", str(tmp_path / "o")])
    assert code == 2 and "single class" in err
    code, _, err = run_cli(["train", str(data), "--keyword", "only", "--labels", "a,b", "--out",
                            str(tmp_path / "o")])
    assert code == 2 and "exclusive" in err
    code, _, err = run_cli(["train", str(data), "--arch", "rnn", "--out", str(tmp_path / "o")])
    assert code == 2 and "arch" in err
    code, _, err = run_cli(["train", str(data), "--channel-db", "-1", "--out",
                            str(tmp_path / "o")])
    assert code == 2 and "augment" in err
