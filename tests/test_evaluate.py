"""Tests of sdk.evaluate: the Picovoice-style stream, hit/false-alarm matching, the threshold
sweep, intervals, non-ideal mode, command-set accuracy, and the DET/confusion plots."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from test_engine import SR, background_audio, beep_clip, make_beep_program
from wtmkws.audio_pipeline.errors import ConfigError
from wtmkws.audio_pipeline.io import write_wav
from wtmkws.firmware_model.engine import DetectorConfig
from wtmkws.sdk.evaluate import (
    EvaluationError,
    build_wakeword_stream,
    evaluate_commands,
    evaluate_wakeword,
    labelled_files,
    list_audio,
    make_nonideal,
    match_events,
    poisson_rate_interval,
    wilson_interval,
)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """12 beep clips, 90 s of background in 6 files, 2 noise files."""
    root = tmp_path_factory.mktemp("evalset")
    rng = np.random.default_rng(11)
    out: dict[str, list[Path]] = {"pos": [], "bg": [], "noise": []}
    for i in range(12):
        p = root / "pos" / f"k{i:02d}.wav"
        p.parent.mkdir(exist_ok=True)
        write_wav(p, beep_clip(rng, dur_s=float(rng.uniform(0.35, 0.6))), sample_rate_hz=SR)
        out["pos"].append(p)
    for i in range(6):
        p = root / "bg" / f"b{i}.flac"
        p.parent.mkdir(exist_ok=True)
        import soundfile

        soundfile.write(p, background_audio(rng, 15.0), SR, subtype="PCM_16")
        out["bg"].append(p)
    for i in range(2):
        p = root / "noise" / f"n{i}.wav"
        p.parent.mkdir(exist_ok=True)
        write_wav(p, np.round(rng.standard_normal(SR * 3) * 3000).astype(np.int16), sample_rate_hz=SR)
        out["noise"].append(p)
    return out


def test_stream_layout(dataset: dict[str, list[Path]]) -> None:
    from wtmkws.audio_pipeline.io import load_audio

    s = build_wakeword_stream(dataset["pos"], dataset["bg"], seed=5, min_gap_s=1.0)
    kw = {str(p): load_audio(p) for p in dataset["pos"]}
    bg = np.concatenate([load_audio(p) for p in dataset["bg"]])
    assert s.spans.shape == (12, 2)
    assert s.samples.size == bg.size + sum(k.size for k in kw.values())
    assert s.background_s == pytest.approx(90.0) and s.background_hours == pytest.approx(90 / 3600)
    starts, ends = s.spans[:, 0], s.spans[:, 1]
    assert np.all(starts[1:] - ends[:-1] >= SR)  # >= 1 s of background between keywords
    assert sorted(s.keyword_files) == sorted(kw)
    mask = np.ones(s.samples.size, dtype=bool)
    for (a, b), f in zip(s.spans, s.keyword_files):
        np.testing.assert_array_equal(s.samples[a:b], kw[f])  # spliced in unchanged
        mask[a:b] = False
    np.testing.assert_array_equal(s.samples[mask], bg)  # every background sample kept, in order
    same = build_wakeword_stream(dataset["pos"], dataset["bg"], seed=5)
    np.testing.assert_array_equal(same.samples, s.samples)
    other = build_wakeword_stream(dataset["pos"], dataset["bg"], seed=6)
    assert not np.array_equal(other.spans, s.spans)
    noisy = build_wakeword_stream(dataset["pos"], dataset["bg"], noise=dataset["noise"], snr_db=10.0,
                                  seed=5)
    np.testing.assert_array_equal(noisy.spans, s.spans)  # same layout, clean or noisy
    a, b = s.spans[0]
    clean_kw = s.samples[a:b].astype(np.float64)
    added = noisy.samples[a:b].astype(np.float64) - clean_kw
    snr = 10 * np.log10(np.mean(clean_kw**2) / np.mean(added**2))
    assert snr == pytest.approx(10.0, abs=0.3)


def test_stream_bad_input(dataset: dict[str, list[Path]], tmp_path: Path) -> None:
    with pytest.raises(EvaluationError, match="background is .* but the 12 keyword"):
        build_wakeword_stream(dataset["pos"], dataset["bg"][:0] + [dataset["pos"][0]], seed=0)
    with pytest.raises(EvaluationError, match="too short to place"):
        build_wakeword_stream(dataset["pos"], dataset["bg"][:1], seed=0, min_gap_s=2.0)
    with pytest.raises(EvaluationError, match="not a number"):
        build_wakeword_stream(dataset["pos"], dataset["bg"], noise=dataset["noise"], snr_db="ten",
                              seed=0)  # type: ignore[arg-type]
    with pytest.raises(EvaluationError, match="without an SNR"):
        build_wakeword_stream(dataset["pos"], dataset["bg"], noise=dataset["noise"], seed=0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(EvaluationError, match="holds no audio"):
        list_audio(tmp_path / "empty", what="positives")
    with pytest.raises(EvaluationError, match="does not exist"):
        list_audio(tmp_path / "missing", what="positives")


def test_match_events() -> None:
    spans = np.array([[1.0, 2.0], [5.0, 6.0]])
    hit, fa, dup = match_events(np.array([0.5, 1.2, 2.4, 2.6, 5.9, 7.0]), spans, tail_s=0.5)
    assert hit.tolist() == [True, True]
    assert fa == 3  # 0.5 (before), 2.6 (after end + 0.5), 7.0
    assert dup == 1  # 2.4 is a second event in keyword 0's window
    hit, fa, dup = match_events(np.array([]), spans)
    assert hit.tolist() == [False, False] and fa == 0


def test_intervals_match_known_values() -> None:
    lo, hi = poisson_rate_interval(0, 1.0)
    assert lo == 0 and hi == pytest.approx(3.689, abs=1e-3)
    lo, hi = poisson_rate_interval(5, 2.0)
    assert lo == pytest.approx(1.6235 / 2, abs=1e-3) and hi == pytest.approx(11.668 / 2, abs=1e-3)
    lo, hi = wilson_interval(0, 10)
    assert lo == 0 and hi == pytest.approx(0.2775, abs=1e-3)
    lo, hi = wilson_interval(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-3) and hi == pytest.approx(0.7634, abs=1e-3)


def test_evaluate_wakeword_end_to_end(dataset: dict[str, list[Path]], tmp_path: Path) -> None:
    from wtmkws.sdk.plots import plot_det_curve

    prog = make_beep_program("stream")
    seen: list[tuple[int, int]] = []
    rep = evaluate_wakeword(prog, positives=dataset["pos"], background=dataset["bg"], keyword="beep",
                            seed=3, detector=DetectorConfig(smoothing_frames=5),
                            on_progress=lambda d, t: seen.append((d, t)))
    assert seen[-1][0] == seen[-1][1]
    assert rep.n_positives == 12 and rep.background_hours == pytest.approx(90 / 3600)
    by_thr = {p.threshold: p for p in rep.points}
    assert by_thr[math.inf].miss_rate == 1.0 and by_thr[math.inf].false_alarms == 0
    assert min(p.threshold for p in rep.points) < 0.01
    assert rep.points[0].false_alarms > 0  # a near-zero threshold fires on the background
    # the beep detector catches every beep without a false alarm at a sensible threshold
    assert rep.miss_rate_at_fa_per_hour(1.0) == 0.0
    op = rep.operating_point(0.1)
    assert op.false_alarms == 0 and op.hits == 12
    for p in rep.points:
        assert p.hits + p.misses == 12
        assert p.fa_per_hour == pytest.approx(p.false_alarms / rep.background_hours)
    d = rep.to_dict()
    json.dumps(d)  # JSON-safe (the +inf threshold becomes null)
    assert d["miss_rate_at_1_fa_per_10_hours"] == 0.0
    assert d["at_1_fa_per_hour"]["fa_per_hour_ci"][1] == pytest.approx(3.689 / (90 / 3600), rel=1e-3)
    assert d["detector"]["smoothing_frames"] == 5 and d["nonideal"] is None
    fa, _miss = rep.det_curve()
    assert np.all(np.diff(fa) >= 0)
    png = plot_det_curve([rep, rep], tmp_path / "det.png", names=["a", "b"])
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_evaluate_wakeword_noise_and_nonideal(dataset: dict[str, list[Path]]) -> None:
    prog = make_beep_program("stream")
    kw = dict(positives=dataset["pos"], background=dataset["bg"], keyword="beep", seed=3)
    noisy = evaluate_wakeword(prog, noise=dataset["noise"], snr_db=0.0, **kw)
    assert noisy.snr_db == 0.0
    clean = evaluate_wakeword(prog, **kw)
    assert [p.to_dict() for p in clean.points] != [p.to_dict() for p in noisy.points]
    ni = make_nonideal(prog, 4)
    a = evaluate_wakeword(prog, nonideal=ni, nonideal_seed=4, **kw)
    b = evaluate_wakeword(prog, nonideal=make_nonideal(prog, 4), nonideal_seed=4, **kw)
    assert a.nonideal is not None and a.nonideal["seed"] == 4
    assert [p.to_dict() for p in a.points] == [p.to_dict() for p in b.points]  # seeded
    assert a.miss_rate_at_fa_per_hour(1.0) <= 0.25  # the analog array costs little here


def test_wrong_keyword_is_rejected(dataset: dict[str, list[Path]]) -> None:
    with pytest.raises(ConfigError, match="no output label 'computer'"):
        evaluate_wakeword(make_beep_program("stream"), positives=dataset["pos"],
                          background=dataset["bg"], keyword="computer", seed=0)


def test_evaluate_commands(dataset: dict[str, list[Path]], tmp_path: Path) -> None:
    from wtmkws.sdk.plots import plot_confusion

    root = tmp_path / "lab"
    for i, p in enumerate(dataset["pos"][:4]):
        (root / "beep").mkdir(parents=True, exist_ok=True)
        (root / "beep" / p.name).write_bytes(p.read_bytes())
    rng = np.random.default_rng(2)
    (root / "_background_").mkdir()
    for i in range(3):
        write_wav(root / "_background_" / f"b{i}.wav", background_audio(rng, 1.5), sample_rate_hz=SR)
    write_wav(root / "_background_" / "tiny.wav", np.zeros(100, np.int16), sample_rate_hz=SR)
    files, labels = labelled_files(root)
    assert labels.count("beep") == 4 and labels.count("_background_") == 4
    for mode in ("stream", "window"):
        prog = make_beep_program(mode)
        rep = evaluate_commands(prog, files, labels)
        assert rep.accuracy == 1.0, mode
        assert rep.confusion.tolist() == [[4, 0], [0, 4]]
        assert any("zero-padded" in n for n in rep.notes)
        json.dumps(rep.to_dict())
    assert plot_confusion(rep, tmp_path / "c.png").stat().st_size > 1000
    with pytest.raises(EvaluationError, match="not outputs of program"):
        evaluate_commands(prog, files, ["yes"] * len(files))


def test_report_from_event_times_for_other_engines(dataset: dict[str, list[Path]]) -> None:
    """Another engine (e.g. PocketSphinx) evaluated on the very same stream from its event times."""
    from wtmkws.sdk.evaluate import report_from_event_times

    s = build_wakeword_stream(dataset["pos"], dataset["bg"], seed=1)
    spans = s.spans_s
    perfect = list(spans[:, 1] + 0.1)
    noisy = perfect[:6] + [spans[0, 0] - 0.5, spans[-1, 1] + 0.9]
    rep = report_from_event_times(s, {1e-30: noisy, 1e-10: perfect}, keyword="beep", engine="other")
    pts = {p.threshold: p for p in rep.points}
    assert pts[1e-10].hits == 12 and pts[1e-10].false_alarms == 0
    assert pts[1e-30].hits == 6 and pts[1e-30].false_alarms == 2
    assert pts[math.inf].miss_rate == 1.0  # "no detections" point added
    assert rep.miss_rate_at_fa_per_hour(0.1) == 0.0
    assert rep.operating_point(0.1).threshold == 1e-10


def test_det_curve_is_the_operating_curve() -> None:
    """Per FA/h the lowest miss rate reachable at or below it: never rising, matching operating_point."""
    from wtmkws.sdk.evaluate import DetPoint, WakewordReport

    pts = [DetPoint(threshold=t, hits=h, misses=10 - h, false_alarms=f, duplicates=0,
                    miss_rate=(10 - h) / 10, fa_per_hour=float(f))
           for t, h, f in [(0.9, 0, 0), (0.8, 3, 0), (0.6, 5, 2), (0.4, 4, 5), (0.2, 9, 9)]]
    report = WakewordReport(keyword="kw", engine="test", n_positives=10, background_hours=1.0,
                            stream_hours=1.0, snr_db=None, seed=0, tail_s=0.5, points=tuple(pts))
    fa, miss = report.det_curve()
    assert list(fa) == [0.0, 2.0, 5.0, 9.0]
    assert list(miss) == [0.7, 0.5, 0.5, 0.1]
    for f, m in zip(fa, miss):
        assert report.operating_point(f).miss_rate == m
