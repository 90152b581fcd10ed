"""StreamingFrontend: any chunking gives exactly compute_codes' frames; reset starts over."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wtmkws.audio_pipeline.int_frontend import FrontendConfig, compute_codes
from wtmkws.audio_pipeline.streaming import StreamingFrontend


def _signal(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    x = 6000 * np.sin(2 * np.pi * 440 * t * (1 + t)) + rng.normal(0, 500, n)
    return x.astype(np.int16)


def _stream(fe: StreamingFrontend, x: np.ndarray, sizes: list[int]) -> np.ndarray:
    out, pos, i = [], 0, 0
    while pos < x.shape[0]:
        size = sizes[i % len(sizes)]
        out.append(fe.push(x[pos:pos + size]))
        pos += size
        i += 1
    return np.concatenate(out)


@pytest.mark.parametrize("kind", ["mfcc", "fbank"])
@pytest.mark.parametrize("chunk", [1, 160, 16000, 399, 401])
def test_chunked_equals_batch(kind: str, chunk: int) -> None:
    config = FrontendConfig(kind=kind)
    x = _signal(1, 16000 * 2 + 123)
    fe = StreamingFrontend(config)
    got = _stream(fe, x, [chunk])
    expected = compute_codes(x, config)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, expected)
    assert fe.frames_emitted == expected.shape[0]


@settings(deadline=None, max_examples=25)
@given(sizes=st.lists(st.integers(0, 3000), min_size=1, max_size=20).filter(any),
       window_hop=st.sampled_from([(25.0, 10.0), (30.0, 20.0), (25.0, 25.0)]))
def test_random_chunk_sizes(sizes: list[int], window_hop: tuple[float, float]) -> None:
    config = FrontendConfig(window_ms=window_hop[0], hop_ms=window_hop[1], kind="fbank")
    x = _signal(2, 9000)
    fe = StreamingFrontend(config)
    np.testing.assert_array_equal(_stream(fe, x, sizes), compute_codes(x, config))


def test_reset_starts_a_new_stream() -> None:
    config = FrontendConfig()
    x = _signal(3, 5000)
    fe = StreamingFrontend(config)
    fe.push(_signal(4, 1234))
    assert fe.frames_emitted > 0 and fe.buffered_samples > 0
    fe.reset()
    assert fe.frames_emitted == 0 and fe.buffered_samples == 0
    np.testing.assert_array_equal(_stream(fe, x, [700]), compute_codes(x, config))


def test_short_pushes_emit_nothing_until_a_window_is_full() -> None:
    fe = StreamingFrontend(FrontendConfig(kind="fbank"))
    assert fe.push(np.zeros(0, dtype=np.int16)).shape == (0, 40)
    assert fe.push(np.zeros(399, dtype=np.int16)).shape == (0, 40)
    assert fe.push(np.zeros(1, dtype=np.int16)).shape == (1, 40)
    assert fe.buffered_samples == 240
