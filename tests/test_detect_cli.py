"""Tests of `wtmkws detect` and `wtmkws eval` (in-process CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from clitools import run_cli
from test_engine import SR, background_audio, beep_clip, beep_signal, make_beep_program
from wtmkws.audio_pipeline.io import write_wav


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from wtmkws.firmware_model.program_io import save_program

    root = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(21)
    out = {"root": root}
    out["program"] = save_program(make_beep_program("stream"), root / "beep.wtmk")
    out["wprogram"] = save_program(make_beep_program("window"), root / "beep_w.wtmk")
    for i in range(6):
        write_wav(root / "pos" / f"k{i}.wav" if (root / "pos").mkdir(exist_ok=True) is None else "",
                  beep_clip(rng), sample_rate_hz=SR)
    (root / "bg").mkdir()
    for i in range(3):
        write_wav(root / "bg" / f"b{i}.wav", background_audio(rng, 10.0), sample_rate_hz=SR)
    (root / "noise").mkdir()
    write_wav(root / "noise" / "n.wav", np.round(rng.standard_normal(SR) * 2000).astype(np.int16),
              sample_rate_hz=SR)
    write_wav(root / "a.wav", beep_signal(rng, [0.7, 2.4], 3.5), sample_rate_hz=SR)
    write_wav(root / "quiet.wav", background_audio(rng, 2.0), sample_rate_hz=SR)
    (root / "empty").mkdir()
    (root / "short").mkdir()
    write_wav(root / "short" / "s.wav", background_audio(rng, 1.0), sample_rate_hz=SR)
    for lab, n in (("beep", 3), ("_background_", 3)):
        (root / "lab" / lab).mkdir(parents=True)
        for i in range(n):
            x = beep_clip(rng) if lab == "beep" else background_audio(rng, 1.0)
            write_wav(root / "lab" / lab / f"{i}.wav", x, sample_rate_hz=SR)
    return out


def test_detect_json_and_plot(files: dict[str, Path]) -> None:
    r = files["root"]
    code, out, err = run_cli(["detect", str(files["program"]), str(r / "a.wav"), str(r / "quiet.wav"),
                              "--threshold", "0.6", "--json", "--plot", str(r / "det.png")])
    assert code == 0, err
    d = json.loads(out)
    assert [len(f["events"]) for f in d["files"]] == [2, 0]
    assert {e["label"] for e in d["files"][0]["events"]} == {"beep"}
    assert d["detector"]["threshold"] == 0.6
    assert (r / "det-a.png").exists() and (r / "det-quiet.png").exists()


def test_detect_table(files: dict[str, Path]) -> None:
    code, out, err = run_cli(["detect", str(files["wprogram"]), str(files["root"] / "a.wav"), "-q"])
    assert code == 0, err
    assert "2 event(s)" in out and "beep" in out


def test_eval_wakeword_report_and_plot(files: dict[str, Path]) -> None:
    r = files["root"]
    code, out, err = run_cli(["eval", str(files["program"]), "--positives", str(r / "pos"),
                              "--background", str(r / "bg"), "--noise", str(r / "noise"),
                              "--snr", "10", "--seed", "2", "--report", str(r / "rep.json"),
                              "--plot", str(r / "det_curve.png"), "--quiet"])
    assert code == 0, err
    rep = json.loads((r / "rep.json").read_text())
    assert rep["keyword"] == "beep" and rep["n_positives"] == 6 and rep["snr_db"] == 10.0
    assert rep["miss_rate_at_1_fa_per_hour"] == 0.0
    assert (r / "det_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert "1 FA/10 h" in out


def test_eval_nonideal_and_json(files: dict[str, Path]) -> None:
    r = files["root"]
    code, out, err = run_cli(["eval", str(files["program"]), "--positives", str(r / "pos"),
                              "--background", str(r / "bg"), "--nonideal-seed", "3",
                              "--report", str(r / "rep_ni.json"), "--json"])
    assert code == 0, err
    d = json.loads(out)
    assert d["nonideal"]["seed"] == 3
    assert json.loads((r / "rep_ni.json").read_text()) == d


def test_eval_commands(files: dict[str, Path]) -> None:
    r = files["root"]
    code, out, err = run_cli(["eval", str(files["wprogram"]), "--labelled", str(r / "lab"),
                              "--report", str(r / "cmd.json"), "--plot", str(r / "conf.png"), "-q"])
    assert code == 0, err
    d = json.loads((r / "cmd.json").read_text())
    assert d["accuracy"] == 1.0 and d["confusion"] == [[3, 0], [0, 3]]
    assert (r / "conf.png").exists() and "accuracy 100.0%" in out


@pytest.mark.parametrize("args,message", [
    (["--positives", "empty", "--background", "bg"], "positives folder .* holds no audio"),
    (["--positives", "pos", "--background", "short"], "background is 1.0 s but the 6 keyword"),
    (["--positives", "pos", "--background", "bg", "--noise", "noise", "--snr", "loud"],
     "SNR 'loud' is not a number"),
    (["--positives", "pos", "--background", "bg", "--keyword", "computer"],
     "no output label 'computer'"),
    (["--positives", "pos", "--background", "bg", "--snr", "10"], "--noise and --snr go together"),
])
def test_eval_bad_input_is_one_line_exit_2(files: dict[str, Path], args: list[str], message: str
                                           ) -> None:
    import re

    r = files["root"]
    full = ["eval", str(files["program"])] + [str(r / a) if a in ("empty", "bg", "pos", "noise", "short")
                                             else a for a in args]
    code, _out, err = run_cli(full + ["--report", str(r / "x.json"), "-q"])
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and re.search(message, lines[0]), err


def test_detect_other_rate_note(files: dict[str, Path]) -> None:
    import soundfile

    r = files["root"]
    x = beep_signal(np.random.default_rng(1), [0.5], 1.5)
    soundfile.write(r / "eight.wav", x[::2], 8000, subtype="PCM_16")
    code, out, err = run_cli(["detect", str(files["program"]), str(r / "eight.wav"), "-q"])
    assert code == 0, err
    assert "resampled from 8000 Hz to 16000 Hz" in out
