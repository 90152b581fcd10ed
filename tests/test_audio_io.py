"""Audio I/O: conversion rules, bad files, block reader, atomic WAV writer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from wtmkws.audio_pipeline.errors import AudioFormatError, ConfigError
from wtmkws.audio_pipeline.io import (
    float_to_int16,
    iter_audio_blocks,
    load_audio,
    to_int16_mono,
    write_wav,
)


@pytest.fixture
def speechlike(rng: np.random.Generator) -> np.ndarray:
    return (rng.standard_normal(16000) * 3000).astype(np.int16)


def test_pcm16_is_sample_exact(tmp_path: Path, speechlike: np.ndarray) -> None:
    for fmt in ("WAV", "FLAC"):
        path = tmp_path / f"a.{fmt.lower()}"
        sf.write(path, speechlike, 16000, format=fmt, subtype="PCM_16")
        out = load_audio(path)
        assert out.dtype == np.int16
        np.testing.assert_array_equal(out, speechlike)


def test_24_and_8_bit_are_converted(tmp_path: Path, speechlike: np.ndarray) -> None:
    sf.write(tmp_path / "a24.wav", speechlike, 16000, subtype="PCM_24")
    np.testing.assert_array_equal(load_audio(tmp_path / "a24.wav"), speechlike)
    v24 = np.array([0x7FFFFF, -0x800000, 0x000080, 0x00017F, -0x000081], dtype=np.int32) << 8
    sf.write(tmp_path / "b24.wav", v24, 16000, subtype="PCM_24")
    # top 16 bits, round half to even: 0x80/0x100 = 0.5 -> 0; 0x17F/0x100 -> 1; clip at 32767
    assert load_audio(tmp_path / "b24.wav").tolist() == [32767, -32768, 0, 1, -1]
    exact8 = (speechlike // 256 * 256).astype(np.int16)  # 8-bit values: v8 * 256 exactly
    for subtype in ("PCM_U8", "PCM_S8"):
        fmt = "WAV" if subtype == "PCM_U8" else "AIFF"
        path = tmp_path / f"a8.{fmt.lower()}"
        sf.write(path, exact8, 16000, format=fmt, subtype=subtype)
        np.testing.assert_array_equal(load_audio(path), exact8)


def test_multichannel_is_averaged(tmp_path: Path) -> None:
    stereo = np.array([[1000, 3000], [-5, -6], [32767, 32767]], dtype=np.int16)
    sf.write(tmp_path / "s.wav", stereo, 16000, subtype="PCM_16")
    assert load_audio(tmp_path / "s.wav").tolist() == [2000, -6, 32767]  # -5.5 -> -6 (even)


def test_resampling_is_deterministic_and_matches_librosa(tmp_path: Path,
                                                         rng: np.random.Generator) -> None:
    import librosa

    y = rng.uniform(-0.5, 0.5, (44100, 2))
    sf.write(tmp_path / "r.ogg", y, 44100, format="OGG", subtype="VORBIS")
    a = load_audio(tmp_path / "r.ogg")
    b = load_audio(tmp_path / "r.ogg")
    np.testing.assert_array_equal(a, b)
    decoded, rate = sf.read(tmp_path / "r.ogg", dtype="float64")
    ref = librosa.resample(decoded.mean(axis=1), orig_sr=rate, target_sr=16000,
                           res_type="soxr_hq")
    np.testing.assert_array_equal(a, float_to_int16(ref))
    assert a.shape == (16000,)


def test_to_int16_mono_rules() -> None:
    assert to_int16_mono(np.array([0.5, -1.0, 1.0, 2.0, 1.5 / 32768]), 16000).tolist() == \
        [16384, -32768, 32767, 32767, 2]
    x = np.array([1, 2, 3], dtype=np.int16)
    out = to_int16_mono(x, 16000)
    assert out.tolist() == [1, 2, 3] and out is not x
    assert to_int16_mono(np.array([65536 * 3 + 32768], dtype=np.int32), 16000).tolist() == [4]
    assert to_int16_mono(np.zeros((8000, 3)), 8000).shape == (16000,)
    with pytest.raises(AudioFormatError, match="NaN"):
        to_int16_mono(np.array([0.0, np.inf]), 16000)
    with pytest.raises(AudioFormatError, match="dtype"):
        to_int16_mono(np.zeros(4, dtype=np.uint16), 16000)
    with pytest.raises(ConfigError, match="source_rate_hz"):
        to_int16_mono(np.zeros(4), 0)


def _bad_files(tmp: Path) -> dict[str, tuple[Path, str]]:
    good = tmp / "good.wav"
    sf.write(good, np.zeros(1000, dtype=np.int16), 16000, subtype="PCM_16")
    raw = good.read_bytes()
    (tmp / "empty.wav").write_bytes(b"")
    (tmp / "text.wav").write_text("this is not audio\n" * 20)
    (tmp / "trunc.wav").write_bytes(raw[:30])
    sf.write(tmp / "zero.wav", np.zeros(0, dtype=np.int16), 16000, subtype="PCM_16")
    nan = np.zeros(800, dtype=np.float32)
    nan[10] = np.nan
    sf.write(tmp / "nan.wav", nan, 16000, subtype="FLOAT")
    inf = np.zeros(800, dtype=np.float32)
    inf[3] = np.inf
    sf.write(tmp / "inf.wav", inf, 16000, subtype="FLOAT")
    return {
        "empty": (tmp / "empty.wav", "empty file"),
        "text": (tmp / "text.wav", "not a readable audio file"),
        "trunc": (tmp / "trunc.wav", "not a readable audio file"),
        "zero": (tmp / "zero.wav", "no samples"),
        "nan": (tmp / "nan.wav", "NaN"),
        "inf": (tmp / "inf.wav", "NaN/inf"),
        "missing": (tmp / "missing.wav", "no such file"),
        "folder": (tmp, "folder"),
    }


@pytest.mark.parametrize("case", ["empty", "text", "trunc", "zero", "nan", "inf", "missing",
                                  "folder"])
def test_bad_files_raise_naming_the_file(tmp_path: Path, case: str) -> None:
    path, match = _bad_files(tmp_path)[case]
    with pytest.raises(AudioFormatError, match=match) as info:
        load_audio(path)
    assert str(path) in info.value.message and "\n" not in info.value.message
    assert info.value.hint
    with pytest.raises(AudioFormatError, match=match):
        list(iter_audio_blocks(path, block_samples=100))


@pytest.mark.parametrize("block", [1, 160, 999, 16000, 50000])
def test_blocks_concatenate_to_load_audio(tmp_path: Path, speechlike: np.ndarray,
                                          block: int) -> None:
    path = tmp_path / "long.flac"
    sf.write(path, speechlike, 16000, subtype="PCM_16")
    blocks = list(iter_audio_blocks(path, block_samples=block))
    assert all(b.shape[0] == block for b in blocks[:-1]) and 0 < blocks[-1].shape[0] <= block
    np.testing.assert_array_equal(np.concatenate(blocks), load_audio(path))


def test_blocks_with_resampling(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "r.wav"
    sf.write(path, rng.uniform(-0.3, 0.3, (22050 * 2, 2)), 22050, subtype="FLOAT")
    joined = np.concatenate(list(iter_audio_blocks(path, block_samples=3000)))
    whole = load_audio(path)
    assert joined.shape == whole.shape
    assert np.abs(joined.astype(np.int32) - whole).max() <= 1
    with pytest.raises(ConfigError, match="block_samples"):
        next(iter_audio_blocks(path, block_samples=0))


def test_write_wav_round_trip_and_atomic(tmp_path: Path, speechlike: np.ndarray) -> None:
    path = tmp_path / "out.wav"
    write_wav(path, speechlike, sample_rate_hz=16000)
    np.testing.assert_array_equal(load_audio(path), speechlike)
    assert sf.info(path).subtype == "PCM_16"
    with pytest.raises(AudioFormatError, match="int16"):
        write_wav(tmp_path / "bad.wav", speechlike.astype(np.float32), sample_rate_hz=16000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav"]


def test_shared_speech_loads(shared_dir: Path) -> None:
    path = shared_dir / "data" / "streams" / "picovoice_multiple_keywords.flac"
    x = load_audio(path)
    assert x.dtype == np.int16 and x.shape[0] == sf.info(path).frames
