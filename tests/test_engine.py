"""Tests of the inference engine (firmware_model.engine): posteriors, smoothing, thresholds,
refractory, time alignment, and batch == streaming for any chunking.

The module also holds the hand-built "beep" programs the detect/evaluate tests use: a STREAM
program (TDNN over 5 frames -> 1 evidence unit -> 2 logits) and a WINDOW program (DENSE over a
20-frame window -> 1 -> 2 logits) whose weights are designed from the integer frontend's fbank codes
so that a 1 kHz tone burst (the synthetic "keyword") drives the "beep" posterior up and noise or
tones at other frequencies do not. No training involved.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wtmkws.audio_pipeline.errors import ConfigError
from wtmkws.firmware_model.engine import (
    DEFAULT_OUTPUT_SCALE,
    DetectorConfig,
    Event,
    InferenceEngine,
    Scores,
    events_from_scores,
    posteriors_from_outputs,
    score_audio,
    smooth_posteriors,
)
from wtmkws.firmware_model.program import (
    ArrayLayer,
    InputMode,
    InputTransform,
    LayerKind,
    Program,
    ProgramMode,
)

SR = 16000
BEEP_HZ = 1000.0
LABELS = ("_background_", "beep")


# ---------------------------------------------------------------------------------------------
# Synthetic audio


def tone(freq_hz: float, dur_s: float, amp: float) -> np.ndarray:
    """A float tone with 10 ms ramps."""
    n = int(dur_s * SR)
    t = np.arange(n) / SR
    x = amp * np.sin(2 * np.pi * freq_hz * t)
    r = min(160, n // 2)
    ramp = np.ones(n)
    ramp[:r] = np.linspace(0, 1, r)
    ramp[n - r:] = np.linspace(1, 0, r)
    return x * ramp


def noise(n: int, amp: float, rng: np.random.Generator) -> np.ndarray:
    return amp * rng.standard_normal(n)


def to16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def beep_clip(rng: np.random.Generator, *, dur_s: float = 0.5, amp: float = 6000.0) -> np.ndarray:
    """A keyword recording: 0.2 s quiet, a tone burst, 0.2 s quiet (int16)."""
    lead = int(0.2 * SR)
    burst = tone(BEEP_HZ, dur_s, amp)
    x = np.concatenate([np.zeros(lead), burst, np.zeros(lead)])
    return to16(x + noise(x.size, 30.0, rng))


def background_audio(rng: np.random.Generator, dur_s: float) -> np.ndarray:
    """Background: noise plus distractor tones at other frequencies (int16)."""
    n = int(dur_s * SR)
    x = noise(n, 200.0, rng)
    pos = 0
    while True:
        pos += int(rng.uniform(0.3, 1.5) * SR)
        f = float(rng.choice([250.0, 400.0, 2500.0, 4000.0, 6000.0]))
        d = float(rng.uniform(0.1, 0.6))
        seg = tone(f, d, float(rng.uniform(1000, 8000)))
        if pos + seg.size >= n:
            break
        x[pos:pos + seg.size] += seg
        pos += seg.size
    return to16(x)


def beep_signal(rng: np.random.Generator, beep_times_s: list[float], dur_s: float) -> np.ndarray:
    """Background with tone bursts starting at the given times (int16)."""
    x = background_audio(rng, dur_s).astype(np.float64)
    for t0 in beep_times_s:
        b = tone(BEEP_HZ, 0.5, 6000.0)
        i = int(t0 * SR)
        x[i:i + b.size] += b
    return to16(x)


# ---------------------------------------------------------------------------------------------
# Hand-built programs


def _frontend():
    from wtmkws.audio_pipeline.int_frontend import FrontendConfig

    return FrontendConfig(kind="fbank")


@functools.lru_cache(maxsize=1)
def _discriminant() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(d, mean_pos, mean_neg) over the 40 fbank codes: beep frames vs background frames."""
    from wtmkws.audio_pipeline.int_frontend import compute_codes

    rng = np.random.default_rng(7)
    cfg = _frontend()
    pos = compute_codes(to16(tone(BEEP_HZ, 1.0, 6000.0) + noise(SR, 200.0, rng)), cfg)[5:-5]
    neg = np.concatenate([compute_codes(background_audio(rng, 20.0), cfg),
                          compute_codes(to16(noise(4 * SR, 2.0, rng)), cfg),
                          compute_codes(np.zeros(SR, np.int16), cfg)])
    mp, mn = pos.mean(axis=0), neg.mean(axis=0)
    return mp - mn, mp, mn


def _evidence_weights(n_frames: int, shift: int, target: float = 90.0) -> tuple[np.ndarray, np.ndarray]:
    """int8 weights (n_frames*40, 1) and bias cells (8, 1) for the evidence unit."""
    d, mp, mn = _discriminant()
    d = np.where(np.abs(d) >= 0.1 * np.abs(d).max(), d, 0.0)
    m = (mp + mn) / 2
    d0 = d - (d @ m) / (m @ m) * m  # orthogonal to the mid-point of the two classes
    # add back a little of m so that an all-zero input (digital silence) sits at evidence -target
    # while the class mid-point stays at 0: w @ m * n_frames == target * 2**shift == -bias
    big = target * 2**shift
    alpha = 2 * big / (n_frames * float(d0 @ (mp - mn)))
    for _ in range(4):
        beta = big / (alpha * n_frames)
        d = d0 + beta * m / (m @ m)
        alpha = 2 * big / (n_frames * float(d @ (mp - mn)))
    w = np.clip(np.round(alpha * d), -127, 127)
    mid = n_frames * float(w @ (mp + mn)) / 2
    bias_total = -int(round(mid / 128))
    rows = 8
    per = np.full(rows, bias_total // rows)
    per[: bias_total - per.sum()] += 1
    assert np.abs(per).max() <= 127, "bias does not fit the bias rows"
    weights = np.tile(w, n_frames).astype(np.int8)[:, None]
    return weights, per.astype(np.int8)[:, None]


def _logit_layer(name: str, source: str, mode: ProgramMode) -> ArrayLayer:
    w = np.array([[-127, 127]], dtype=np.int8)
    bias = np.zeros((8, 2), dtype=np.int8)
    bias[0] = -w[0]  # folds the OFFSET correction -128 * sum_i W[i][j] (bias code 128)
    return ArrayLayer(name=name, kind=LayerKind.DENSE, inputs=(source,), weights=w, bias_cells=bias,
                      shift=8, transform=InputTransform(mode=InputMode.OFFSET))


@functools.lru_cache(maxsize=1)
def make_beep_program(mode: str = "stream") -> Program:
    """The hand-built beep detector (STREAM: delay 4 frames; WINDOW: 20-frame window)."""
    cfg = _frontend()
    if mode == "stream":
        ctx = (0, 1, 2, 3, 4)
        w, b = _evidence_weights(len(ctx), 8)
        l1 = ArrayLayer(name="evidence", kind=LayerKind.TDNN, inputs=("input",), weights=w,
                        bias_cells=b, shift=8, context=ctx)
        pmode, frames = ProgramMode.STREAM, 1
    else:
        frames = 20
        w, b = _evidence_weights(frames, 10, target=60.0)
        l1 = ArrayLayer(name="evidence", kind=LayerKind.DENSE, inputs=("input",), weights=w,
                        bias_cells=b, shift=10)
        pmode = ProgramMode.WINDOW
    l2 = _logit_layer("logits", "evidence", pmode)
    return Program(name=f"beep_{mode}", mode=pmode, input_width=cfg.n_features, input_frames=frames,
                   ops=(l1, l2), labels=LABELS, frontend=cfg.to_dict(),
                   metadata={"output_scale": 1.0 / 16})


# ---------------------------------------------------------------------------------------------
# Tests


def test_beep_program_is_valid_and_discriminates(rng: np.random.Generator) -> None:
    from wtmkws.firmware_model.validate import stream_delay_frames, validate_program

    for mode in ("stream", "window"):
        prog = make_beep_program(mode)
        validate_program(prog)
        det = DetectorConfig(smoothing_frames=1)
        on = score_audio(prog, to16(tone(BEEP_HZ, 1.0, 6000.0)), det)
        off = score_audio(prog, background_audio(rng, 5.0), det)
        assert np.median(on.posteriors[:, 1]) > 0.9, mode
        assert np.median(off.posteriors[:, 1]) < 0.1, mode
    assert stream_delay_frames(make_beep_program("stream")) == 4


def test_time_alignment_stream() -> None:
    from wtmkws.audio_pipeline.int_frontend import num_frames

    prog = make_beep_program("stream")
    x = np.zeros(SR, dtype=np.int16)
    sc = score_audio(prog, x, DetectorConfig())
    cfg = _frontend()
    t = num_frames(x.size, cfg)
    assert sc.times_s.shape == (t - 4,)
    # output j ends at input frame j + 4, which ends at sample (j+4)*hop + window
    expect = ((np.arange(t - 4) + 4) * cfg.hop_samples + cfg.window_samples) / SR
    np.testing.assert_array_equal(sc.times_s, expect)
    assert sc.times_s[-1] <= x.size / SR


def test_time_alignment_window() -> None:
    prog = make_beep_program("window")
    det = DetectorConfig(window_hop_frames=3)
    x = np.zeros(SR, dtype=np.int16)
    sc = score_audio(prog, x, det)
    n_frames = 1 + (SR - 400) // 160  # 98
    n_win = 1 + (n_frames - 20) // 3
    assert sc.posteriors.shape == (n_win, 2)
    np.testing.assert_allclose(sc.times_s, ((np.arange(n_win) * 3 + 19) * 160 + 400) / SR)


def test_posteriors_softmax_with_scale() -> None:
    prog = make_beep_program("stream")
    q = np.array([[0, 0], [-64, 64], [127, -128]], dtype=np.int8)
    p = posteriors_from_outputs(prog, q)
    z = q.astype(np.float64) / 16
    ref = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(p, ref, rtol=1e-12)
    # default scale when the metadata has none
    from dataclasses import replace

    bare = replace(prog, metadata={})
    z = q.astype(np.float64) * DEFAULT_OUTPUT_SCALE
    np.testing.assert_allclose(posteriors_from_outputs(bare, q),
                               np.exp(z) / np.exp(z).sum(axis=1, keepdims=True), rtol=1e-12)
    with pytest.raises(Exception, match="labels"):
        posteriors_from_outputs(prog, np.zeros((2, 3), dtype=np.int8))


def test_smoothing_is_causal_moving_average_and_chunkable(rng: np.random.Generator) -> None:
    p = rng.random((50, 3))
    s = 7
    full = smooth_posteriors(p, s)
    ref = np.stack([p[max(0, t - s + 1):t + 1].mean(axis=0) for t in range(50)])
    np.testing.assert_allclose(full, ref, rtol=1e-12)
    # in two pieces with the history carried over: bitwise equal
    hist = np.zeros((s - 1, 3))
    a = smooth_posteriors(p[:13], s, history=hist, frames_before=0)
    hist = np.concatenate([hist, p[:13]])[-(s - 1):]
    b = smooth_posteriors(p[13:], s, history=hist, frames_before=13)
    np.testing.assert_array_equal(np.concatenate([a, b]), full)


def _scores(values: list[float], step_s: float = 0.01) -> Scores:
    v = np.array(values, dtype=np.float32)
    post = np.stack([1 - v, v], axis=1).astype(np.float32)
    return Scores(times_s=(np.arange(v.size) + 1) * step_s, posteriors=post, labels=LABELS)


def test_events_threshold_refractory_background() -> None:
    # two bumps 0.3 s apart, then one 2 s later
    v = [0.0] * 300
    for i in (50, 80, 280):
        v[i] = 0.9
    sc = _scores(v)
    ev = events_from_scores(sc, LABELS, DetectorConfig(threshold=0.5, refractory_ms=1000))
    assert [round(e.time_s, 2) for e in ev] == [0.51, 2.81]
    assert all(e.label == "beep" and e.score == pytest.approx(0.9) for e in ev)
    ev = events_from_scores(sc, LABELS, DetectorConfig(threshold=0.5, refractory_ms=200))
    assert len(ev) == 3
    # per-label override; the threshold itself fires (>=)
    ev = events_from_scores(sc, LABELS, DetectorConfig(threshold=0.1, thresholds={"beep": 0.95}))
    assert ev == []
    ev = events_from_scores(sc, LABELS, DetectorConfig(thresholds={"beep": np.float32(0.9).item()}))
    assert len(ev) == 2
    # the background label has posterior ~1 almost everywhere but never fires
    assert all(e.label != "_background_" for e in
               events_from_scores(sc, LABELS, DetectorConfig(threshold=0.05, refractory_ms=0)))


def test_detector_config_roundtrip_and_validation() -> None:
    d = DetectorConfig(threshold=0.7, thresholds={"beep": 0.8}, smoothing_frames=3,
                       refractory_ms=500, window_hop_frames=4)
    assert DetectorConfig.from_dict(d.to_dict()) == d
    assert d.threshold_for("beep") == 0.8 and d.threshold_for("x") == 0.7
    for bad in ({"smoothing_frames": 0}, {"refractory_ms": -1.0}, {"threshold": float("nan")},
                {"window_hop_frames": 0}):
        with pytest.raises(ConfigError):
            DetectorConfig(**bad)
    with pytest.raises(ConfigError, match="unknown"):
        DetectorConfig.from_dict({"treshold": 0.5})


def _stream_events(prog: Program, x: np.ndarray, det: DetectorConfig, chunks: list[int]
                   ) -> tuple[list[Event], np.ndarray]:
    eng = InferenceEngine(prog, det)
    events: list[Event] = []
    posts = []
    i = 0
    k = 0
    while i < x.size:
        n = chunks[k % len(chunks)]
        k += 1
        events += eng.push(x[i:i + n])
        assert eng.last_scores is not None
        posts.append(eng.last_scores.posteriors)
        i += n
    return events, np.concatenate(posts)


@pytest.mark.parametrize("mode", ["stream", "window"])
def test_batch_equals_streaming(mode: str, rng: np.random.Generator) -> None:
    prog = make_beep_program(mode)
    beeps = [1.0, 3.2, 4.4, 6.5]
    x = beep_signal(rng, beeps, 8.0)
    det = DetectorConfig(threshold=0.6, smoothing_frames=3 if mode == "window" else 5,
                         refractory_ms=900, window_hop_frames=4)
    sc = score_audio(prog, x, det)
    batch = events_from_scores(sc, prog.labels, det)
    # every beep is found, shortly after it starts, and nothing else
    assert len(batch) == len(beeps)
    for e, t0 in zip(batch, beeps):
        assert t0 < e.time_s < t0 + 0.5 + 0.5
    for chunks in ([160], [1, 7, 159, 161, 1000], [4097], [x.size]):
        ev, posts = _stream_events(prog, x, det, chunks)
        assert ev == batch
        np.testing.assert_array_equal(posts, sc.posteriors)


@settings(deadline=None, max_examples=12)
@given(chunks=st.lists(st.integers(min_value=1, max_value=3000), min_size=1, max_size=6),
       smoothing=st.integers(min_value=1, max_value=9), refr=st.sampled_from([0.0, 150.0, 700.0]))
def test_streaming_any_chunking_property(chunks: list[int], smoothing: int, refr: float) -> None:
    prog = make_beep_program("stream")
    x = _prop_signal()
    det = DetectorConfig(threshold=0.5, smoothing_frames=smoothing, refractory_ms=refr)
    batch = events_from_scores(score_audio(prog, x, det), prog.labels, det)
    ev, _ = _stream_events(prog, x, det, chunks)
    assert ev == batch


@functools.lru_cache(maxsize=1)
def _prop_signal() -> np.ndarray:
    return beep_signal(np.random.default_rng(3), [0.5, 1.4, 2.6], 3.5)


def test_reset_restarts_the_stream(rng: np.random.Generator) -> None:
    prog = make_beep_program("stream")
    x = beep_signal(rng, [0.6], 2.0)
    det = DetectorConfig()
    eng = InferenceEngine(prog, det)
    first = eng.push(x)
    eng.reset()
    assert eng.outputs_emitted == 0
    assert eng.push(x) == first and len(first) == 1


def test_long_audio_is_chunked_exactly(rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
                                       ) -> None:
    import wtmkws.firmware_model.engine as eng

    prog = make_beep_program("stream")
    x = beep_signal(rng, [0.5, 2.0], 3.0)
    det = DetectorConfig()
    ref = score_audio(prog, x, det)
    monkeypatch.setattr(eng, "_CHUNK_AUDIO_FRAMES", 37)
    monkeypatch.setattr(eng, "_CHUNK_OUTPUT_FRAMES", 23)
    got = score_audio(prog, x, det)
    np.testing.assert_array_equal(got.posteriors, ref.posteriors)
    np.testing.assert_array_equal(got.times_s, ref.times_s)
    wprog = make_beep_program("window")
    ref = score_audio(wprog, x, det)
    monkeypatch.setattr(eng, "_CHUNK_WINDOWS", 5)
    np.testing.assert_array_equal(score_audio(wprog, x, det).posteriors, ref.posteriors)


def test_short_audio_gives_no_scores() -> None:
    prog = make_beep_program("stream")
    sc = score_audio(prog, np.zeros(500, dtype=np.int16), DetectorConfig())
    assert sc.posteriors.shape == (0, 2)
    assert events_from_scores(sc, prog.labels, DetectorConfig()) == []
    eng = InferenceEngine(prog, DetectorConfig())
    assert eng.push(np.zeros(0, dtype=np.int16)) == []


def test_nonideal_batch_equals_streaming(rng: np.random.Generator) -> None:
    from wtmkws.sdk.evaluate import make_nonideal

    prog = make_beep_program("stream")
    x = beep_signal(rng, [0.7, 2.2], 3.0)
    det = DetectorConfig(threshold=0.6)
    chip = make_nonideal(prog, 9)
    sc = score_audio(prog, x, det, nonideal=chip)
    assert not np.array_equal(sc.posteriors, score_audio(prog, x, det).posteriors)
    ev, posts = _stream_events(prog, x, det, [333, 17])
    ev_ni, posts_ni = [], []
    eng = InferenceEngine(prog, det, nonideal=make_nonideal(prog, 9))
    for i in range(0, x.size, 333):
        ev_ni += eng.push(x[i:i + 333])
        posts_ni.append(eng.last_scores.posteriors)
    np.testing.assert_array_equal(np.concatenate(posts_ni), sc.posteriors)
    assert ev_ni == events_from_scores(sc, prog.labels, det)
    assert len(ev) == 2
