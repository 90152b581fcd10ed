"""Audio I/O: any file soundfile reads -> 16 kHz mono int16; block reader; atomic WAV writer.

Conversion rules (the same in :func:`load_audio`, :func:`to_int16_mono` and
:func:`iter_audio_blocks`):

- 16-bit PCM files are read as int16 and are sample-exact when no mixing or resampling is needed.
- Other integer PCM (8-bit signed/unsigned, 24-bit, 32-bit) is read as left-justified int32 and
  reduced to int16 by ``round_half_even(v / 65536)``, clipped to int16 (8-bit becomes
  ``v8 * 256`` exactly; 24-bit keeps its top 16 bits, rounded).
- Float, Vorbis, Opus, MP3 (and any other compressed) data is read as float64 in [-1, 1].
- Several channels are averaged (float64 mean) to mono.
- A different sample rate is resampled with ``soxr.resample(..., quality="HQ")`` (the same as
  ``librosa.resample(res_type="soxr_hq")``) in float64, the method used for ``../shared/data``.
- float64 -> int16: ``clip(round_half_even(y * 32768), -32768, 32767)``, no dither.

All of it is deterministic on a given build. soxr may use SIMD code paths, so another CPU can in
rare cases round a resampled sample to the neighbouring int16 value; 16 kHz int16 mono input is
never touched. Files soundfile cannot read (not audio, truncated or empty headers), files with no
samples and float data with NaN/inf raise :class:`AudioFormatError` naming the file.

Example:
    >>> import numpy as np
    >>> to_int16_mono(np.array([0.0, 0.5, -1.0, 1.0]), 16000).tolist()
    [0, 16384, -32768, 32767]
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from wtmkws.audio_pipeline.atomic import atomic_path
from wtmkws.audio_pipeline.errors import AudioFormatError, ConfigError

__all__ = ["float_to_int16", "iter_audio_blocks", "load_audio", "to_int16_mono", "write_wav"]

_PCM16 = {"PCM_16"}
_PCM_INT = {"PCM_S8", "PCM_U8", "PCM_24", "PCM_32"}


def float_to_int16(y: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] to int16: ``clip(round_half_even(y * 32768), -32768, 32767)``.

    Args:
        y: float array of any shape (values beyond [-1, 1] saturate).

    Returns:
        int16 array of the same shape.

    Raises:
        AudioFormatError: y contains NaN or inf.
    """
    y = np.asarray(y, dtype=np.float64)
    if y.size and not np.isfinite(y).all():
        bad = int((~np.isfinite(y)).sum())
        raise AudioFormatError(f"audio contains {bad} NaN/inf sample(s)",
                               hint="fix the source audio; wtmkws does not guess missing samples")
    return np.clip(np.rint(y * 32768.0), -32768, 32767).astype(np.int16)


def _check_rate(name: str, rate: int) -> None:
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or not 1 <= rate <= 768000:
        raise ConfigError(f"{name}={rate!r}: must be an integer sample rate in 1..768000 Hz",
                          hint="pass the rate in Hz, e.g. 16000")


def _resample(y: np.ndarray, source_rate_hz: int, sample_rate_hz: int) -> np.ndarray:
    import soxr

    if y.shape[0] == 0:
        return y
    return np.asarray(soxr.resample(y, source_rate_hz, sample_rate_hz, quality="HQ"),
                      dtype=np.float64)


def to_int16_mono(data: np.ndarray, source_rate_hz: int, *,
                  sample_rate_hz: int = 16000) -> np.ndarray:
    """Convert decoded audio to mono int16 at ``sample_rate_hz``.

    Args:
        data: (n,) or (n, channels) audio: float in [-1, 1], int16, or left-justified int32.
        source_rate_hz: sample rate of ``data`` in Hz.
        sample_rate_hz: wanted sample rate in Hz.

    Returns:
        (n',) int16 with ``n' = ceil(n * sample_rate_hz / source_rate_hz)`` (n' = n without
        resampling).

    Raises:
        AudioFormatError: unsupported dtype or shape, or NaN/inf values.
        ConfigError: a rate is not a positive integer.
    """
    _check_rate("source_rate_hz", source_rate_hz)
    _check_rate("sample_rate_hz", sample_rate_hz)
    a = np.asarray(data)
    if a.ndim not in (1, 2) or (a.ndim == 2 and a.shape[1] == 0):
        raise AudioFormatError(f"audio must be (n,) or (n, channels), got shape {a.shape}",
                               hint="pass samples along the first axis")
    if a.dtype.kind == "f":
        y = a.astype(np.float64)
        if y.size and not np.isfinite(y).all():
            float_to_int16(y)  # raises with the count
    elif a.dtype == np.int16:
        if (a.ndim == 1 or a.shape[1] == 1) and source_rate_hz == sample_rate_hz:
            return np.ascontiguousarray(a.reshape(-1)).copy()
        y = a.astype(np.float64) / 32768.0
    elif a.dtype == np.int32:
        if (a.ndim == 1 or a.shape[1] == 1) and source_rate_hz == sample_rate_hz:
            return np.clip(np.rint(a.reshape(-1) / 65536.0), -32768, 32767).astype(np.int16)
        y = a.astype(np.float64) / 2.0**31
    else:
        raise AudioFormatError(f"audio dtype {a.dtype} is not supported",
                               hint="pass float audio in [-1, 1], int16 or int32 samples")
    if y.ndim == 2:
        y = y.mean(axis=1) if y.shape[1] > 1 else y[:, 0]
    if source_rate_hz != sample_rate_hz:
        y = _resample(y, int(source_rate_hz), int(sample_rate_hz))
    return float_to_int16(y)


def _open(path: Path):  # noqa: ANN202 - soundfile.SoundFile
    import soundfile as sf

    if not path.exists():
        raise AudioFormatError(f"{path}: no such file", hint="check the path")
    if path.is_dir():
        raise AudioFormatError(f"{path}: is a folder, not an audio file",
                               hint="pass audio files (WAV/FLAC/OGG/MP3)")
    if path.stat().st_size == 0:
        raise AudioFormatError(f"{path}: empty file (0 bytes)", hint="re-record or re-export it")
    try:
        return sf.SoundFile(str(path))
    except Exception as exc:  # libsndfile errors (sf.LibsndfileError, RuntimeError)
        reason = str(exc).split(":")[-1].strip() or type(exc).__name__
        raise AudioFormatError(f"{path}: not a readable audio file ({reason})",
                               hint="use WAV, FLAC, OGG or MP3 that libsndfile can decode; check "
                                    "the file is complete") from None


def _read_dtype(subtype: str) -> str:
    if subtype in _PCM16:
        return "int16"
    if subtype in _PCM_INT:
        return "int32"
    return "float64"


def _decode(path: Path, f, frames: int) -> np.ndarray:  # noqa: ANN001 - soundfile.SoundFile
    try:
        return f.read(frames, dtype=_read_dtype(f.subtype), always_2d=True)
    except Exception as exc:
        raise AudioFormatError(f"{path}: decoding failed ({exc})",
                               hint="the file is truncated or corrupt; re-export it") from None


def load_audio(path: str | Path, *, sample_rate_hz: int = 16000) -> np.ndarray:
    """Read a whole audio file as mono int16 at ``sample_rate_hz`` (rules in the module doc).

    Args:
        path: any file libsndfile reads (WAV, FLAC, OGG/Vorbis/Opus, MP3, AIFF, ...).
        sample_rate_hz: output sample rate in Hz.

    Returns:
        (n,) int16 samples.

    Raises:
        AudioFormatError: missing, empty, unreadable or truncated file, no samples, NaN/inf.
    """
    path = Path(path)
    _check_rate("sample_rate_hz", sample_rate_hz)
    with _open(path) as f:
        data = _decode(path, f, -1)
        rate = int(f.samplerate)
    if data.shape[0] == 0:
        raise AudioFormatError(f"{path}: contains no samples (0-length audio)",
                               hint="re-record or re-export the file")
    try:
        return to_int16_mono(data, rate, sample_rate_hz=sample_rate_hz)
    except AudioFormatError as exc:
        raise AudioFormatError(f"{path}: {exc.message}", hint=exc.hint) from None


def iter_audio_blocks(path: str | Path, *, block_samples: int,
                      sample_rate_hz: int = 16000) -> Iterator[np.ndarray]:
    """Read a long file block by block, converted like :func:`load_audio`.

    Without resampling the blocks concatenate to exactly :func:`load_audio`'s samples and memory
    stays at one block. With resampling the file is read in blocks and fed to a streaming soxr
    resampler (same HQ filter); its output can differ from the one-shot resampler by at most
    1 LSB on rare samples, and the total length is the same.

    Args:
        path: audio file.
        block_samples: output samples per block (the last block may be shorter).
        sample_rate_hz: output sample rate in Hz.

    Yields:
        (block_samples,) int16 blocks.

    Raises:
        AudioFormatError: as :func:`load_audio`.
        ConfigError: block_samples < 1.
    """
    if isinstance(block_samples, bool) or not isinstance(block_samples, (int, np.integer)) \
            or block_samples < 1:
        raise ConfigError(f"block_samples={block_samples!r}: must be a positive integer",
                          hint="e.g. 16000 for one second at 16 kHz")
    _check_rate("sample_rate_hz", sample_rate_hz)
    path = Path(path)
    with _open(path) as f:
        rate = int(f.samplerate)
        resampler = None
        if rate != sample_rate_hz:
            import soxr

            resampler = soxr.ResampleStream(rate, sample_rate_hz, 1, dtype="float64",
                                            quality="HQ")
        pending = np.zeros(0, dtype=np.int16)
        total = 0
        read_frames = max(256, block_samples * rate // sample_rate_hz)
        while True:
            data = _decode(path, f, read_frames)
            last = data.shape[0] < read_frames
            total += data.shape[0]
            if resampler is not None:
                y = data.astype(np.float64)
                if data.dtype == np.int16:
                    y /= 32768.0
                elif data.dtype == np.int32:
                    y /= 2.0**31
                if not np.isfinite(y).all():
                    raise AudioFormatError(f"{path}: audio contains NaN/inf sample(s)",
                                           hint="fix the source audio")
                y = y.mean(axis=1) if y.shape[1] > 1 else y[:, 0]
                out = float_to_int16(resampler.resample_chunk(y, last=last))
            else:
                try:
                    out = to_int16_mono(data, rate, sample_rate_hz=rate)
                except AudioFormatError as exc:
                    raise AudioFormatError(f"{path}: {exc.message}", hint=exc.hint) from None
            pending = np.concatenate([pending, out]) if pending.size else out
            while pending.shape[0] >= block_samples:
                yield pending[:block_samples].copy()
                pending = pending[block_samples:]
            if last:
                break
        if total == 0:
            raise AudioFormatError(f"{path}: contains no samples (0-length audio)",
                                   hint="re-record or re-export the file")
        if pending.shape[0]:
            yield pending


def write_wav(path: str | Path, samples: np.ndarray, *, sample_rate_hz: int) -> None:
    """Write mono int16 PCM WAV atomically (temp file in the same folder, then ``os.replace``).

    Args:
        path: destination .wav path.
        samples: (n,) int16 samples.
        sample_rate_hz: sample rate in Hz.

    Raises:
        AudioFormatError: samples are not a 1-D int16 array.
    """
    import soundfile as sf

    _check_rate("sample_rate_hz", sample_rate_hz)
    a = np.asarray(samples)
    if a.ndim != 1 or a.dtype != np.int16:
        raise AudioFormatError(f"write_wav needs (n,) int16 samples, got {a.dtype} {a.shape}",
                               hint="convert with to_int16_mono first")
    path = Path(path)
    with atomic_path(path) as tmp:
        sf.write(tmp, a, int(sample_rate_hz), format="WAV", subtype="PCM_16")
